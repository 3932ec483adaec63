import { applyXf, EffectDecoder, Effect, FrameWrite, XfOp } from './effects';
import { K, Program, endsFlow } from './program';
import { CALLER_SAVED, GPR_NAMES, RAX, RBP, RCX, RDX, RSP, R11 } from './registers';
import type { ParamLoc, Unresolved } from './types';

/**
 * A value's home while walking backwards: a register (0..15) or a 32-bit frame slot.
 * `xf` lists the partial-register operations still to apply, nearest the use last:
 * the wanted value is xf applied in order to what this location holds.
 */
export type Loc = ({ r: number } | { s: typeof RSP | typeof RBP; d: number }) & { xf?: XfOp[] };

/** More pending operations than this on one path (a loop incrementing %al) gives up. */
const MAX_XF = 8;

/** The state key of a location, pending operations included. */
export function locKey(l: Loc): string {
  const base = 'r' in l ? `r${l.r}` : `s${l.s}:${l.d}`;
  return l.xf?.length ? `${base}|${JSON.stringify(l.xf)}` : base;
}

/** The wanted value when `l` is found to hold `n`. */
export function finish(l: Loc, n: number): number {
  let v = n;
  for (const x of l.xf ?? []) v = applyXf(x, v);
  return v;
}

/** Why a parameter cannot be passed on to callers: they would need the pending operations applied. */
export const XF_PARAM = 'partial-register operation on a parameter (not followed into callers)';

export interface EntryValue {
  /** Start of the function at whose entry the value was still live. */
  fn: number;
  loc: ParamLoc;
  /** Operations still to apply to the entry value (only with FlowOptions.xfParams). */
  xf?: XfOp[];
}

export interface FlowOptions {
  /** Follow a parameter with pending partial-register/arithmetic operations into callers (EntryValue.xf) instead of giving up. */
  xfParams?: boolean;
  /** See EffectDecoder: `lea disp(%reg)` as a constant addition. */
  leaAdd?: boolean;
}

export interface Recovered {
  numbers: Set<number>;
  params: Map<string, EntryValue>;
  unresolved: Map<string, Unresolved>;
}

interface FnFacts {
  /** The function computes a frame address (lea r,[rsp/rbp+x]): callees or stores may write its slots. */
  escapes: boolean;
  indirectJumps: number[];
}

const MAX_STATES = 20000;
const SLOT_BYTES = 4; // the syscall number is the low 32 bits

/**
 * Backward data-flow over one object's decoded instructions: which values can a
 * location hold just before a given instruction? Paths are followed through
 * fall-through and direct jumps (and, in functions with indirect jumps, from those
 * jumps to every block that has no fall-through predecessor). A path ends at a
 * constant, at the function's entry (a parameter), or at something not understood
 * (recorded with the reason). Never drops a path silently.
 */
export class BackwardFlow {
  readonly effects: EffectDecoder;
  private facts = new Map<number, FnFacts>();

  constructor(
    readonly prog: Program,
    /** Function starts / PLT stubs that never return (noreturn.ts): no path continues after calls to them. */
    private noReturn: Set<number> = new Set(),
    private opts: FlowOptions = {},
  ) {
    this.effects = new EffectDecoder(prog.bytes, prog.base, { leaAdd: opts.leaAdd });
  }

  free(): void {
    this.effects.free();
  }

  private fnFacts(f: number): FnFacts {
    let ff = this.facts.get(f);
    if (!ff) {
      const p = this.prog;
      const fn = p.functions[f];
      const indirectJumps: number[] = [];
      let escapes = false;
      for (let i = fn.first; i < fn.last; i++) {
        if (p.kind[i] === K.JMP_IND) indirectJumps.push(i);
        else if (!escapes && p.kind[i] === K.NEXT && this.effects.takesFrameAddress(p.addr[i])) escapes = true;
      }
      ff = { escapes, indirectJumps };
      this.facts.set(f, ff);
    }
    return ff;
  }

  /** Predecessor instructions of i within the walk (tail-jumps from other functions to i's function start excluded). */
  private preds(i: number): number[] {
    const p = this.prog;
    const f = p.fnOf[i];
    const fn = p.functions[f];
    const res: number[] = [];
    const fallsIn =
      i > fn.first && !endsFlow(p.kind[i - 1]) && !(p.kind[i - 1] === K.CALL && this.noReturn.has(p.target[i - 1]));
    if (fallsIn) res.push(i - 1);
    const atStart = i === fn.first;
    for (const s of p.jumpSources.get(p.addr[i]) ?? []) {
      if (atStart && p.fnOf[s] !== f) continue;
      res.push(s);
    }
    if (!atStart && !fallsIn) {
      // Possibly a jump-table target: reached from any indirect jump of this function.
      for (const j of this.fnFacts(f).indirectJumps) res.push(j);
    }
    return res;
  }

