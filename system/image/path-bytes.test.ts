import { decodePathBytes, encodePathBytes, fromLatin1, hasEscapedBytes } from './path-bytes';

describe('lossless path bytes', () => {
  it('keeps names that differ only in invalid UTF-8 apart, and gives the bytes back', () => {
    const a = Buffer.from('/bin/prog\xff', 'latin1');
    const b = Buffer.from('/bin/prog\xef\xbf\xbd', 'latin1');
    expect(a.toString('utf8')).toBe(b.toString('utf8')); // what went wrong
    const da = decodePathBytes(a);
    const db = decodePathBytes(b);
    expect(da).not.toBe(db);
    expect(db).toBe('/bin/prog\ufffd');
    expect(encodePathBytes(da)).toEqual(a);
    expect(encodePathBytes(db)).toEqual(b);
    expect(hasEscapedBytes(da)).toBe(true);
    expect(hasEscapedBytes(db)).toBe(false);
    expect(fromLatin1(a.toString('latin1'))).toBe(da);
  });

  it('round-trips every byte and rejects overlongs and encoded surrogates as text', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(encodePathBytes(decodePathBytes(all))).toEqual(all);
    for (const hex of ['c0af', 'e080af', 'eda080', 'f4908080', 'e282']) {
      const bytes = Buffer.from(hex, 'hex');
      const s = decodePathBytes(bytes);
      expect(hasEscapedBytes(s)).toBe(true);
      expect(encodePathBytes(s)).toEqual(bytes);
    }
    expect(decodePathBytes(Buffer.from('é😀', 'utf8'))).toBe('é😀');
    expect(JSON.parse(JSON.stringify(decodePathBytes(all)))).toBe(decodePathBytes(all));
  });
});
