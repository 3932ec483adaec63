/**
 * Names a program can hand to dlsym or dlopen: name-like NUL-terminated strings whose
 * address reached code materialises or a live data word holds. Kept as 32-bit FNV-1a
 * hashes (a collision only adds a root). Taking the string at the referenced address
 * (not every string of the object) matters: libraries keep their own function names
 * as strings for assertion messages (`__func__`), and those are referenced only by
 * the function itself. A referenced address inside a longer string (the linker merges
 * string tails) is read from that address, as the program would.
 *
 * Names built at run time (`"_nss_" + service + "_getpwnam_r"`) are not seen: the
 * documented limit of the dlsym rule (tracing sees such modules mapped instead).
 */
const MIN_LEN = 2;
const MAX_LEN = 200;

/** Reads name-like strings of an object's data at given addresses. */
export class StringReader {
  /** The allocated PROGBITS data sections and their bytes (analysis/summary/data-image.ts). */
  constructor(private readonly sections: readonly { addr: number; end: number; bytes: Uint8Array }[]) {}

  /** The hash of the name-like string (a symbol, a library file name or path) starting at `addr`, if one does. */
  nameHashAt(addr: number): number | undefined {
    const s = this.sections.find((x) => addr >= x.addr && addr < x.end);
    if (!s) return undefined;
    const from = addr - s.addr;
    const b = s.bytes;
    if (from >= b.length || isDigit(b[from])) return undefined;
    let i = from;
    while (i < b.length && i - from <= MAX_LEN && isNameChar(b[i])) i++;
    if (i >= b.length || b[i] !== 0 || i - from < MIN_LEN) return undefined;
    return fnv1a(b, from, i);
  }
}

export function nameHash(name: string): number {
  return fnv1a(Buffer.from(name, 'latin1'), 0, name.length);
}

function fnv1a(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Identifier characters, and those of file names and paths (`libnuma.so.1`, `/usr/lib/x/libfoo.so`). */
function isNameChar(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2e || b === 0x2d || b === 0x2b || b === 0x2f;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}