  /** Values `loc` can hold just before instruction index `start` executes. */
  valuesBefore(start: number, loc: Loc): Recovered {
    const p = this.prog;
    const out: Recovered = { numbers: new Set(), params: new Map(), unresolved: new Map() };
    const fail = (reason: string, at: number): void => {
      out.unresolved.set(`${reason}@${at}`, { reason, at });
    };
    const seen = new Set<string>();
    const work: [number, Loc][] = [[start, loc]];
    let steps = 0;
    while (work.length) {
      const [i, l] = work.pop()!;
      const k = `${i}|${locKey(l)}`;
      if (seen.has(k)) continue;
      seen.add(k);
      if (++steps > MAX_STATES) {
        fail('search limit reached', p.addr[start]);
        break;
      }
      const fn = p.functions[p.fnOf[i]];
      const atEntry = i === fn.first;
      if (atEntry) {
        const entry = entryLoc(l);
        if (l.xf?.length && !this.opts.xfParams) fail(XF_PARAM, p.addr[i]);
        else if (typeof entry === 'string' && entry.startsWith('!')) fail(entry.slice(1), p.addr[i]);
        else {
          const ev: EntryValue = { fn: fn.addr, loc: entry as ParamLoc, ...(l.xf?.length ? { xf: l.xf } : {}) };
          out.params.set(`${fn.addr}:${JSON.stringify(ev.loc)}${ev.xf ? `|${JSON.stringify(ev.xf)}` : ''}`, ev);
        }
      }
      const preds = this.preds(i);
      if (preds.length === 0 && !atEntry && !this.effects.isNop(p.addr[i])) {
        // Nop padding without predecessors is dead; anything else could be a landing
        // pad or a target of a jump we do not see.
        fail('no predecessor (only reachable by an unknown jump)', p.addr[i]);
      }
      for (const q of preds) {
        for (const o of this.transfer(q, l)) {
          if (typeof o === 'number') out.numbers.add(o);
          else if (typeof o === 'string') fail(o, p.addr[q]);
          else work.push([q, o]);
        }
      }
    }
    return out;
  }

  /**
   * The location (or value) before instruction q that holds what `l` holds after it.
   * Strings are reasons for giving up.
   */
  private transfer(q: number, l: Loc): (Loc | number | string)[] {
    const p = this.prog;
    const kind = p.kind[q];
    if ('r' in l && l.r === RSP) return ['value is a stack address'];
    switch (kind) {
      case K.CALL:
      case K.CALL_IND: {
        if ('r' in l) {
          if (!CALLER_SAVED.has(l.r)) return [l];
          return [l.r === RAX ? `return value of ${kind === K.CALL ? 'call to 0x' + p.target[q].toString(16) : 'indirect call'}` : `${GPR_NAMES[l.r]} clobbered by call`];
        }
        if (this.fnFacts(p.fnOf[q]).escapes) return ['frame slot may be written by a callee (frame address escapes)'];
        return [l];
      }
      case K.SYSCALL:
      case K.INT80:
      case K.SYSENTER:
        if ('r' in l && (l.r === RAX || l.r === RCX || l.r === R11 || (kind === K.SYSENTER && l.r === RDX))) {
          return [`${GPR_NAMES[l.r]} clobbered by syscall`];
        }
        return [l];
      case K.STOP:
        return [];
    }
    return applyEffect(this.effects.effect(p.addr[q]), l, () => this.fnFacts(p.fnOf[q]).escapes);
  }
}

function entryLoc(l: Loc): ParamLoc | string {
  if ('r' in l) return GPR_NAMES[l.r];
  if (l.s === RSP) return { stack: l.d };
  return '!frame-pointer slot live at function entry';
}

function overlaps(w: FrameWrite, base: number, d: number): boolean {
  if (Number.isNaN(w.disp)) return true;
  return w.disp < d + SLOT_BYTES && d < w.disp + w.size;
}

