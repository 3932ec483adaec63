/**
 * Library names an object may pass to dlopen: NUL-terminated strings in its bytes that
 * look like a shared object's file name or path (`libnuma.so.1`, `libgcc_s.so.1`,
 * `/usr/lib/x86_64-linux-gnu/libfoo.so`). Found over the whole file (a name may sit in
 * any data section); whether reached code really passes one to dlopen is decided by the
 * walk (analysis/link/link.ts, ProgramObject.openedBy), so a stray match only costs a scan.
 */
const MAX_LEN = 200;
const SO_NAME = /^(?:\/[A-Za-z0-9_.+\-/]*\/)?[A-Za-z][A-Za-z0-9_.+\-]*\.so(?:\.[0-9]+)*$/;

const DOT_SO = Buffer.from('.so', 'latin1');

/** The same memory as a Buffer, for its native search (no copy). */
export const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

export function libraryNamesIn(bytes: Uint8Array): string[] {
  const out = new Set<string>();
  // Find ".so" followed by digits/dots and a NUL, then walk back to the string's start:
  // far fewer candidates than testing every string of a large object. The search for
  // ".so" is Buffer's native one: a byte loop in JS over every object of a program was
  // a third of a warm `confine analyze`.
  const buf = asBuffer(bytes);
  for (let i = buf.indexOf(DOT_SO); i >= 0 && i + 3 < bytes.length; i = buf.indexOf(DOT_SO, i + 1)) {
    let end = i + 3;
    while (end < bytes.length && (bytes[end] === 0x2e || (bytes[end] >= 0x30 && bytes[end] <= 0x39))) end++;
    if (end >= bytes.length || bytes[end] !== 0) continue;
    let start = i;
    while (start > 0 && i - start < MAX_LEN && isNameByte(bytes[start - 1])) start--;
    if (start > 0 && bytes[start - 1] !== 0 && !isBoundary(bytes[start - 1])) continue;
    // The tail of a printf format ("%s.so", "lib%s.so"): the name is built at run time
    // (the documented limit), and "s.so" would only send the search through every library tree.
    if (start > 0 && bytes[start - 1] === 0x25) continue;
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
    if (SO_NAME.test(s)) out.add(s);
  }
  return [...out].sort();
}

/** A byte of a file path or library name as programs spell them: [A-Za-z0-9_.+/-]. */
export function isNameByte(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2e || b === 0x2d || b === 0x2b || b === 0x2f;
}

/** A string referenced from its middle (a tail-merged name) is preceded by any byte; accept printable non-name bytes too. */
function isBoundary(b: number): boolean {
  return b < 0x20 || b > 0x7e || !isNameByte(b);
}
