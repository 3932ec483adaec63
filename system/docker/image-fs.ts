import { PassThrough, Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { ConfineError } from '../../pipeline/errors';
import { ImageIndex, elfHeadOf, normalizeImagePath, type IndexEntry } from '../image/image-index';
import type { ImageReader } from '../image/image-reader';
import { owned } from './leftovers';
import { bytePreservingPax, tarName } from './tar-names';
import { hasEscapedBytes } from '../image/path-bytes';

/**
 * Read access to an image's root filesystem without running anything in it: a helper
 * container is created (never started), its export is streamed once to index every
 * entry (no contents kept, only the first bytes of each file to know ELF and '#!'),
 * and chosen files are then read through the engine's archive API.
 *
 * Nothing read from a tar is ever used as a host path: names are keys of the index,
 * contents go to the caller's stream. Measured on confine-sample/nginx (5158
 * entries, 131 MB): index pass 1.4–1.7 s, one getArchive 60–90 ms per file, a second
 * export pass picking any number of files ~1.0 s. So up to 12 files are read one by
 * one, more in one export pass (tools/bench/bench-image-fs.ts repeats the measurement).
 */
export interface ImageFs extends ImageReader {
  readonly imageId: string;
  /** What the index pass found; any image with the same layer chain may read through it (imageFsOver). */
  readonly root: IndexedRoot;
  /** Time the index pass took, for the stage's progress line and the benchmarks; 0 when the index came from elsewhere. */
  readonly indexMillis: number;
  /** Removes the helper container, if one was made; safe to call twice. */
  close(): Promise<void>;
}

/** An image root's index and the few small files kept from its index pass: no other file contents. */
export interface IndexedRoot {
  readonly index: ImageIndex;
  readonly kept: ReadonlyMap<string, Buffer>;
}

export interface HelperOptions {
  labels?: Record<string, string>;
  /** Above this many files eachFile makes one more export pass instead of one archive request per file. */
  exportPassThreshold?: number;
}

export interface OpenImageFsOptions extends IndexPassOptions, HelperOptions {}

/** A container needs a command to be created; this one names nothing, and it is never started anyway. */
const NEVER_RUN = '/.confine-extract-helper-never-started';

async function createHelper(docker: Dockerode, imageId: string, labels: Record<string, string> | undefined): Promise<Dockerode.Container> {
  try {
    return await docker.createContainer(owned({
      Image: imageId,
      Entrypoint: [NEVER_RUN],
      Cmd: [],
      NetworkDisabled: true,
      // The labels of system/docker/leftovers.ts's ownLabels, so a run killed mid-extract has its helper removed next time.
      Labels: { confine: '1', 'confine.owner-pid': String(process.pid), 'confine.helper': 'extract', ...labels },
      HostConfig: { NetworkMode: 'none', AutoRemove: false },
    }));
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 404) throw new ConfineError('image-not-found', `image ${imageId} is not in the local engine`);
    throw new ConfineError('extract-failed', `creating a helper container for ${imageId}: ${(e as Error).message}`);
  }
}

/** Creates a helper container and indexes the image through one export pass; reads then go through that container. */
export async function openImageFs(docker: Dockerode, imageId: string, opts: OpenImageFsOptions = {}): Promise<ImageFs> {
  const container = await createHelper(docker, imageId, opts.labels);
  const kept = new Map<string, Buffer>();
  try {
    const t0 = performance.now();
    const index = await indexTarStream((await container.export()) as unknown as Readable, opts, kept);
    return new DockerImageFs(docker, imageId, { index, kept }, opts, performance.now() - t0, container);
  } catch (e) {
    await removeHelper(container).catch(() => undefined);
    if (e instanceof ConfineError) throw e;
    throw new ConfineError('extract-failed', `exporting ${imageId}: ${(e as Error).message}`);
  }
}

/**
 * Reads an image through an index made from another image with the same layer chain
 * (system/docker/image-layers.ts): no export pass; a helper container is only created once
 * a file has to be read that the index pass did not keep.
 */
