import { Readable } from 'node:stream';
import { ConfineError } from '../../pipeline/errors';
import { ImageIndex, elfHeadOf, type EntryType } from './image-index';
import type { ImageReader } from './image-reader';

/**
 * An image held in memory, for tests of the closure and the store without an engine;
 * it classifies file contents the way system/docker/image-fs.ts's index pass does.
 */
export class MemoryImage implements ImageReader {
  readonly index = new ImageIndex();
  private readonly contents = new Map<string, Buffer>();

  file(path: string, content: Buffer | string, mode = 0o755): this {
    const buf = typeof content === 'string' ? Buffer.from(content) : content;
    const p = this.index.add(path, { type: 'file', size: buf.length, mode });
    const e = this.index.stat(p)!;
    const elf = elfHeadOf(buf.subarray(0, 20));
    if (elf) e.elf = elf;
    else if (buf[0] === 0x23 && buf[1] === 0x21) {
      e.script = true;
      const head = buf.subarray(0, 256);
      const nl = head.indexOf(0x0a);
      e.shebang = head.subarray(2, nl < 0 ? head.length : nl).toString('latin1');
    }
    this.contents.set(p, buf);
    return this;
  }

  symlink(path: string, target: string): this {
    this.index.add(path, { type: 'symlink', size: 0, mode: 0o777, linkTarget: target });
    return this;
  }

  hardlink(path: string, target: string): this {
    this.index.add(path, { type: 'hardlink', size: 0, mode: 0o644, linkTarget: target });
    return this;
  }

  entry(path: string, type: EntryType): this {
    this.index.add(path, { type, size: 0, mode: 0o644 });
    return this;
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

  async readFile(path: string, maxBytes: number): Promise<Buffer> {
    const r = this.index.resolve(path);
    const c = r !== undefined ? this.contents.get(r) : undefined;
    if (!c) throw new ConfineError('extract-failed', `${path}: no such file in the image`);
    if (c.length > maxBytes) throw new ConfineError('extract-failed', `${path} is ${c.length} bytes, over the ${maxBytes}-byte limit`);
    return c;
  }

  async eachFile(paths: string[], maxBytes: number, fn: (path: string, content: Readable, size: number) => Promise<void>): Promise<void> {
    for (const p of new Set(paths)) {
      const c = await this.readFile(p, maxBytes);
      await fn(p, Readable.from([c]), c.length);
    }
  }
}

/**
 * Just enough ELF header (64 bytes) for the index's class/machine/type check, for tests;
 * `tag` goes in the last byte so equal headers can still be different files.
 */
export function elfHeader(opts: { cls?: 32 | 64; machine?: number; type?: number; tag?: number } = {}): Buffer {
  const h = Buffer.alloc(64);
  h.write('\x7fELF', 0, 'latin1');
  h[4] = (opts.cls ?? 64) === 64 ? 2 : 1;
  h[5] = 1;
  h.writeUInt16LE(opts.type ?? 2, 16);
  h.writeUInt16LE(opts.machine ?? 62, 18);
  h[63] = opts.tag ?? 0;
  return h;
}
