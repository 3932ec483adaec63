import { applyEffect, EntryValue, finish, Loc, locKey, Recovered, XF_PARAM } from '../x86/dataflow';
import { EffectDecoder } from '../x86/effects';
import { K, Program, endsFlow } from '../x86/program';
import { GPR_NAMES, RAX, RBP, RCX, RSP, R11 } from '../x86/registers';
import type { ParamLoc } from '../x86/types';
import type { GlobalVars } from './globals';

const MAX_STATES = 20000;

/**
 * The x86 backward walk (analysis/x86/dataflow.ts) with the two rules Go code needs changed:
 *
 * - Every Go function with a frame sets its frame pointer with `lea off(%rsp),%rbp`.
 *   The SysV walk counts that as "frame address escapes" and then gives up on any
 *   stack slot across a call — and Go's wrappers (`syscall.Syscall`) keep the number
 *   in a stack slot across `runtime.entersyscall`. Here only frame addresses loaded
 *   into registers other than %rbp make the frame escape: callees save and restore
 *   %rbp but never store through it.
 * - Go's register ABI (ABIInternal) has no callee-saved general-purpose registers
 *   (only %rsp, %rbp, and %r14 = g are preserved): a register read after a call is a
 *   result, never the caller's value. So every register but %rsp/%rbp is lost at a call.
 *
 * Everything else (effects of instructions, predecessors, jump tables) is the x86 rule.
 */
export class GoFlow {
  readonly effects: EffectDecoder;
  private facts = new Map<number, { escapes: boolean; indirectJumps: number[] }>();

  private globalsActive = new Set<number>();

  constructor(
    readonly prog: Program,
    private noReturn: Set<number>,
    /** Package variables holding numbers (globals.ts); without it such loads stay unresolved. */
    private globals?: GlobalVars,
  ) {
    this.effects = new EffectDecoder(prog.bytes, prog.base);
  }

  free(): void {
    this.effects.free();
  }

  private fnFacts(f: number) {
    let ff = this.facts.get(f);
    if (!ff) {
      const p = this.prog;
      const fn = p.functions[f];
      const indirectJumps: number[] = [];
      let escapes = false;
      for (let i = fn.first; i < fn.last; i++) {
        if (p.kind[i] === K.JMP_IND) indirectJumps.push(i);
        else if (!escapes && p.kind[i] === K.NEXT && this.effects.takesFrameAddress(p.addr[i]) && !this.isFramePointerSetup(i)) {
          escapes = true;
        }
      }
      ff = { escapes, indirectJumps };
      this.facts.set(f, ff);
    }
    return ff;
  }

  /** `lea d(%rsp),%rbp` (48 8d 6c 24 d8 / 48 8d ac 24 d32): Go's frame pointer setup. */
  private isFramePointerSetup(i: number): boolean {
    const p = this.prog;
    const o = p.addr[i] - p.base;
    const b = p.bytes;
    return b[o] === 0x48 && b[o + 1] === 0x8d && (b[o + 2] === 0x6c || b[o + 2] === 0xac) && b[o + 3] === 0x24;
  }

  private preds(i: number): number[] {
    const p = this.prog;
    const f = p.fnOf[i];
    const fn = p.functions[f];
    const res: number[] = [];
    const fallsIn = i > fn.first && !endsFlow(p.kind[i - 1]) && !(p.kind[i - 1] === K.CALL && this.noReturn.has(p.target[i - 1]));
    if (fallsIn) res.push(i - 1);
    const atStart = i === fn.first;
    for (const s of p.jumpSources.get(p.addr[i]) ?? []) {
      if (atStart && p.fnOf[s] !== f) continue;
      res.push(s);
    }
    if (!atStart && !fallsIn) for (const j of this.fnFacts(f).indirectJumps) res.push(j);
    return res;
  }