export function imageFsOver(docker: Dockerode, imageId: string, root: IndexedRoot, opts: HelperOptions = {}): ImageFs {
  return new DockerImageFs(docker, imageId, root, opts, 0);
}

async function removeHelper(container: Dockerode.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return;
    throw new ConfineError('extract-failed', `removing helper container ${container.id}: ${(e as Error).message}`);
  }
}

class DockerImageFs implements ImageFs {
  private closed = false;
  private helper?: Promise<Dockerode.Container>;
  private readonly exportPassThreshold: number;

  constructor(
    private readonly docker: Dockerode,
    readonly imageId: string,
    readonly root: IndexedRoot,
    private readonly opts: HelperOptions,
    readonly indexMillis: number,
    container?: Dockerode.Container,
  ) {
    this.exportPassThreshold = opts.exportPassThreshold ?? 12;
    if (container) this.helper = Promise.resolve(container);
  }

  private get index(): ImageIndex {
    return this.root.index;
  }

  private container(): Promise<Dockerode.Container> {
    if (this.closed) return Promise.reject(new ConfineError('internal', `reading from ${this.imageId} after its helper was closed`));
    if (!this.helper) {
      const p = createHelper(this.docker, this.imageId, this.opts.labels);
      this.helper = p;
      p.catch(() => {
        if (this.helper === p) this.helper = undefined;
      });
    }
    return this.helper;
  }

  entries() {
    return this.index.entries();
  }
  stat(path: string) {
    return this.index.stat(path);
  }
  resolve(path: string) {
    return this.index.resolve(path);
  }

  private checkReadable(path: string, maxBytes: number): { resolved: string; entry: IndexEntry } {
    const resolved = this.index.resolve(path);
    const entry = resolved !== undefined ? this.index.stat(resolved) : undefined;
    if (resolved === undefined || !entry) throw new ConfineError('extract-failed', `${path}: no such file in the image`, { file: path });
    if (entry.type !== 'file') throw new ConfineError('extract-failed', `${path}: not a regular file in the image (${entry.type})`, { file: path });
    if (entry.size > maxBytes) throw tooLarge(path, entry.size, maxBytes);
    return { resolved, entry };
  }

  async readFile(path: string, maxBytes: number): Promise<Buffer> {
    let out: Buffer | undefined;
    const { resolved } = this.checkReadable(path, maxBytes);
    const k = this.root.kept.get(resolved);
    if (k) return Buffer.from(k);
    await this.eachFile([resolved], maxBytes, async (_p, s) => {
      out = await collect(s, maxBytes, path);
    });
    if (!out) throw new ConfineError('extract-failed', `${path}: the engine returned no content`, { file: path });
    return out;
  }

  async eachFile(paths: string[], maxBytes: number, fn: (path: string, content: Readable, size: number) => Promise<void>): Promise<void> {
    const wanted = new Map<string, string>(); // resolved → as asked
    for (const p of paths) wanted.set(this.checkReadable(p, maxBytes).resolved, p);
    // What the index pass kept costs no engine request (the loader's config files, mostly).
    for (const [resolved, asked] of wanted) {
      const k = this.root.kept.get(resolved);
      if (!k) continue;
      wanted.delete(resolved);
      await deliver(fn, asked, Readable.from([Buffer.from(k)]), k.length);
    }
    if (wanted.size === 0) return;
    // A name that is not UTF-8 cannot be put in the archive API's URL: those come from an export pass.
    if (wanted.size <= this.exportPassThreshold && ![...wanted.keys()].some(hasEscapedBytes)) {
      for (const [resolved, asked] of wanted) await this.archiveOne(resolved, asked, maxBytes, fn);
      return;
    }
    const seen = new Set<string>();
    await walkTar((await (await this.container()).export()) as unknown as Readable, async (header, stream) => {
      const name = normalizeImagePath(header.name);
      const asked = wanted.get(name);
      if (header.type !== 'file' || asked === undefined || seen.has(name)) return false;
      seen.add(name);
      await deliver(fn, asked, limited(stream, maxBytes, asked), header.size ?? 0);
      return true;
    });
    const lost = [...wanted.keys()].filter((p) => !seen.has(p));
    if (lost.length) throw new ConfineError('extract-failed', `export of ${this.imageId} lacked ${lost.join(', ')}`);
  }