function sameDst(dst: number | { base: number; disp: number }, l: Loc): 'same' | 'partial' | 'no' {
  if (typeof dst === 'number') return 'r' in l && l.r === dst ? 'same' : 'no';
  if ('r' in l || l.s !== dst.base) return 'no';
  if (dst.disp === l.d) return 'same';
  return dst.disp < l.d + SLOT_BYTES && l.d < dst.disp + 8 ? 'partial' : 'no';
}

function toLoc(src: number | { base: number; disp: number }): Loc | string {
  if (typeof src === 'number') return src === RSP ? 'value is a stack address' : { r: src };
  return { s: src.base as typeof RSP, d: src.disp };
}

/**
 * The locations (or values, or reasons for giving up) before an instruction with effect
 * `e` that make up what `l` holds after it. Pending partial-register operations of `l`
 * travel with the locations and are applied to the values found.
 */
export function applyEffect(e: Effect, l: Loc, escapes: () => boolean): (Loc | number | string)[] {
  if (e.op === 'xform') {
    if (!('r' in l) || l.r !== e.dst) return [l];
    if ((l.xf?.length ?? 0) >= MAX_XF) return ['too many partial-register operations on one path'];
    const src = toLoc(e.src);
    if (typeof src === 'string') return [src];
    return [{ ...src, xf: [e.x, ...(l.xf ?? [])] }];
  }
  const out = applyBare(e, l, escapes);
  const xf = l.xf;
  if (!xf?.length) return out;
  return out.map((o) => (typeof o === 'number' ? finish(l, o) : typeof o === 'string' ? o : { ...o, xf }));
}

function applyBare(e: Exclude<Effect, { op: 'xform' }>, l: Loc, escapes: () => boolean): (Loc | number | string)[] {
  switch (e.op) {
    case 'const': {
      const m = sameDst(e.dst, l);
      if (m === 'same') return [e.value];
      if (m === 'partial') return ['frame slot partially overwritten'];
      return [l];
    }
    case 'copy': {
      const m = sameDst(e.dst, l);
      if (m === 'same') return [toLoc(e.src)];
      if (m === 'partial') return ['frame slot partially overwritten'];
      return [l];
    }
    case 'xchg':
      if ('r' in l && l.r === e.a) return [{ r: e.b }];
      if ('r' in l && l.r === e.b) return [{ r: e.a }];
      return [l];
    case 'cmov':
      if ('r' in l && l.r === e.dst) return [{ r: e.src }, l];
      return [l];
    case 'push':
      if ('r' in l) return [l];
      if (l.s === RSP) {
        if (l.d === 0) return [typeof e.src === 'number' ? (e.src === RSP ? 'value is a stack address' : { r: e.src }) : e.src.value];
        if (l.d > -SLOT_BYTES && l.d < 8) return ['frame slot partially overwritten'];
        return [{ s: RSP, d: l.d - 8 }];
      }
      return [l];
    case 'pop':
      if ('r' in l) return l.r === e.dst ? [{ s: RSP, d: 0 }] : [l];
      if (l.s === RSP) return [{ s: RSP, d: l.d + 8 }];
      return l.s === RBP && e.dst === RBP ? ['frame pointer changed'] : [l];
    case 'rspAdd':
      if (!('r' in l) && l.s === RSP) return [{ s: RSP, d: l.d + e.delta }];
      return [l];
    case 'rbpFromRsp':
      if ('r' in l) return l.r === RBP ? ['value is a stack address'] : [l];
      if (l.s === RBP) return [{ s: RSP, d: l.d }];
      return [l];
    case 'leave':
      if ('r' in l) return l.r === RBP ? [{ s: RBP, d: 0 }] : [l];
      if (l.s === RSP) return [{ s: RBP, d: l.d + 8 }];
      return ['frame pointer changed by leave'];
    case 'other': {
      if ('r' in l) {
        if (e.writes & (1 << l.r)) return [`${GPR_NAMES[l.r]} written by ${e.name}`];
        return [l];
      }
      if (e.writes & (1 << l.s)) return [`${GPR_NAMES[l.s]} changed by ${e.name}`];
      for (const w of e.frameWrites) {
        if (w.base !== l.s) return [`frame slot may be written through ${GPR_NAMES[w.base]} by ${e.name}`];
        if (overlaps(w, w.base, l.d)) return [`frame slot written by ${e.name}`];
      }
      if (e.otherMemWrite && escapes()) return [`frame slot may be written through a pointer by ${e.name}`];
      return [l];
    }
  }
}

export const REG = { RAX, RCX, RDX, RBP, RSP };
