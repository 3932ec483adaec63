import { applyXf, EffectDecoder, Effect, FrameWrite, XfOp } from './effects';
import { K, Program, endsFlow } from './program';
import { CALLER_SAVED, CALLEE_SAVED, GPR_NAMES, RAX, RBP, RCX, RDX, RSP, R11 } from './registers';
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
  return l.xf?.length ? `${base}|${xfJson(l.xf)}` : base;
}

/** Pending-operation lists are never changed once made, and travel unchanged from state to state: their JSON is made once. */
const xfJsonCache = new WeakMap<XfOp[], string>();
function xfJson(xf: XfOp[]): string {
  let j = xfJsonCache.get(xf);
  if (j === undefined) xfJsonCache.set(xf, (j = JSON.stringify(xf)));
  return j;
}

/**
 * Numeric ids for locations, equal exactly when locKey is: the walk keys its visited
 * states by them. Building locKey's string (JSON of the pending operations included)
 * for every state was most of the walk's time once partial-register operations came.
 * Pending operations are interned once per operation object (effects are cached per
 * instruction, so that is once per instruction), chains of them as cons cells.
 */
export class LocIds {
  private opIds = new WeakMap<XfOp, number>();
  private opByJson = new Map<string, number>();
  private chainOf = new WeakMap<XfOp[], number>();
  /** Chain id by `${tail chain},${head op}`; chain 0 is the empty one. */
  private cons = new Map<string, number>();
  private chainCount = 1;
  /** Per chain: ids of the 16 registers (-1 when not yet given) and of frame slots by d*16+s. */
  private regs: Int32Array[] = [];
  private slots: Map<number, number>[] = [];
  private count = 0;

  of(l: Loc): number {
    const c = this.chain(l.xf);
    let regs = this.regs[c];
    if (regs === undefined) {
      regs = this.regs[c] = new Int32Array(16).fill(-1);
      this.slots[c] = new Map();
    }
    if ('r' in l) {
      let id = regs[l.r];
      if (id < 0) id = regs[l.r] = this.count++;
      return id;
    }
    // Exact: displacements are 32-bit, moved by a few bytes per step.
    const k = l.d * 16 + l.s;
    const slots = this.slots[c];
    let id = slots.get(k);
    if (id === undefined) slots.set(k, (id = this.count++));
    return id;
  }

  private chain(xf: XfOp[] | undefined): number {
    if (xf === undefined || xf.length === 0) return 0;
    let c = this.chainOf.get(xf);
    if (c === undefined) {
      c = 0;
      for (let k = xf.length - 1; k >= 0; k--) {
        const key = `${c},${this.op(xf[k])}`;
        let next = this.cons.get(key);
        if (next === undefined) this.cons.set(key, (next = this.chainCount++));
        c = next;
      }
      this.chainOf.set(xf, c);
    }
    return c;
  }

  private op(x: XfOp): number {
    let id = this.opIds.get(x);
    if (id === undefined) {
      const j = JSON.stringify(x);
      id = this.opByJson.get(j);
      if (id === undefined) this.opByJson.set(j, (id = this.opByJson.size));
      this.opIds.set(x, id);
    }
    return id;
  }
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
  /** The entry at which the value was still live: a function's start, or a direct call's target inside a function. */
  fn: number;
  loc: ParamLoc;
  /** Operations still to apply to the entry value (only with FlowOptions.xfParams). */
  xf?: XfOp[];
}

/**
 * What the walk assumes about the calling convention of the code it walks. The default
 * is SysV AMD64 (C code); Go's register ABI differs (analysis/golang/go-flow.ts).
 */
export interface CallConvention {
  /** Registers a call may change: a value read from one after a call is the callee's, not the caller's. */
  callClobbers: ReadonlySet<number>;
  /**
   * `lea d(%rsp),%rbp` only sets up the frame pointer (callees save and restore %rbp and
   * never store through it), so it does not let callees write the frame's slots. Where
   * %rbp can be an ordinary register (SysV), it is a frame address like any other.
   */
  rbpFromRspIsFramePointer: boolean;
}

export const SYSV_CONVENTION: CallConvention = { callClobbers: CALLER_SAVED, rbpFromRspIsFramePointer: false };

/** The values a variable at a fixed address can hold: its initial bytes and what every store there writes. */
export interface VariableValues {
  initial?: number;
  /** Instruction `idx` stores a constant or register `reg` into the variable. */
  writers: { idx: number; src: { reg: number } | { value: number } }[];
  /** Reasons the variable may hold something else (a pointer to it, a store not understood, ...). */
  unknown: { reason: string; at: number }[];
}

