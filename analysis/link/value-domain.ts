import type { ParamLoc } from '../../schemas/types';

/**
 * The value layer's abstract values (issue 26): what an entry value of a function (a
 * parameter, or with off/w the w-byte word at [parameter + off]) can be, over every way
 * the walk lets the function be entered. Four kinds, ordered NONE < CONSTS, ZEROS < UNKNOWN:
 * NONE (no entry seen yet), CONSTS (at most MAX_CONSTS constants; one more widens to
 * UNKNOWN), ZEROS (any value whose bits `z` are clear: a library value model's fact) and
 * UNKNOWN (anything). Joins only go up, so the walk's re-checks are monotone.
 */

/** Where a guard's value lives: a parameter, or the word at [parameter + off] of w bytes. */
export interface ValueLoc {
  p: ParamLoc;
  off?: number;
  w?: 1 | 2 | 4 | 8;
}

export interface GuardCond {
  op: 'and-nz' | 'and-z' | 'eq' | 'ne';
  k: number;
}

export const MAX_CONSTS = 8;

/** An explanation, built only when explain asks for it (the walk decides many guards it never explains). */
export type Why = string | (() => string);
export const whyText = (w: Why): string => (typeof w === 'string' ? w : w());

export type AbsValue =
  | { kind: 'none' }
  /** `by[i]`: who passes v[i] (for explain). */
  | { kind: 'consts'; v: number[]; by: Why[] }
  /** Bits of `z` (low 32 bits of the word) are clear in every value; `why` names the model. */
  | { kind: 'zeros'; z: number; why: Why }
  | { kind: 'unknown'; why: Why };

export const NONE: AbsValue = { kind: 'none' };

export function unknown(why: Why): AbsValue {
  return { kind: 'unknown', why };
}

export function consts(v: number[], by: Why): AbsValue {
  return v.length > MAX_CONSTS ? unknown(() => `${whyText(by)} passes more than ${MAX_CONSTS} values`) : { kind: 'consts', v, by: v.map(() => by) };
}

/** A key for a location: `rdi`, `s8` (stack slot 8), `rdi+16:4`. */
export function locKey(l: ValueLoc): string {
  const p = paramKey(l.p);
  return l.off === undefined ? p : `${p}+${l.off}:${l.w ?? 8}`;
}

export function paramKey(p: ParamLoc): string {
  return typeof p === 'string' ? p : `s${p.stack}`;
}

/** The least upper bound of two values. */
export function join(a: AbsValue, b: AbsValue): AbsValue {
  if (a.kind === 'none') return b;
  if (b.kind === 'none' || a.kind === 'unknown') return a;
  if (b.kind === 'unknown') return b;
  if (a.kind === 'consts' && b.kind === 'consts') {
    const v = [...a.v];
    const by = [...a.by];
    b.v.forEach((x, i) => {
      if (!v.includes(x)) {
        v.push(x);
        by.push(b.by[i]);
      }
    });
    return v.length > MAX_CONSTS ? unknown(() => `more than ${MAX_CONSTS} values reach it (${whyText(by[0])}, ${whyText(by[by.length - 1])}, …)`) : { kind: 'consts', v, by };
  }
  if (a.kind === 'zeros' && b.kind === 'zeros') return a.z === b.z ? a : { kind: 'zeros', z: (a.z & b.z) >>> 0, why: a.why };
  // One of each: the constants clear the known-zero bits they have set.
  const z = a.kind === 'zeros' ? a : (b as Extract<AbsValue, { kind: 'zeros' }>);
  const c = a.kind === 'consts' ? a : (b as Extract<AbsValue, { kind: 'consts' }>);
  let bits = z.z;
  for (const x of c.v) bits = (bits & ~lo32(x)) >>> 0;
  return { kind: 'zeros', z: bits, why: z.why };
}

/** Whether joining changed anything the walk's decisions depend on (explanations aside). */
export function sameValue(a: AbsValue, b: AbsValue): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'consts') return a.v.length === (b as typeof a).v.length;
  if (a.kind === 'zeros') return a.z === (b as typeof a).z;
  return true;
}

const TWO32 = 2 ** 32;
const lo32 = (x: number) => x % TWO32;
const hi32 = (x: number) => Math.floor(x / TWO32);
/** Values the domain reasons about exactly: non-negative safe integers (anything else is treated as able to satisfy anything). */
const exact = (x: number) => Number.isSafeInteger(x) && x >= 0;
const andNonZero = (a: number, b: number) => (hi32(a) & hi32(b)) !== 0 || (lo32(a) & lo32(b)) !== 0;
const lowBits = (x: number, bits: number) => (bits >= 53 ? x : x % 2 ** bits);

/**
 * Whether one constant satisfies the condition. A register guard's compare width is not
 * recorded (the contract gives k truncated to 4 or 8 bytes, and a byte compare is
 * possible): eq holds if the value equals k at any width k fits in, so a caller's
 * `mov $-1, %rdi` against `cmp $0xffffffff, %edi` is kept. A word guard (w) compares w bytes.
 */
function holds(c: GuardCond, v: number, w: number | undefined): boolean {
  const k = c.k;
  if (!exact(k) || !exact(v)) return true;
  switch (c.op) {
    case 'and-nz':
      return andNonZero(v, k);
    case 'and-z':
      return !andNonZero(v, k);
    case 'eq':
      if (w !== undefined) return lowBits(v, w * 8) === k;
      return v === k || [8, 16, 32].some((bits) => k < 2 ** bits && lowBits(v, bits) === k);
    case 'ne':
      return w !== undefined ? lowBits(v, w * 8) !== k : v !== k;
  }
}

/**
 * Whether some value of `val` satisfies the condition: the guarded items are followed
 * iff it does. UNKNOWN satisfies everything; NONE (no entry known, which a reached
 * function cannot have) is treated as UNKNOWN, never as "no value".
 */
export function satisfiable(c: GuardCond, loc: ValueLoc, val: AbsValue): boolean {
  switch (val.kind) {
    case 'none':
    case 'unknown':
      return true;
    case 'consts':
      return val.v.some((v) => holds(c, v, loc.off === undefined ? undefined : loc.w ?? 8));
    case 'zeros': {
      if (!exact(c.k)) return true;
      if (c.op === 'and-nz') return hi32(c.k) !== 0 || (lo32(c.k) & ~val.z) !== 0;
      if (c.op === 'eq') return hi32(c.k) !== 0 || (lo32(c.k) & val.z) === 0;
      return true;
    }
  }
}

/** The value as explain shows it: the satisfying constant and who passes it, or why it is unknown. */
export function describeKept(c: GuardCond, loc: ValueLoc, val: AbsValue, what: string): string {
  const cond = `${what} ${c.op === 'and-nz' ? `& 0x${c.k.toString(16)} != 0` : c.op === 'and-z' ? `& 0x${c.k.toString(16)} == 0` : c.op === 'eq' ? `== 0x${c.k.toString(16)}` : `!= 0x${c.k.toString(16)}`}`;
  switch (val.kind) {
    case 'none':
      return `${cond} may hold: no call site's value is known`;
    case 'unknown':
      return `${cond} may hold: ${whyText(val.why)}`;
    case 'consts': {
      const i = Math.max(0, val.v.findIndex((v) => holds(c, v, loc.off === undefined ? undefined : loc.w ?? 8)));
      return `${cond} may hold: ${what} may be 0x${val.v[i].toString(16)}, passed by ${whyText(val.by[i])}`;
    }
    case 'zeros':
      return `${cond} may hold: ${whyText(val.why)}`;
  }
}
