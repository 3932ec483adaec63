import { fnmatch } from './fnmatch';

describe('fnmatch (one path component, as glob(3) matches ld.so.conf includes)', () => {
  it('matches stars, question marks, sets, ranges, negation and escapes', () => {
    expect(fnmatch('*.conf', 'libc.conf')).toBe(true);
    expect(fnmatch('*.conf', 'libc.conf.bak')).toBe(false);
    expect(fnmatch('lib?.conf', 'libc.conf')).toBe(true);
    expect(fnmatch('[a-c]*', 'b1')).toBe(true);
    expect(fnmatch('[a-c]*', 'd1')).toBe(false);
    expect(fnmatch('[!a-c]*', 'd1')).toBe(true);
    expect(fnmatch('[^a-c]*', 'a1')).toBe(false);
    expect(fnmatch('[]x]', ']')).toBe(true);
    expect(fnmatch('\\*', '*')).toBe(true);
    expect(fnmatch('\\*', 'a')).toBe(false);
    expect(fnmatch('a*b*c', 'aXbYbZc')).toBe(true);
    expect(fnmatch('a*b*c', 'aXbYbZ')).toBe(false);
  });

  it('treats a "[" without "]" as a character, the way glob(3) does (no error, no RegExp)', () => {
    expect(fnmatch('[\x1b[2J', '[\x1b[2J')).toBe(true);
    expect(fnmatch('[\x1b[2J', 'x')).toBe(false);
    expect(fnmatch('(a|b)+$.conf', '(a|b)+$.conf')).toBe(true);
  });

  it('needs a literal dot for a leading dot', () => {
    expect(fnmatch('*.conf', '.hidden.conf')).toBe(false);
    expect(fnmatch('.*.conf', '.hidden.conf')).toBe(true);
  });

  it('answers the pattern that made a regular expression backtrack for ever', () => {
    // 30 stars against an 80-character near-miss: exponential for a backtracking
    // RegExp (the run hung here), at most pattern × name steps for this matcher.
    const pattern = '*a'.repeat(29) + '*b';
    expect(fnmatch(pattern, 'a'.repeat(80))).toBe(false);
    expect(fnmatch(pattern, 'a'.repeat(80) + 'b')).toBe(true);
  });
});