/** Loads from variables at fixed addresses whose writers are all known (analysis/golang/globals.ts). */
export interface KnownVariables {
  /** If instruction i loads a variable into a register: the register and the variable's address. */
  loadAt(i: number): { reg: number; addr: number } | undefined;
  valuesOf(addr: number): VariableValues;
}

export interface FlowOptions {
  /** Follow a parameter with pending partial-register/arithmetic operations into callers (EntryValue.xf) instead of giving up. */
  xfParams?: boolean;
  /** See EffectDecoder: `lea disp(%reg)` as a constant addition. */
  leaAdd?: boolean;
  /** Default SYSV_CONVENTION. */
  convention?: CallConvention;
  /** A register loaded from one of these variables holds what the variable can hold (else the load is not understood). */
  variables?: KnownVariables;
}

export interface Recovered {
  numbers: Set<number>;
  params: Map<string, EntryValue>;
  unresolved: Map<string, Unresolved>;
  /** States the search visited (what it cost: callers that repeat searches budget on it). */
  steps?: number;
}

interface FnFacts {
  /** The function computes a frame address (lea r,[rsp/rbp+x]): callees or stores may write its slots. */
  escapes: boolean;
  indirectJumps: number[];
}

const MAX_STATES = 20000;
/**
 * Entry values one search may yield. A stack pointer that moves around a loop gives a new
 * slot per turn (stack+16, stack+56, …): thousands of entry values, each climbed into
 * callers, never finish. Past the bound the search reports the site unresolved instead.
 */
