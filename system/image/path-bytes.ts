/**
 * File names are bytes; JavaScript strings are UTF-16. Decoding a name as UTF-8 with
 * replacement makes `/bin/prog\xff` and `/bin/prog\xef\xbf\xbd` the same string, so
 * the file analysed could be another than the one that ran. Names are therefore
 * decoded losslessly everywhere they enter (trace, /proc, tar headers): valid UTF-8
 * as itself, every byte of an invalid sequence as the lone surrogate U+DC80..U+DCFF
 * (Python's surrogateescape). Valid UTF-8 never decodes to a lone surrogate, so the
 * mapping is one-to-one and encodePathBytes gives the exact bytes back. JSON keeps
 * lone surrogates as `\udcff` escapes, so artifacts hold them without loss.
 */
const strict = new TextDecoder('utf-8', { fatal: true });

export function decodePathBytes(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    return decodeSlow(bytes);
  }
}

function decodeSlow(b: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    let ok = n > 0 && i + n <= b.length;
    for (let k = 1; ok && k < n; k++) ok = (b[i + k] & 0xc0) === 0x80;
    if (ok && n === 3) {
      // No overlongs (E0 80..9F) and no surrogates (ED A0..BF).
      if ((c === 0xe0 && b[i + 1] < 0xa0) || (c === 0xed && b[i + 1] >= 0xa0)) ok = false;
    }
    if (ok && n === 4) {
      if ((c === 0xf0 && b[i + 1] < 0x90) || (c === 0xf4 && b[i + 1] >= 0x90)) ok = false;
    }
    if (!ok) {
      out += String.fromCharCode(0xdc00 + c);
      i++;
      continue;
    }
    out += strict.decode(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** The bytes a decoded name stands for. */
export function encodePathBytes(s: string): Buffer {
  if (!hasEscapedBytes(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < s.length; i++) {
    const cp = s.charCodeAt(i);
    if (cp >= 0xdc80 && cp <= 0xdcff && !(i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff)) {
      parts.push(Buffer.from(run, 'utf8'), Buffer.from([cp - 0xdc00]));
      run = '';
    } else run += s[i];
  }
  parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** Whether a name holds a byte that is not UTF-8 (so it cannot be sent where text is expected, e.g. a URL). */
export function hasEscapedBytes(s: string): boolean {
  return /(?<![\ud800-\udbff])[\udc80-\udcff]/.test(s);
}

/** A tar header or /proc text decoded byte-for-byte (latin1) → the lossless form. */
export function fromLatin1(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(s) ? decodePathBytes(Buffer.from(s, 'latin1')) : s;
}