  private async archiveOne(resolved: string, asked: string, maxBytes: number, fn: (path: string, content: Readable, size: number) => Promise<void>) {
    let delivered = false;
    let stream: Readable;
    try {
      stream = (await (await this.container()).getArchive({ path: resolved })) as unknown as Readable;
    } catch (e) {
      throw new ConfineError('extract-failed', `${asked}: reading from the image: ${(e as Error).message}`, { file: asked });
    }
    await walkTar(stream, async (header, s) => {
      // A regular file's archive holds exactly that file, under its base name.
      if (delivered || header.type !== 'file') return false;
      const size = header.size ?? 0;
      if (size > maxBytes) throw tooLarge(asked, size, maxBytes);
      delivered = true;
      await deliver(fn, asked, limited(s, maxBytes, asked), size);
      return true;
    });
    if (!delivered) throw new ConfineError('extract-failed', `${asked}: the engine's archive held no regular file`, { file: asked });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const helper = this.helper;
    if (!helper) return;
    let container: Dockerode.Container;
    try {
      container = await helper;
    } catch {
      return; // never created: nothing to remove
    }
    try {
      await removeHelper(container);
    } catch (e) {
      this.closed = false;
      throw e;
    }
  }
}

/** A callback that leaves part of its stream unread must not stall the tar walk. */
async function deliver(fn: (path: string, content: Readable, size: number) => Promise<void>, path: string, s: Readable, size: number) {
  await fn(path, s, size);
  if (!s.readableEnded && !s.destroyed) s.resume();
}

function tooLarge(path: string, size: number, max: number): ConfineError {
  return new ConfineError('extract-failed', `${path} is ${size} bytes, over the ${max}-byte limit for one file taken out of an image`, { file: path });
}

/**
 * Walks a tar stream entry by entry with back-pressure; `onEntry` returns true when it
 * consumed the entry's stream itself, otherwise the entry is drained here. Memory
 * stays bounded by tar-stream's buffers whatever sizes the headers claim.
 */
export async function walkTar(
  input: Readable,
  onEntry: (header: tar.Header, stream: Readable) => Promise<boolean>,
): Promise<void> {
  bytePreservingPax();
  const ex = tar.extract({ filenameEncoding: 'latin1' } as Parameters<typeof tar.extract>[0]);
  input.on('error', (e) => ex.destroy(e));
  input.pipe(ex as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of ex) {
      // Names as bytes (system/docker/tar-names.ts): a name that is not UTF-8 stays itself.
      const header = { ...entry.header, name: tarName(entry.header.name), linkname: entry.header.linkname == null ? entry.header.linkname : tarName(entry.header.linkname) };
      const consumed = await onEntry(header, entry as unknown as Readable);
      if (!consumed) entry.resume();
      // for-await on extract moves to the next entry only once this one has ended.
    }
  } finally {
    input.unpipe(ex as unknown as NodeJS.WritableStream);
    input.destroy();
  }
}

export interface IndexPassOptions {
  /**
   * Called during the index pass with the whole content of each ELF regular file up
   * to elfMaxBytes (one file in memory at a time), so the dependency closure needs no
   * further reads from the engine: one getArchive costs ~60 ms, a whole export ~1 s.
   */
  onElfFile?: (path: string, content: Buffer) => void;
  elfMaxBytes?: number;
  /** Small files (≤ 64 KiB) to keep from the index pass, so reading them later costs no engine round trip. */
  keepSmallFile?: (path: string) => boolean;
}

const SMALL_FILE_MAX = 64 * 1024;