export const MAX_ENTRY_VALUES = 256;
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
  private predCache = new Map<number, number[]>();
  /** Per conditional jump: the register and value its ZF-set edge implies (edgeValue), or null. */
  private zfEdges = new Map<number, { reg: number; value: number; edge: 'taken' | 'fall' } | null>();
  private readonly ids = new LocIds();
  private readonly convention: CallConvention;
  /** Variables whose values are being collected (a store's value read back from the same variable). */
  private variablesActive = new Set<number>();

  constructor(
    readonly prog: Program,
    /** Function starts / PLT stubs that never return (noreturn.ts): no path continues after calls to them. */
    private noReturn: Set<number> = new Set(),
    private opts: FlowOptions = {},
  ) {
    this.effects = new EffectDecoder(prog.bytes, prog.base, { leaAdd: opts.leaAdd });
    this.convention = opts.convention ?? SYSV_CONVENTION;
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
        if (p.kind[i] === K.JMP_IND) {
          if (!this.isEpilogueJump(i)) indirectJumps.push(i);
        }
        else if (!escapes && p.kind[i] === K.NEXT && this.effects.takesFrameAddress(p.addr[i]) && !this.isFramePointerSetup(i)) {
          escapes = true;
        }
      }
      ff = { escapes, indirectJumps };
      this.facts.set(f, ff);
    }
    return ff;
  }

  /** `lea d(%rsp),%rbp` (48 8d 6c 24 d8 / 48 8d ac 24 d32) where the convention makes %rbp only a frame pointer. */
  private isFramePointerSetup(i: number): boolean {
    if (!this.convention.rbpFromRspIsFramePointer) return false;
    const p = this.prog;
    const o = p.addr[i] - p.base;
    const b = p.bytes;
    return b[o] === 0x48 && b[o + 1] === 0x8d && (b[o + 2] === 0x6c || b[o + 2] === 0xac) && b[o + 3] === 0x24;
  }

  /**
   * An indirect jump that directly follows the restore of a callee-saved register
   * (`pop %rbx; …; pop %r15; jmp *%rax`: musl's aio cleanup() calling
   * sigev_notify_function last) leaves the function with its frame torn down: a tail
   * call, not a jump table, so it is no predecessor of the function's own blocks.
   * Assumed (x86/README.md): compilers restore callee-saved registers only on the way
   * out (before `ret` or a tail jump), never before a jump within the function.
   */
  private isEpilogueJump(j: number): boolean {
    const p = this.prog;
    const fn = p.functions[p.fnOf[j]];
    if (j <= fn.first || p.isInnerEntry(j) || endsFlow(p.kind[j - 1]) || p.kind[j - 1] !== K.NEXT) return false;
    if (p.jumpSources.has(p.addr[j])) return false; // the pop is not the only way in
    const e = this.effects.effect(p.addr[j - 1]);
    return e.op === 'pop' && CALLEE_SAVED.has(e.dst);
  }

  /**
   * The value register location `l` holds on the edge from conditional jump q to i when
   * that edge runs only with ZF set by the instruction just before q: `test r,r; je`
   * (taken: r is 0), `cmp $imm,r; jne` (fall-through: r is imm) — musl's __stdio_read
   * reaches `syscall` for SYS_read (0) on the `je` after `test %rax,%rax`. Undefined
   * unless q's only way in is from that instruction (its flags are the ones tested).
   */
  private edgeValue(q: number, i: number, l: Loc): number | undefined {
    if (!('r' in l)) return undefined;
    const p = this.prog;
    if (p.kind[q] !== K.JCC) return undefined;
    let z = this.zfEdges.get(q);
    if (z === undefined) this.zfEdges.set(q, (z = this.zeroFlagFact(q)));
    if (z === null || z.reg !== l.r) return undefined;
    const fall = i === q + 1;
    const taken = p.addr[i] === p.target[q];
    if (fall === taken) return undefined; // a jump to the next instruction: both edges
    return (z.edge === 'fall') === fall ? z.value : undefined;
  }

  private zeroFlagFact(q: number): { reg: number; value: number; edge: 'taken' | 'fall' } | null {
    const p = this.prog;
    const edge = this.effects.zeroFlagEdge(p.addr[q]);
    if (!edge) return null;
    const fn = p.functions[p.fnOf[q]];
    if (q === fn.first || p.isInnerEntry(q)) return null;
    const pq = this.preds(q);
    if (pq.length !== 1 || pq[0] !== q - 1) return null;
    const v = this.effects.zeroFlagValue(p.addr[q - 1]);
    return v ? { ...v, edge } : null;
  }

  /** Predecessor instructions of i within the walk (tail-jumps from other functions to i's function start excluded). */
  private preds(i: number): number[] {
    let res = this.predCache.get(i);
    if (res === undefined) this.predCache.set(i, (res = this.computePreds(i)));
    return res;
  }

  private computePreds(i: number): number[] {
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
    const ids = this.ids;
    const out: Recovered = { numbers: new Set(), params: new Map(), unresolved: new Map() };
    const fail = (reason: string, at: number): void => {
      const k = `${reason}@${at}`;
      // The first report of a reason at an address fixes its place in the map.
      if (!out.unresolved.has(k)) out.unresolved.set(k, { reason, at });
    };
    // Visited states (instruction, location id), per location: numeric keys, no string per step.
    const seen = new Map<number, Set<number>>();
    const isSeen = (i: number, id: number): boolean => seen.get(id)?.has(i) ?? false;
    // A depth-first stack in three parallel arrays (no tuple per push). A state already
    // visited is not pushed: it would be skipped when popped, so the order of the states
    // visited, and the point where the limit cuts, are those of a stack that takes it.
    const workI: number[] = [start];
    const workL: Loc[] = [loc];
    const workId: number[] = [ids.of(loc)];
    // What each predecessor makes of a location, per search: in a function with jump
    // tables every block without a fall-through predecessor has all its indirect jumps
    // as predecessors, and the same (jump, location) pairs came back for each of them.
    const memo = new Map<number, Map<number, { locs: Loc[]; ids: number[] }>>();
    let steps = 0;
    while (workI.length) {
      const i = workI.pop()!;
      const l = workL.pop()!;
      const lid = workId.pop()!;
      let atLoc = seen.get(lid);
      if (atLoc === undefined) seen.set(lid, (atLoc = new Set()));
      else if (atLoc.has(i)) continue;
      atLoc.add(i);
      if (++steps > MAX_STATES) {
        fail('search limit reached', p.addr[start]);
        break;
      }
      const fn = p.functions[p.fnOf[i]];
      // A function's start, or an entry inside it (a direct call's target: musl's
      // __syscall_cp_asm has no symbol and sits inside memset's extent): the value is
      // also whatever callers pass there. The walk goes on to in-function predecessors.
      const atEntry = i === fn.first || p.isInnerEntry(i);
      if (atEntry) {
        const entry = entryLoc(l);
        const at = p.addr[i];
        if (l.xf?.length && !this.opts.xfParams) fail(XF_PARAM, at);
        else if (typeof entry === 'string' && entry.startsWith('!')) fail(entry.slice(1), at);
        else {
          const ev: EntryValue = { fn: at, loc: entry as ParamLoc, ...(l.xf?.length ? { xf: l.xf } : {}) };
          const key = `${at}:${JSON.stringify(ev.loc)}${ev.xf ? `|${JSON.stringify(ev.xf)}` : ''}`;
          if (out.params.size < MAX_ENTRY_VALUES || out.params.has(key)) out.params.set(key, ev);
          else fail(`more than ${MAX_ENTRY_VALUES} entry values (a stack slot that moves around a loop?)`, at);
        }
      }
      const preds = this.preds(i);
      if (preds.length === 0 && !atEntry && !this.effects.isNop(p.addr[i])) {
        // Nop padding without predecessors is dead; anything else could be a landing
        // pad or a target of a jump we do not see.
        fail('no predecessor (only reachable by an unknown jump)', p.addr[i]);
      }
      let byPred = memo.get(lid);
      if (byPred === undefined) memo.set(lid, (byPred = new Map()));
      for (const q of preds) {
        const load = this.opts.variables && 'r' in l ? this.opts.variables.loadAt(q) : undefined;
        if (load && load.reg === (l as { r: number }).r) {
          this.fromVariable(load.addr, out, l);
          continue;
        }
        const known = this.edgeValue(q, i, l);
        if (known !== undefined) {
          out.numbers.add(finish(l, known));
          continue;
        }
        let st = byPred.get(q);
        if (st === undefined) {
          // First time through q with this location: numbers and reasons are recorded now;
          // at a later visit they would change nothing (a set, and a map whose order the
          // first report fixed), so only the locations are kept for it.
          const locs: Loc[] = [];
          const locIds: number[] = [];
          for (const o of this.transfer(q, l)) {
            if (typeof o === 'number') out.numbers.add(o);
            else if (typeof o === 'string') fail(o, p.addr[q]);
            else {
              locs.push(o);
              locIds.push(o === l ? lid : ids.of(o));
            }
          }
          byPred.set(q, (st = { locs, ids: locIds }));
        }
        for (let k = 0; k < st.locs.length; k++) {
          const id = st.ids[k];
          if (isSeen(q, id)) continue;
          workI.push(q);
          workL.push(st.locs[k]);
          workId.push(id);
        }
      }
    }
    out.steps = steps;
    return out;
  }

  /** What a register loaded from the variable at `addr` holds, as `l` wants it (its pending operations applied). */
  private fromVariable(addr: number, into: Recovered, l: Loc): void {
    if (!l.xf?.length) return this.variableValues(addr, into);
    const raw: Recovered = { numbers: new Set(), params: new Map(), unresolved: new Map() };
    this.variableValues(addr, raw);
    raw.numbers.forEach((n) => into.numbers.add(finish(l, n)));
    for (const [k, u] of raw.unresolved) into.unresolved.set(k, u);
    for (const ev of raw.params.values()) into.unresolved.set(`${XF_PARAM}@${ev.fn}`, { reason: XF_PARAM, at: ev.fn });
  }

  /** The variable's initial value and the values of every store into it. */
  private variableValues(addr: number, out: Recovered): void {
    const v = this.opts.variables!.valuesOf(addr);
    if (v.initial !== undefined) out.numbers.add(v.initial);
    for (const u of v.unknown) out.unresolved.set(`${u.reason}@${u.at}`, { reason: u.reason, at: u.at });
    if (this.variablesActive.has(addr)) return;
    this.variablesActive.add(addr);
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
      this.variablesActive.delete(addr);
    }
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
          if (!this.convention.callClobbers.has(l.r)) return [l];
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

function sameDst(dst: number | { base: number; disp: number; size?: number }, l: Loc): 'same' | 'partial' | 'no' {
  if (typeof dst === 'number') return 'r' in l && l.r === dst ? 'same' : 'no';
  if ('r' in l || l.s !== dst.base) return 'no';
  if (dst.disp === l.d) return 'same';
  return dst.disp < l.d + SLOT_BYTES && l.d < dst.disp + (dst.size ?? 8) ? 'partial' : 'no';
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
  // `out` is applyBare's own array; `l` itself already carries xf (kept as is: no copy per step).
  for (let k = 0; k < out.length; k++) {
    const o = out[k];
    if (typeof o === 'number') out[k] = finish(l, o);
    else if (typeof o !== 'string' && o !== l) out[k] = { ...o, xf };
  }
  return out;
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