  /** Values `loc` can hold just before instruction index `start` executes. */
  valuesBefore(start: number, loc: Loc): Recovered {
    const p = this.prog;
    const out: Recovered = { numbers: new Set(), params: new Map(), unresolved: new Map() };
    const fail = (reason: string, at: number) => out.unresolved.set(`${reason}@${at}`, { reason, at });
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
        if (l.xf?.length) fail(XF_PARAM, p.addr[i]);
        else if ('r' in l) out.params.set(`${fn.addr}:r${l.r}`, { fn: fn.addr, loc: GPR_NAMES[l.r] });
        else if (l.s === RSP) out.params.set(`${fn.addr}:s${l.d}`, { fn: fn.addr, loc: { stack: l.d } });
        else fail('frame-pointer slot live at function entry', p.addr[i]);
      }
      const preds = this.preds(i);
      if (preds.length === 0 && !atEntry && !this.effects.isNop(p.addr[i])) fail('no predecessor (only reachable by an unknown jump)', p.addr[i]);
      for (const q of preds) {
        const g = 'r' in l ? this.globals?.loadAt(q) : undefined;
        if (g && 'r' in l && g.reg === l.r) {
          this.fromGlobal(g.addr, q, out, l);
          continue;
        }
        for (const o of this.transfer(q, l)) {
          if (typeof o === 'number') out.numbers.add(o);
          else if (typeof o === 'string') fail(o, p.addr[q]);
          else work.push([q, o]);
        }
      }
    }
    return out;
  }

  /** The value loaded from a package variable: its initial bytes and what every store there writes. */
  private fromGlobal(addr: number, q: number, into: Recovered, l: Loc): void {
    // Numbers found are what the variable holds: the use wants them through l's pending operations.
    if (!l.xf?.length) return this.fromGlobalRaw(addr, into);
    const out: Recovered = { numbers: new Set(), params: new Map(), unresolved: new Map() };
    this.fromGlobalRaw(addr, out);
    out.numbers.forEach((n) => into.numbers.add(finish(l, n)));
    for (const [k, u] of out.unresolved) into.unresolved.set(k, u);
    for (const ev of out.params.values()) into.unresolved.set(`${XF_PARAM}@${ev.fn}`, { reason: XF_PARAM, at: ev.fn });
    void q;
  }

  private fromGlobalRaw(addr: number, out: Recovered): void {
    const v = this.globals!.valuesOf(addr);
    if (v.initial !== undefined) out.numbers.add(v.initial);
    for (const u of v.unknown) out.unresolved.set(`${u.reason}@${u.at}`, { reason: u.reason, at: u.at });
    if (this.globalsActive.has(addr)) return; // a store's value read back from the same variable
    this.globalsActive.add(addr);
    try {
      for (const w of v.writers) {
        if ('value' in w.src) {
          out.numbers.add(w.src.value);
          continue;
        }
        const r = this.valuesBefore(w.idx, { r: w.src.reg });
        r.numbers.forEach((n) => out.numbers.add(n));
        for (const [k, p] of r.params) out.params.set(k, p);
        for (const [k, u] of r.unresolved) out.unresolved.set(k, u);
      }
    } finally {
      this.globalsActive.delete(addr);
    }
  }

  private transfer(q: number, l: Loc): (Loc | number | string)[] {
    const p = this.prog;
    const kind = p.kind[q];
    if ('r' in l && l.r === RSP) return ['value is a stack address'];
    switch (kind) {
      case K.CALL:
      case K.CALL_IND:
        if ('r' in l) {
          if (l.r === RBP) return [l];
          return [l.r === RAX ? `return value of ${kind === K.CALL ? 'call to 0x' + p.target[q].toString(16) : 'indirect call'}` : `${GPR_NAMES[l.r]} clobbered by call`];
        }
        if (this.fnFacts(p.fnOf[q]).escapes) return ['frame slot may be written by a callee (frame address escapes)'];
        return [l];
      case K.SYSCALL:
      case K.INT80:
      case K.SYSENTER:
        if ('r' in l && (l.r === RAX || l.r === RCX || l.r === R11)) return [`${GPR_NAMES[l.r]} clobbered by syscall`];
        return [l];
      case K.STOP:
        return [];
    }
    return applyEffect(this.effects.effect(p.addr[q]), l, () => this.fnFacts(p.fnOf[q]).escapes);
  }
}

/** Where an entry location's value sits just before a call (or tail jump) to that entry. */
export function locAtCall(prog: Program, callIdx: number, loc: ParamLoc): Loc {
  if (typeof loc === 'string') return { r: GPR_NAMES.indexOf(loc) };
  return { s: RSP, d: prog.kind[callIdx] === K.CALL ? loc.stack - 8 : loc.stack };
}

export type { EntryValue };