/** elfHeadOf reads e_ident, e_type and e_machine: the first 20 bytes. */
const ELF_HEAD_BYTES = 20;

const SHEBANG_MAX = 256; // Linux reads at most BINPRM_BUF_SIZE (256) bytes of a '#!' line

/** The first pass: every entry's type, size, mode, link target, and for files what their first bytes say. */
export async function indexTarStream(input: Readable, opts: IndexPassOptions = {}, kept?: Map<string, Buffer>): Promise<ImageIndex> {
  const index = new ImageIndex();
  const elfMax = opts.elfMaxBytes ?? 256 * 1024 * 1024;
  await walkTar(input, async (h, stream) => {
    const entry: IndexEntry = { type: entryType(h.type), size: h.size ?? 0, mode: h.mode ?? 0 };
    if (entry.type === 'symlink') entry.linkTarget = h.linkname ?? '';
    if (entry.type === 'hardlink') entry.linkTarget = normalizeImagePath(h.linkname ?? '');
    if (entry.type !== 'file') entry.size = 0; // a size on a link or device header is meaningless
    const path = index.add(h.name, entry);
    if (entry.type !== 'file') return false;
    const head = Buffer.alloc(SHEBANG_MAX);
    let got = 0;
    // Every chunk is kept from the first byte while the file may be an ELF file: the ELF
    // head needs 20 bytes, and the chunks before a short head is complete belong to it too.
    let whole: Buffer[] | undefined = opts.onElfFile && entry.size <= elfMax ? [] : undefined;
    let wholeLen = 0;
    let headJudged = false;
    const keep = kept && opts.keepSmallFile && entry.size <= SMALL_FILE_MAX && opts.keepSmallFile(path) ? ([] as Buffer[]) : undefined;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (got < head.length) got += chunk.copy(head, got, 0, Math.min(chunk.length, head.length - got));
      if (keep) keep.push(chunk);
      if (whole) {
        wholeLen += chunk.length;
        if (wholeLen > elfMax) whole = undefined; // the header lied about the size; let readFile refuse it later
        else whole.push(chunk);
      }
      if (!headJudged && got >= ELF_HEAD_BYTES) {
        headJudged = true;
        if (!elfHeadOf(head.subarray(0, got))) whole = undefined; // not ELF: drop the few bytes held
      }
    }
    if (keep && kept) {
      const b = Buffer.concat(keep);
      if (b.length <= SMALL_FILE_MAX) kept.set(path, b);
    }
    const hd = head.subarray(0, got);
    const elf = elfHeadOf(hd);
    if (elf) {
      entry.elf = elf;
      if (whole && opts.onElfFile) opts.onElfFile(path, Buffer.concat(whole, wholeLen));
    } else if (got >= 2 && hd[0] === 0x23 && hd[1] === 0x21) {
      entry.script = true;
      const nl = hd.indexOf(0x0a);
      entry.shebang = hd.subarray(2, nl < 0 ? got : nl).toString('latin1');
    }
    return true;
  });
  return index;
}

function entryType(t: tar.Header['type']): IndexEntry['type'] {
  switch (t) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'dir';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    default:
      return 'other'; // devices, fifos: indexed so lookups through them fail, never read
  }
}

/** Passes bytes through but fails once more than max arrive, whatever the header said. */
function limited(s: Readable, max: number, path: string): Readable {
  let n = 0;
  const out = new PassThrough();
  s.on('data', (c: Buffer) => {
    n += c.length;
    if (n > max) {
      out.destroy(tooLarge(path, n, max));
      s.resume();
      return;
    }
    if (!out.write(c)) {
      s.pause();
      out.once('drain', () => s.resume());
    }
  });
  s.on('end', () => out.end());
  s.on('error', (e) => out.destroy(e));
  return out;
}

async function collect(s: Readable, max: number, path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of s as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw tooLarge(path, n, max);
    parts.push(c);
  }
  return Buffer.concat(parts, n);
}
