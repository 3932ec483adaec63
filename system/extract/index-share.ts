import type { DynamicInfo } from '../../analysis/elf/dynamic-info';
import type { ConfineError } from '../../pipeline/errors';
import type { ImageIndex } from '../image/image-index';

/**
 * The result of one index pass over an image root: every entry, the dynamic info of
 * every ELF object, the loader's small config files. No other file contents, so a
 * 400 MB image costs a few MB here.
 */
export interface IndexedImage {
  readonly index: ImageIndex;
  readonly kept: ReadonlyMap<string, Buffer>;
  /** By resolved path; errors kept as values. Callers copy it before adding to it. */
  readonly infos: ReadonlyMap<string, DynamicInfo | ConfineError>;
  /** Library names each ELF object holds as strings (what it may dlopen), by resolved path. */
  readonly libraryNames?: ReadonlyMap<string, string[]>;
  /** Absolute paths each ELF object holds as strings (programs it may exec), by resolved path. */
  readonly execPaths?: ReadonlyMap<string, string[]>;
  readonly indexMillis: number;
}

/**
 * Index passes by layer chain within one run: images with the same layers (re-tags,
 * LABEL or CMD copies) share one pass, including one still in progress. Finished
 * indexes are kept up to a total number of entries, least recently used dropped
 * first, so memory does not grow with the number of images in a batch.
 */
export class IndexShare {
  private readonly pending = new Map<string, Promise<IndexedImage>>();
  private readonly done = new Map<string, IndexedImage>(); // insertion order = recency
  private entries = 0;
  /** Index passes actually made, for tests and the benchmarks. */
  passes = 0;

  /**
   * Measured ~290 bytes per entry with its ELF dynamic info (8 sample images, 43k
   * entries: 12 MB of heap), so the default budget is ~70 MB.
   */
  constructor(private readonly maxEntries = 250_000) {}

  async get(key: string, compute: () => Promise<IndexedImage>): Promise<{ value: IndexedImage; shared: boolean }> {
    const hit = this.done.get(key);
    if (hit) {
      this.done.delete(key);
      this.done.set(key, hit);
      return { value: hit, shared: true };
    }
    const inflight = this.pending.get(key);
    if (inflight) {
      try {
        return { value: await inflight, shared: true };
      } catch {
        // That image's pass failed (its helper removed, the image deleted): this one's
        // own image may well be readable, so it tries itself rather than share the failure.
        if (this.pending.get(key) === inflight) this.pending.delete(key);
        return this.get(key, compute);
      }
    }
    this.passes++;
    const p = compute();
    this.pending.set(key, p);
    try {
      const value = await p;
      this.remember(key, value);
      return { value, shared: false };
    } finally {
      // A failed pass is not remembered: the next image with these layers tries again.
      if (this.pending.get(key) === p) this.pending.delete(key);
    }
  }

  private remember(key: string, value: IndexedImage): void {
    const size = value.index.size;
    if (size > this.maxEntries) return;
    this.done.set(key, value);
    this.entries += size;
    for (const [k, v] of this.done) {
      if (this.entries <= this.maxEntries) break;
      this.done.delete(k);
      this.entries -= v.index.size;
    }
  }
}
