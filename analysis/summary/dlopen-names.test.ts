import * as fs from 'fs';
import { libraryNamesIn } from './dlopen-names';

/** The byte-by-byte search libraryNamesIn replaced: the native search must find exactly what it found. */
function reference(bytes: Uint8Array): string[] {
  const isNameByte = (b: number) => (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2e || b === 0x2d || b === 0x2b || b === 0x2f;
  const isBoundary = (b: number) => b < 0x20 || b > 0x7e || !isNameByte(b);
  const SO = /^(?:\/[A-Za-z0-9_.+\-/]*\/)?[A-Za-z][A-Za-z0-9_.+\-]*\.so(?:\.[0-9]+)*$/;
  const out = new Set<string>();
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] !== 0x2e || bytes[i + 1] !== 0x73 || bytes[i + 2] !== 0x6f) continue;
    let end = i + 3;
    while (end < bytes.length && (bytes[end] === 0x2e || (bytes[end] >= 0x30 && bytes[end] <= 0x39))) end++;
    if (end >= bytes.length || bytes[end] !== 0) continue;
    let start = i;
    while (start > 0 && i - start < 200 && isNameByte(bytes[start - 1])) start--;
    if (start > 0 && bytes[start - 1] !== 0 && !isBoundary(bytes[start - 1])) continue;
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
    if (SO.test(s)) out.add(s);
  }
  return [...out].sort();
}

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

test('names as the byte-by-byte search found them: edge cases', () => {
  const cases = [
    '\0libnuma.so.1\0', 'libgcc_s.so.1\0', '\0/usr/lib/x86_64-linux-gnu/libfoo.so\0', '.so\0', 'x.so', 'x.so.1', '\0a.so.so\0',
    '\0.so.1\0libz.so\0', '\x01libm.so.6\0', '\0lib.so.so.2\0b.so\0', '\0libx.so.1.2.3\0', 'abc\0' + 'l'.repeat(300) + '.so\0', '\0\0\0',
  ];
  for (const c of cases) expect(libraryNamesIn(enc(c))).toEqual(reference(enc(c)));
  expect(libraryNamesIn(enc('\0libnuma.so.1\0/usr/lib/x86_64-linux-gnu/libfoo.so\0'))).toEqual(['/usr/lib/x86_64-linux-gnu/libfoo.so', 'libnuma.so.1']);
  // A view into a larger buffer reads only its own bytes.
  const big = enc('\0libhidden.so\0\0libshown.so.2\0');
  expect(libraryNamesIn(big.subarray(14))).toEqual(['libshown.so.2']);
});

test('names as the byte-by-byte search found them: the host libc and loader', () => {
  for (const f of ['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']) {
    const bytes = fs.readFileSync(f);
    const got = libraryNamesIn(bytes);
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(reference(bytes));
    expect(libraryNamesIn(new Uint8Array(bytes))).toEqual(got);
  }
});

test('the tail of a printf format is no library name', () => {
  expect(libraryNamesIn(Buffer.from('\0%s.so\0lib%s.so.1\0libok.so\0', 'latin1'))).toEqual(['libok.so']);
});
