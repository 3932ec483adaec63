import { Writable } from 'node:stream';

/**
 * Keeps only the last `limit` bytes written to it, whatever the total: a container
 * that prints gigabytes costs us `limit` bytes plus one chunk.
 */
export class TailBuffer extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  total = 0;

  constructor(private readonly limit = 4096) {
    super();
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.add(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    done();
  }

  add(chunk: Buffer): void {
    this.total += chunk.length;
    if (chunk.length >= this.limit) {
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - this.limit))];
      this.size = this.limit;
      return;
    }
    this.chunks.push(Buffer.from(chunk));
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    const tail = all.subarray(Math.max(0, all.length - this.limit));
    // Cutting may split a UTF-8 sequence; drop a leading continuation byte run so the text starts cleanly.
    let i = 0;
    while (i < tail.length && i < 3 && (tail[i] & 0xc0) === 0x80) i++;
    return tail.subarray(i).toString('utf8');
  }
}
