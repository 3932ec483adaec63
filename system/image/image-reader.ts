import type { Readable } from 'node:stream';
import type { IndexEntry } from './image-index';

/**
 * Read access to an image's root as the closure and the store need it. The Docker
 * implementation is system/docker/image-fs.ts; tests use an in-memory one. Paths are image
 * paths ('/usr/lib/...'); nothing here ever names a place on the host.
 */
export interface ImageReader {
  entries(): Iterable<[string, IndexEntry]>;
  /** lstat: no link followed. */
  stat(path: string): IndexEntry | undefined;
  /** Symlinks followed inside the image root only; undefined when dangling, looping or absent. */
  resolve(path: string): string | undefined;
  /** Whole content of the regular file the path resolves to; refuses files larger than maxBytes. */
  readFile(path: string, maxBytes: number): Promise<Buffer>;
  /**
   * Streams each wanted regular file (resolved paths) to fn, in whatever order is
   * cheapest; fn must consume the stream before it resolves. Files over maxBytes are
   * refused before any byte is read.
   */
  eachFile(paths: string[], maxBytes: number, fn: (path: string, content: Readable, size: number) => Promise<void>): Promise<void>;
}

/** A file larger than this is not taken out of an image (ELF objects are far smaller). */
export const DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024;
