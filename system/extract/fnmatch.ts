/**
 * fnmatch(3) for one path component, as glob(3) uses it for ld.so.conf `include`
 * lines: `*`, `?`, bracket expressions (`[a-z]`, `[!x]`, `[^x]`, `[]x]`) and `\`
 * escapes; a `[` without its `]` is an ordinary character. Patterns come from image
 * files, so this never builds a RegExp and never backtracks more than once per star:
 * the classic two-pointer match, O(pattern × name) steps in the worst case.
 */
type Token = { kind: 'star' } | { kind: 'any' } | { kind: 'lit'; ch: string } | { kind: 'set'; negate: boolean; ranges: [string, string][] };

/** The pattern as tokens; consecutive stars collapse (they match what one does). */
export function compileComponent(pattern: string): Token[] {
  const out: Token[] = [];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '*') {
      if (out[out.length - 1]?.kind !== 'star') out.push({ kind: 'star' });
    } else if (c === '?') out.push({ kind: 'any' });
    else if (c === '\\' && i + 1 < chars.length) out.push({ kind: 'lit', ch: chars[++i] });
    else if (c === '[') {
      const set = bracket(chars, i);
      if (set) {
        out.push(set.token);
        i = set.end;
      } else out.push({ kind: 'lit', ch: '[' });
    } else out.push({ kind: 'lit', ch: c });
  }
  return out;
}

function bracket(chars: string[], start: number): { token: Token; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (chars[i] === '!' || chars[i] === '^') {
    negate = true;
    i++;
  }
  const ranges: [string, string][] = [];
  let first = true;
  for (; i < chars.length; i++) {
    let c = chars[i];
    if (c === ']' && !first) return { token: { kind: 'set', negate, ranges }, end: i };
    first = false;
    if (c === '\\' && i + 1 < chars.length) c = chars[++i];
    if (chars[i + 1] === '-' && i + 2 < chars.length && chars[i + 2] !== ']') {
      let hi = chars[i + 2];
      i += 2;
      if (hi === '\\' && i + 1 < chars.length) hi = chars[++i];
      ranges.push([c, hi]);
    } else ranges.push([c, c]);
  }
  return undefined;
}

function matchOne(t: Token, ch: string): boolean {
  switch (t.kind) {
    case 'any':
      return true;
    case 'lit':
      return t.ch === ch;
    case 'set': {
      const cp = ch.codePointAt(0)!;
      const hit = t.ranges.some(([lo, hi]) => cp >= lo.codePointAt(0)! && cp <= hi.codePointAt(0)!);
      return hit !== t.negate;
    }
    default:
      return false;
  }
}

/** Whether `name` (one component) matches `pattern`; a leading '.' must be matched literally, as glob(3) does. */
export function fnmatch(pattern: string | Token[], name: string): boolean {
  const p = typeof pattern === 'string' ? compileComponent(pattern) : pattern;
  const s = [...name];
  if (s[0] === '.' && !(p[0]?.kind === 'lit' && p[0].ch === '.')) return false;
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    const t = p[pi];
    if (t && t.kind === 'star') {
      starP = pi++;
      starS = si;
    } else if (t && matchOne(t, s[si])) {
      pi++;
      si++;
    } else if (starP >= 0) {
      // The last star takes one more character; earlier stars never need to change.
      pi = starP + 1;
      si = ++starS;
    } else return false;
  }
  while (p[pi]?.kind === 'star') pi++;
  return pi === p.length;
}

export function hasWildcard(component: string): boolean {
  return /[*?[]/.test(component);
}
