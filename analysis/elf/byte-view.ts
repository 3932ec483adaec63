import { ConfineError } from '../../pipeline/errors';

/** The one way this folder reports a bad file: an elf-malformed error naming the file. */
export function malformed(file: string | undefined, message: string): ConfineError {
  return new ConfineError('elf-malformed', message, file ? { file } : {});
}

/**
 * A bounds-checked view over an ELF image. Every read checks the offset against the
 * buffer first, so a lying header turns into an elf-malformed error rather than a
 * RangeError, a garbage value or an out-of-memory.
 */
export class ByteView {
  private readonly dv: DataView;
  readonly size: number;

  constructor(
    readonly buf: Uint8Array,
    readonly le: boolean,
    readonly is64: boolean,
    readonly file?: string,
  ) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.size = buf.byteLength;
  }

  fail(message: string): never {
    throw malformed(this.file, message);
  }

  /** Throws unless [off, off+len) lies inside the buffer. */
  check(off: number, len: number, what: string): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > this.size) {
      this.fail(`${what} at offset ${off} (+${len}) lies outside the file (${this.size} bytes)`);
    }
  }

  u8(off: number): number {
    this.check(off, 1, 'byte');
    return this.dv.getUint8(off);
  }
  u16(off: number): number {
    this.check(off, 2, 'u16');
    return this.dv.getUint16(off, this.le);
  }
  u32(off: number): number {
    this.check(off, 4, 'u32');
    return this.dv.getUint32(off, this.le);
  }
  i32(off: number): number {
    this.check(off, 4, 'i32');
    return this.dv.getInt32(off, this.le);
  }
  /**
   * 64-bit values as JS numbers. User-space addresses and file offsets fit in 53
   * bits; anything larger is imprecise but then also fails every bounds check.
   */
  u64(off: number): number {
    this.check(off, 8, 'u64');
    const lo = this.dv.getUint32(off + (this.le ? 0 : 4), this.le);
    const hi = this.dv.getUint32(off + (this.le ? 4 : 0), this.le);
    return hi * 0x1_0000_0000 + lo;
  }
  i64(off: number): number {
    this.check(off, 8, 'i64');
    return Number(this.dv.getBigInt64(off, this.le));
  }
  /** A word of the file's class: 4 bytes for ELFCLASS32, 8 for ELFCLASS64. */
  word(off: number): number {
    return this.is64 ? this.u64(off) : this.u32(off);
  }
  sword(off: number): number {
    return this.is64 ? this.i64(off) : this.i32(off);
  }

  /** A NUL-terminated string starting at off, not reading past `end`. */
  cstr(off: number, end = this.size, what = 'string'): string {
    if (end > this.size) end = this.size;
    if (!Number.isSafeInteger(off) || off < 0 || off >= end) this.fail(`${what} offset ${off} lies outside its table`);
    const nul = this.buf.indexOf(0, off);
    if (nul < 0 || nul >= end) this.fail(`${what} at ${off} is not NUL-terminated within its table`);
    return latin1OrUtf8(this.buf.subarray(off, nul));
  }

  bytes(off: number, len: number, what = 'bytes'): Uint8Array {
    this.check(off, len, what);
    return this.buf.subarray(off, off + len);
  }
}

const decoder = new TextDecoder('utf-8', { fatal: false });
/**
 * Symbol names and paths: ASCII in practice, where UTF-8 and Latin-1 agree. TextDecoder
 * is native and ~10x faster than String.fromCharCode over the bytes, which showed up
 * in profiles of Go binaries (hundreds of thousands of long names).
 */
function latin1OrUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}
