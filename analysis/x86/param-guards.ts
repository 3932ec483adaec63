import { Code } from 'iced-x86';
import type { Effect, FlagSetter, XfOp } from './effects';
import type { BackwardFlow } from './dataflow';
import { K, endsFlow, type Program } from './program';
import { CALLER_SAVED, CALLEE_SAVED, GPR_NAMES, RAX, RBP, RCX, RSP, R11 } from './registers';
import type { CodeAnalysis } from './code-analysis';
import type { Gpr } from './types';

/**
 * Parameter-guarded items (issue 26): a bounded forward scan of each function from its
 * entry that knows, at every instruction, which locations (registers, frame slots) hold
 * an argument register's entry value — bit by bit: `flags | GLOB_ONLYDIR` still holds
 * flags' other bits — or a word loaded through one before anything could store to
 * memory, and which conditions on those values hold on EVERY path from the entry
 * (`test`/`and`/`cmp` with an immediate, or `test r,r`, right before a `je`/`jne`).
 * Every call, tail jump and syscall instruction gets the set of conditions that hold
 * there, and every call the constants (or the caller's own unchanged entry values) in
 * its argument registers. The summary (analysis/summary/param-guards.ts) groups them by
 * item. The instruction effects are the backward walk's (effects.ts); only their
 * direction is new.
 *
 * Sound by construction: a meet over all paths (facts: intersection; values: what every
 * path agrees on), blocks entered in ways the scan does not see (an inner entry, a jump
 * from another function, no predecessor at all: a landing pad) start with nothing
 * known, and a function the scan cannot follow (a jump table, too long, no fixpoint in
 * the visit budget) gets nothing.
 */

/** Instructions per function scan; longer functions get no guards (and no call values). */
export const MAX_SCAN_INSNS = 4096;
/** Distinct guards per function; past it the function gets none. */
export const MAX_GUARDS = 16;
/** Constants per argument register at a call (more: unknown). */
export const MAX_VALUES = 8;
/** Block visits per block before the scan gives up (a lattice this shallow settles long before). */
const VISITS_PER_BLOCK = 24;

/** The six SysV argument registers, in order. */
export const ARG_REGS: number[] = [7, 6, 2, 1, 8, 9];

const ALL = 0xffffffff;
const popcount = (x: number): number => {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
};

/**
 * What a location holds, as far as every path agrees:
 * - `c`: one of these constants (low 32 bits, unsigned);
 * - `src`: built from a source value (an argument register's entry value, or a word
 *   loaded through one: `fieldSource`) bit by bit over the low 32 bits: bits in `eq` are
 *   the source's, in `one` are 1, in `zero` are 0, the rest unknown; `hi` says what the
 *   upper 32 bits are (0 unknown, 1 the source's, 2 zero). `lw` is the loaded width of a
 *   field (0 for a register);
 * - `fa`: may be a frame address (from `mov %rsp,%reg`), as low as this offset from
 *   %rsp at entry (-Infinity: anywhere). Where it goes (a call, a store) the frame from
 *   there up may be written by others.
 */
type Val = { c: number[] } | { src: number; eq: number; one: number; zero: number; hi: 0 | 1 | 2; lw: number } | { fa: number };

/** A frame slot: `size` bytes at an offset from %rsp at entry. */
interface SlotVal {
  size: number;
  v: Val;
}

interface State {
  regs: (Val | undefined)[];
  slots: Map<number, SlotVal>;
  /** %rsp - entry %rsp, or undefined once it moved by an unknown amount (alloca). */
  rsp: number | undefined;
  /** When %rbp is a frame pointer: %rbp - entry %rsp. */
  fp: number | undefined;
  /** No store to memory outside the frame, no call, no syscall on any path so far. */
  clean: boolean;
  /** Lowest frame offset whose address the code has taken on some path (Infinity: none). */
  escape: number;
  /** Conditions (fact ids) that hold on every path. Sorted. */
  facts: number[];
}

/** A condition on a source value: the contract's `c`, for the value `src`. */
export interface Fact {
  src: number;
  op: 'and-nz' | 'and-z' | 'eq' | 'ne';
  k: number;
  /** Tested width for a field (w bytes). */
  w?: 1 | 2 | 4 | 8;
}

/** A source value: an argument register, or the w-byte word at [its entry value + off]. */
export interface Source {
  p: Gpr;
  off?: number;
}

/** An argument register's value at a call: one of the constants `v` or (on other paths) the caller's own entry value of `from`. */
export interface ArgValue {
  v?: number[];
  from?: Gpr;
}

/** One instruction that makes an item: the conditions that hold whenever it makes it. */
export interface ItemInsn {
  at: number;
  kind: 'call' | 'jump' | 'syscall';
  /** Direct target (function start, address inside one, or PLT stub); absent for syscalls. */
  target?: number;
  facts: number[];
  /** Argument registers with a known value (calls and jumps only), by register index. */
  args?: Map<number, ArgValue>;
}

export interface FunctionScan {
  items: ItemInsn[];
}

export interface GuardScan {
  /** Per function start: its item instructions; absent when the function was not scanned (nothing is guarded there, no call value known). */
  byFunction: Map<number, FunctionScan>;
  facts: Fact[];
  sources: Source[];
  /** Why functions were not scanned, by reason: for reports. */
  skipped: Map<string, number>;
}

export interface GuardScanOptions {
  /** Functions (by start) not to scan. */
  noScan?: ReadonlySet<number>;
  /**
   * Track words read through an argument (default true). Only a library value model gives
   * such a word a value (analysis/link/value-models.ts), so an object none applies to
   * spends the scan on tests nothing can decide.
   */
  fieldGuards?: boolean;
}

/** Scans every function of an analysed object (see the file comment). */
export function scanGuards(a: CodeAnalysis, flow: BackwardFlow, opts: GuardScanOptions = {}): GuardScan {
  const noScan = opts.noScan ?? new Set<number>();
  const fields = opts.fieldGuards ?? true;
  const out: GuardScan = { byFunction: new Map(), facts: [], sources: [], skipped: new Map() };
  const ctx = new Interner(out, fields);
  const prog = a.program;
  // Functions holding entries the scan cannot see (data-derived starts settled inside, second decodings' edges).
  const holders = new Set(a.innerEntries.values());
  const jumpsIn = jumpMarks(prog);
  const blocks = new BlockGraph();
  const setters = new SetterLook(prog.n);
  for (let f = 0; f < prog.functions.length; f++) {
    const fn = prog.functions[f];
    const skip = (why: string): void => {
      out.skipped.set(why, (out.skipped.get(why) ?? 0) + 1);
    };
    if (fn.last === fn.first) continue;
    if (noScan.has(fn.addr)) { skip('not asked for'); continue; }
    if (holders.has(fn.addr)) { skip('settled inner entry'); continue; }
    if (fn.last - fn.first > MAX_SCAN_INSNS) { skip('too long'); continue; }
    if (!hasItem(prog, f, fn.first, fn.last)) continue;
    const tests = argumentTests(prog, fn.first, fn.last, flow, fields, setters);
    if (!tests.length) { skip('tests no argument'); continue; }
    const lastTest = closedUnderBackJumps(prog, fn.first, fn.last, tests[tests.length - 1].setter);
    const r = new FunctionScanner(prog, f, flow, a.noReturn, a.plt, ctx, lastTest, new Set(tests.map((t) => t.jcc)), jumpsIn, setters, blocks).run();
    if (typeof r === 'string') skip(r);
    else out.byFunction.set(fn.addr, r);
  }
  return out;
}

const isArg = (r: number | undefined): boolean => r !== undefined && ARG_REGS.includes(r);

/** jumpMarks: a direct jmp/jcc from another function lands on the instruction. */
const FROM_OUTSIDE = 1;
/** jumpMarks: a direct jmp/jcc from the instruction's own function lands on it. */
const FROM_INSIDE = 2;
/** By the decode's target array (a decode that grows or joins arrays replaces it). */
const jumpMarksOf = new WeakMap<Float64Array, Uint8Array>();

/** Per instruction: where direct jumps to it come from (FROM_OUTSIDE, FROM_INSIDE): jumpSources per instruction, for the per-function looks. */
function jumpMarks(prog: Program): Uint8Array {
  let marks = jumpMarksOf.get(prog.target);
  if (marks && marks.length === prog.n) return marks;
  marks = new Uint8Array(prog.n);
  for (let i = 0; i < prog.n; i++) {
    const k = prog.kind[i];
    if (k !== K.JMP && k !== K.JCC) continue;
    const t = prog.targetIndex(i);
    if (t >= 0) marks[t] |= prog.fnOf[t] === prog.fnOf[i] ? FROM_INSIDE : FROM_OUTSIDE;
  }
  jumpMarksOf.set(prog.target, marks);
  return marks;
}

/**
 * The tracked region [first, last] grown until no jump from beyond it lands in it: a loop
 * that runs past the last test and back would otherwise bring "nothing known" to its head
 * and lose what the entry path knew there.
 */
function closedUnderBackJumps(prog: Program, first: number, end: number, last: number): number {
  for (let grown = true; grown; ) {
    grown = false;
    for (let i = last + 1; i < end; i++) {
      const k = prog.kind[i];
      if (k !== K.JMP && k !== K.JCC) continue;
      const t = prog.target[i];
      if (t >= prog.addr[first] && t <= prog.addr[last]) { last = i; grown = true; }
    }
  }
  return last;
}

/** Instructions at a function's start looked at for copies of argument registers (argumentTests). */
const HOME_WINDOW = 48;

/**
 * A cheap look (decoding, no register-use tables) at whether a function can test an
 * argument at all: some `je`/`jne` whose flags come from a test/and/cmp of an argument
 * register, of a register loaded or copied from one in the few instructions before, or
 * of memory through one — or the same through a callee-saved register or frame slot
 * the function copies an argument register into (where compilers keep and spill them).
 * Most functions test only what they computed or called for; the full scan (every
 * instruction's effect) is spent on the others. Skipping a function only loses guards.
 * Returns each such test, its conditional jump and flag setter, in address order: past the
 * last setter the scan tracks no value (no condition can arise there; facts already
 * holding travel on), and a function where no item lies behind one of the jumps is not
 * run at all (FunctionScanner.itemBehindTest).
 */
function argumentTests(prog: Program, first: number, last: number, flow: BackwardFlow, fields: boolean, setters: SetterLook): { jcc: number; setter: number }[] {
  const fx = flow.effects;
  let homes: { regs: Set<number>; frame: boolean } | undefined;
  const argHome = (r: number | undefined): boolean => {
    if (r === undefined) return false;
    if (isArg(r)) return true;
    if (!homes) {
      homes = { regs: new Set(), frame: false };
      // Compilers save arguments in the prologue: only its first instructions are looked at.
      for (let i = first; i < last && i < first + HOME_WINDOW; i++) {
        if (prog.kind[i] !== K.NEXT) continue;
        const m = fx.moveShape(prog.addr[i]);
        if (!m || !isArg(m.srcReg)) continue;
        if (m.toFrame) homes.frame = true;
        else if (m.dst !== undefined && CALLEE_SAVED.has(m.dst)) homes.regs.add(m.dst);
      }
    }
    return homes.regs.has(r) || ((r === RSP || r === RBP) && homes.frame);
  };
  // A word read through an argument counts only before anything could store to memory:
  // in address order, before the first call (a cheap stand-in for "on every path").
  let firstCall = last;
  for (let i = first; i < last; i++) if (prog.kind[i] === K.CALL || prog.kind[i] === K.CALL_IND || prog.kind[i] === K.SYSCALL) { firstCall = i; break; }
  const tests: { jcc: number; setter: number }[] = [];
  const found = (jcc: number, setter: number): void => {
    tests.push({ jcc, setter });
  };
  const fieldBase = (b: number | undefined, at: number): boolean => b !== undefined && (b === RSP || b === RBP ? argHome(b) : fields && at < firstCall && argHome(b));
  for (let j = first + 1; j < last; j++) {
    if (prog.kind[j] !== K.JCC || prog.kind[j - 1] !== K.NEXT || !isJeJne(prog.code[j])) continue;
    const at = flagSetterBefore(prog, flow, first, j);
    const s = at === undefined ? undefined : fx.flagSetter(prog.addr[at]);
    setters.keep(j, at);
    // `test %rdi,%rdi`: a pointer's null check, everywhere; what callers pass there is rarely a constant.
    if (!s || (s.self && s.width === 8)) continue;
    if (!('reg' in s.a)) {
      if (fieldBase(s.a.base, at!)) found(j, at!);
      continue;
    }
    const r = s.a.reg;
    if (argHome(r)) { found(j, at!); continue; }
    for (let k = at! - 1; k >= first && k >= at! - 7 && prog.kind[k] === K.NEXT; k--) {
      const m = fx.moveShape(prog.addr[k]);
      if (!m || m.dst !== r) continue;
      if (argHome(m.srcReg) || fieldBase(m.srcBase, k)) found(j, at!);
      break;
    }
  }
  return tests;
}

const isJeJne = (c: number): boolean => c === Code.Je_rel8_64 || c === Code.Je_rel32_64 || c === Code.Jne_rel8_64 || c === Code.Jne_rel32_64;

/**
 * Per `je`/`jne` argumentTests looked at (by instruction index): the instruction setting its
 * flags, found once for both looks (the scan decodes the setters of the few functions it
 * runs; keeping every shape for the others cost more than that).
 */
class SetterLook {
  /** j minus its setter's index; 0: not looked at; -1: no setter. */
  private readonly gap: Int8Array;
  constructor(n: number) {
    this.gap = new Int8Array(n);
  }

  keep(j: number, at: number | undefined): void {
    this.gap[j] = at === undefined ? -1 : j - at;
  }

  /** The setter argumentTests found for j (undefined: none), or null when it did not look. */
  setterOf(j: number): number | undefined | null {
    const g = this.gap[j];
    return g === 0 ? null : g < 0 ? undefined : j - g;
  }
}

/** Instructions that leave the flags alone looked over between a conditional jump and the instruction setting its flags. */
const MAX_FLAG_GAP = 4;

/**
 * The instruction whose flags the conditional jump j reads: the last one before it that
 * may write flags, over moves/push/pop (effects.ts keepsFlags), all in straight-line code
 * (no jump lands between them, so the flags are that instruction's on every way in).
 */
function flagSetterBefore(p: Program, flow: BackwardFlow, first: number, j: number): number | undefined {
  for (let k = j - 1, gap = 0; k >= first && gap <= MAX_FLAG_GAP; k--, gap++) {
    const at = k + 1;
    if (p.isJumpTarget(at) || p.isInnerEntry(at) || p.kind[k] !== K.NEXT) return undefined;
    if (!flow.effects.keepsFlags(p.addr[k], p.code[k])) return k;
  }
  return undefined;
}

/**
 * Whether the jmp/jcc at i leaves function f (whose first instruction is `first`): a
 * target outside it, an unknown one, or f's own entry (entering there again, like a
 * call) makes an item; any other target is a jump within the function.
 */
function jumpLeaves(prog: Program, i: number, f: number, first: number): boolean {
  const t = prog.targetIndex(i);
  return t < 0 || prog.fnOf[t] !== f || t === first;
}

/** Whether the function makes an item a guard can hold back: a direct call, a syscall instruction, a jump out of it. */
function hasItem(prog: Program, f: number, first: number, last: number): boolean {
  for (let i = first; i < last; i++) {
    const k = prog.kind[i];
    if (k === K.CALL || k === K.SYSCALL) return true;
    if ((k === K.JMP || k === K.JCC) && jumpLeaves(prog, i, f, first)) return true;
  }
  return false;
}

class Interner {
  private factIds = new Map<string, number>();
  private srcIds = new Map<string, number>();
  constructor(
    private out: GuardScan,
    /** Words read through an argument are sources (GuardScanOptions.fieldGuards). */
    readonly fields: boolean,
  ) {
    for (const r of ARG_REGS) this.source(GPR_NAMES[r]);
  }

  private fieldVals = new Map<number, Map<number, Val>>();

  /** The value a field load gives (shared: values are never changed in place). */
  fieldVal(argIdx: number, off: number, size: number): Val {
    const key = off * 16 + size;
    let m = this.fieldVals.get(argIdx);
    if (!m) this.fieldVals.set(argIdx, (m = new Map()));
    let v = m.get(key);
    if (!v) {
      const src = this.source(GPR_NAMES[ARG_REGS[argIdx]], off);
      const mask = size >= 4 ? ALL : (1 << (size * 8)) - 1;
      v = { src, eq: mask, one: 0, zero: ~mask >>> 0, hi: size === 8 ? 1 : 2, lw: size };
      m.set(key, v);
    }
    return v;
  }

  /** Source id of an argument register (its index in ARG_REGS) or of a field through one. */
  source(p: Gpr, off?: number): number {
    const key = off === undefined ? p : `${p}+${off}`;
    let id = this.srcIds.get(key);
    if (id === undefined) {
      id = this.out.sources.length;
      this.out.sources.push(off === undefined ? { p } : { p, off });
      this.srcIds.set(key, id);
    }
    return id;
  }

  fact(f: Fact): number {
    const key = `${f.src}|${f.op}|${f.k}|${f.w ?? 0}`;
    let id = this.factIds.get(key);
    if (id === undefined) {
      id = this.out.facts.length;
      this.out.facts.push(f);
      this.factIds.set(key, id);
    }
    return id;
  }
}

const NO_FACTS: readonly number[] = Object.freeze([]);
/** BlockGraph.flags: entered in a way the scan does not see (inner entry, jump from another function, no predecessor). */
const UNKNOWN_ENTRY = 1;
/** BlockGraph.flags: nop padding nothing jumps to, never runs. */
const DEAD = 2;

/**
 * One function's basic blocks, in flat arrays sized for the longest function scanned and
 * reused from one function to the next: building blocks as objects took a tenth of the
 * guard scan's time, most of it allocation.
 */
class BlockGraph {
  n = 0;
  /** Block b is the instructions [start[b], start[b + 1]); start[n] is the function's end. */
  readonly start = new Int32Array(MAX_SCAN_INSNS + 1);
  /** Two successors per block (block indexes, -1: none). */
  readonly succ = new Int32Array(2 * MAX_SCAN_INSNS);
  /** Per successor slot: the facts its edge adds (the jump's condition arrays, filled as the scan runs). */
  readonly edgeFacts: (readonly number[])[] = new Array(2 * MAX_SCAN_INSNS).fill(NO_FACTS);
  readonly preds = new Int32Array(MAX_SCAN_INSNS);
  readonly flags = new Uint8Array(MAX_SCAN_INSNS);
  /** Block index by instruction index - the function's first (leaders only). */
  readonly at = new Int32Array(MAX_SCAN_INSNS);
  readonly leader = new Uint8Array(MAX_SCAN_INSNS);
}

class FunctionScanner {
  private readonly fn;
  private readonly items = new Map<number, ItemInsn>();
  /** Effects by instruction (blocks run several times until the fixpoint). */
  private readonly effs: (Effect | undefined)[] = [];

  constructor(
    private prog: Program,
    private f: number,
    private flow: BackwardFlow,
    private noReturn: Set<number>,
    private plt: Map<number, string>,
    private ctx: Interner,
    /** The last flag setter that may test an argument: values are tracked up to it only. */
    private lastTest: number,
    /** The conditional jumps argumentTests found testing an argument. */
    private tests: ReadonlySet<number>,
    /** Per instruction of the object: where direct jumps to it come from (jumpMarks). */
    private jumpsIn: Uint8Array,
    /** The flag setters argumentTests already found. */
    private setterLook: SetterLook,
    /** The block arrays, this function's once buildBlocks ran. */
    private g: BlockGraph,
  ) {
    this.fn = prog.functions[f];
    this.hasPending = new Uint8Array(this.fn.last - this.fn.first);
  }

  run(): FunctionScan | string {
    const built = this.buildBlocks();
    if (built) return built;
    if (!this.itemBehindTest()) return 'no item behind an argument test';
    const g = this.g;
    const n = g.n;
    const inState: (State | undefined)[] = new Array(n);
    inState[0] = this.entryState();
    const queued = new Uint8Array(n);
    let pending = 0;
    const push = (b: number): void => {
      if (!queued[b]) { queued[b] = 1; pending++; }
    };
    push(0);
    for (let b = 1; b < n; b++) {
      if (g.flags[b] & UNKNOWN_ENTRY) {
        inState[b] = bottomState();
        push(b);
      }
    }
    let visits = 0;
    // Rounds in address order: compiled code is laid out mostly top-down, so a round
    // settles most blocks and loops take a few more.
    for (let b = 0; ; b = b + 1 < n ? b + 1 : 0) {
      if (pending === 0) {
        const u = this.firstUnvisited(inState);
        if (u < 0) break;
        inState[u] = bottomState();
        push(u);
        b = u;
      }
      if (!queued[b]) continue;
      queued[b] = 0;
      pending--;
      if (++visits > VISITS_PER_BLOCK * n) return 'no fixpoint within the visit budget';
      const bFirst = g.start[b];
      const bLast = g.start[b + 1];
      const st = cloneState(inState[b]!);
      // Nothing holds an entry value any more, or no argument test lies ahead in the code: no
      // condition can arise on this path, only the ones already holding travel on. The items
      // are recorded, no effect decoded.
      let live = bFirst <= this.lastTest && holdsSource(st);
      // Effects are not applied from here on: whatever the state held is no longer known.
      if (!live) dropSources(st);
      for (let i = bFirst; i < bLast; i++) {
        if (live && i > this.lastTest) {
          dropSources(st);
          live = false;
        }
        if (!live) {
          this.itemOnly(i, st);
          continue;
        }
        const r = this.step(i, st);
        if (r) return r;
      }
      for (let k = 2 * b; k < 2 * b + 2; k++) {
        const s = g.succ[k];
        if (s < 0) break;
        const ef = g.edgeFacts[k];
        const out = ef.length ? { ...st, facts: unionSorted(st.facts, ef) } : st;
        const prev = inState[s];
        if (!prev) {
          inState[s] = cloneState(out);
          push(s);
        } else if (meetInto(prev, out)) push(s);
      }
    }
    return { items: [...this.items.values()].sort((x, y) => x.at - y.at) };
  }

  /**
   * Whether some item can be made only on paths through an edge of an argument test: a
   * fact holds at an item only if every path there passes an edge that establishes it,
   * and the tests argumentTests found are where facts arise (tests it missed may add
   * some; skipping for them only loses guards). False: the scan could guard nothing.
   */
  private itemBehindTest(): boolean {
    const p = this.prog;
    const g = this.g;
    const n = g.n;
    const leaves = (i: number): boolean => jumpLeaves(p, i, this.f, this.fn.first);
    const makesItem = (b: number): boolean => {
      for (let i = g.start[b]; i < g.start[b + 1]; i++) {
        const k = p.kind[i];
        if (k === K.CALL || k === K.SYSCALL || ((k === K.JMP || k === K.JCC) && leaves(i))) return true;
      }
      return false;
    };
    const walk = (roots: number[], skipTests: boolean): Uint8Array => {
      const seen = new Uint8Array(n);
      const stack: number[] = [];
      for (const r of roots) if (!seen[r]) { seen[r] = 1; stack.push(r); }
      while (stack.length) {
        const b = stack.pop()!;
        if (skipTests && this.tests.has(g.start[b + 1] - 1)) continue;
        for (let k = 2 * b; k < 2 * b + 2; k++) {
          const s = g.succ[k];
          if (s >= 0 && !seen[s]) { seen[s] = 1; stack.push(s); }
        }
      }
      return seen;
    };
    const roots = [0];
    for (let b = 1; b < n; b++) if (g.flags[b] & UNKNOWN_ENTRY) roots.push(b);
    // Blocks no way in reaches are run from nothing known (firstUnvisited): roots too.
    const all = walk(roots, false);
    for (let b = 1; b < n; b++) if (!all[b] && !(g.flags[b] & DEAD)) roots.push(b);
    const free = walk(roots, true);
    for (let b = 0; b < n; b++) {
      if (g.flags[b] & DEAD) continue;
      if (!free[b] && makesItem(b)) return true;
      // A tested jump out of the function: an item under its own test's taken edge.
      const j = g.start[b + 1] - 1;
      if (this.tests.has(j) && p.kind[j] === K.JCC && leaves(j)) return true;
    }
    return false;
  }

  /** Blocks nothing the scan follows reaches (a loop entered only from a landing pad): entered with nothing known. */
  private firstUnvisited(inState: (State | undefined)[]): number {
    for (let b = 0; b < inState.length; b++) if (!inState[b] && !(this.g.flags[b] & DEAD)) return b;
    return -1;
  }

  private entryState(): State {
    const regs: (Val | undefined)[] = new Array(16).fill(undefined);
    ARG_REGS.forEach((r, k) => { regs[r] = { src: k, eq: ALL, one: 0, zero: 0, hi: 1, lw: 0 }; });
    return { regs, slots: new Map(), rsp: 0, fp: undefined, clean: true, escape: Infinity, facts: [] };
  }

  /** Cuts the function into blocks; a reason string when the scan cannot follow it. */
  private buildBlocks(): string | undefined {
    const p = this.prog;
    const g = this.g;
    const { first, last } = this.fn;
    const len = last - first;
    const leader = g.leader;
    leader.fill(0, 0, len);
    leader[0] = 1;
    const inside = (i: number): boolean => i >= first && i < last;
    for (let i = first; i < last; i++) {
      const k = p.kind[i];
      if (k === K.JMP_IND && !this.isEpilogueJump(i)) return 'indirect jump (jump table)';
      if (k === K.JMP || k === K.JCC) {
        const t = p.targetIndex(i);
        if (inside(t) && p.fnOf[t] === this.f) leader[t - first] = 1;
      }
      if ((endsFlow(k) || k === K.JCC || k === K.CALL || k === K.CALL_IND || k === K.SYSCALL || k === K.OTHER) && i + 1 < last) leader[i + 1 - first] = 1;
      if (i > first && p.isInnerEntry(i)) leader[i - first] = 1;
    }
    let n = 0;
    for (let i = first; i < last; i++) if (leader[i - first]) { g.at[i - first] = n; g.start[n++] = i; }
    g.start[n] = last;
    g.n = n;
    g.succ.fill(-1, 0, 2 * n);
    g.edgeFacts.fill(NO_FACTS, 0, 2 * n);
    g.preds.fill(0, 0, n);
    g.flags.fill(0, 0, n);
    for (let b = 0; b < n; b++) {
      const j = g.start[b + 1] - 1;
      const k = p.kind[j];
      let slot = 2 * b;
      const addSucc = (i: number, facts: readonly number[]): void => {
        const s = g.at[i - first];
        g.succ[slot] = s;
        g.edgeFacts[slot++] = facts;
        g.preds[s]++;
      };
      const fallsThrough = !endsFlow(k) && !(k === K.CALL && this.noReturn.has(p.target[j]));
      const t = k === K.JMP || k === K.JCC ? p.targetIndex(j) : -1;
      const jumpIn = inside(t) && p.fnOf[t] === this.f && t !== this.fn.first;
      const cond = k === K.JCC && (jumpIn || !inside(t)) ? this.edgeConditions(j) : undefined;
      if (k === K.JCC && jumpIn && t === j + 1) {
        addSucc(t, NO_FACTS); // both edges go to the next instruction
        continue;
      }
      if (jumpIn) addSucc(t, cond?.taken ?? NO_FACTS);
      else if ((k === K.JMP || k === K.JCC) && inside(t) && t === this.fn.first) addSucc(t, NO_FACTS); // a loop back to the entry: no condition kept
      if (fallsThrough && j + 1 < last) addSucc(j + 1, cond?.fall ?? NO_FACTS);
      if (cond) this.jccFacts.set(j, cond);
    }
    // Entered where the scan cannot see: a call target or data-derived entry inside, a
    // jump from another function, or no predecessor at all (a landing pad).
    for (let b = 1; b < n; b++) {
      const i = g.start[b];
      if (g.preds[b] === 0 && !p.isInnerEntry(i) && !p.isJumpTarget(i) && this.allNops(i, g.start[b + 1])) g.flags[b] = DEAD; // padding between functions' parts
      else if (g.preds[b] === 0 || p.isInnerEntry(i) || this.jumpsIn[i] & FROM_OUTSIDE) g.flags[b] = UNKNOWN_ENTRY;
    }
    return undefined;
  }

  private allNops(from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (this.prog.kind[i] !== K.NEXT || !this.flow.effects.isNop(this.prog.addr[i], this.prog.code[i])) return false;
    return true;
  }

  /** Edge conditions per conditional jump index, for items made by the jump itself (a conditional tail call). */
  private jccFacts = new Map<number, { taken: number[]; fall: number[] }>();
  /** Per flag setter index: its shape (decoded once). */
  private setters = new Map<number, FlagSetter | undefined>();
  /** The conditions each edge of jcc j implies, filled when the block before it runs (they depend on the state). */
  private pending = new Map<number, { taken: number[]; fall: number[] }>();
  private hasPending!: Uint8Array;

  /** Placeholder edge facts, resolved per state in step(): see condFor. */
  private edgeConditions(j: number): { taken: number[]; fall: number[] } | undefined {
    const p = this.prog;
    const jc = p.code[j];
    // The edge that runs with ZF set (effects.ts zeroFlagEdge, from the Code the decode kept).
    const e = jc === Code.Je_rel8_64 || jc === Code.Je_rel32_64 ? 'taken' : jc === Code.Jne_rel8_64 || jc === Code.Jne_rel32_64 ? 'fall' : undefined;
    if (!e || j === this.fn.first || p.isInnerEntry(j)) return undefined;
    const looked = this.setterLook.setterOf(j);
    const at = looked === null ? flagSetterBefore(p, this.flow, this.fn.first, j) : looked;
    if (at === undefined) return undefined;
    let s = this.setters.get(at);
    if (!this.setters.has(at)) this.setters.set(at, (s = this.flow.effects.flagSetter(p.addr[at])));
    if (!s) return undefined;
    // The facts depend on the state before the setter: step() fills them in (same arrays).
    const c = { taken: [] as number[], fall: [] as number[] };
    this.pending.set(at, c);
    this.hasPending[at - this.fn.first] = 1;
    (c as { zfTaken?: boolean }).zfTaken = e === 'taken';
    return c;
  }

  /** An indirect jump right after a callee-saved register's restore is a tail call (dataflow.ts isEpilogueJump). */
  private isEpilogueJump(j: number): boolean {
    const p = this.prog;
    if (j <= this.fn.first || p.isInnerEntry(j) || p.kind[j - 1] !== K.NEXT) return false;
    if (p.isJumpTarget(j)) return false;
    const e = this.flow.effects.effect(p.addr[j - 1]);
    return e.op === 'pop' && CALLEE_SAVED.has(e.dst);
  }

  /** Applies instruction i to `st`; records items. A reason string aborts the scan. */
  private step(i: number, st: State): string | undefined {
    const p = this.prog;
    const k = p.kind[i];
    if (this.hasPending[i - this.fn.first]) this.fillConditions(i, st, this.pending.get(i)!);
    switch (k) {
      case K.CALL:
      case K.CALL_IND: {
        if (k === K.CALL) this.item(i, 'call', st, p.target[i]);
        for (const r of CALLER_SAVED) st.regs[r] = undefined;
        this.memoryMayChange(st);
        return undefined;
      }
      case K.SYSCALL:
        this.item(i, 'syscall', st);
        st.regs[RAX] = st.regs[RCX] = st.regs[R11] = undefined;
        this.memoryMayChange(st);
        return undefined;
      case K.JMP:
      case K.JCC: {
        // loop/loope/loopne count %rcx down and xbegin's abort path sets %eax: branches that write.
        if (k === K.JCC) {
          const e = this.effectAt(i);
          if (e.op !== 'other' || e.writes) for (let r = 0; r < st.regs.length; r++) if (e.op !== 'other' || e.writes & (1 << r)) st.regs[r] = undefined;
        }
        if (jumpLeaves(p, i, this.f, this.fn.first)) {
          const extra = k === K.JCC ? this.jccFacts.get(i)?.taken ?? [] : [];
          this.item(i, 'jump', st, p.target[i], extra);
        }
        return undefined;
      }
      case K.JMP_IND:
      case K.RET:
      case K.STOP:
      case K.INT80:
      case K.SYSENTER:
        // int $0x80 / sysenter: sites the summary lists as unresolved, never guarded.
        if (k === K.INT80 || k === K.SYSENTER) { this.item(i, 'syscall', st); clearAll(st); }
        return undefined;
      case K.OTHER:
        clearAll(st);
        return undefined;
    }
    // cmp, test, nop and the like (as the decoder has learned of this Code): nothing to apply, nothing to decode.
    if (this.flow.effects.writesNothing(p.code[i])) return undefined;
    this.apply(this.effectAt(i), st);
    return undefined;
  }

  /** Instruction i's effect, decoded once per scan of this function (not kept in the backward walk's cache). */
  private effectAt(i: number): Effect {
    let e = this.effs[i - this.fn.first];
    if (e === undefined) this.effs[i - this.fn.first] = e = this.flow.effects.effectUncached(this.prog.addr[i]);
    return e;
  }

  /** step() for a state holding no entry value: items only (edge conditions need a value: none). */
  private itemOnly(i: number, st: State): void {
    const p = this.prog;
    const k = p.kind[i];
    if (this.hasPending[i - this.fn.first]) { const c = this.pending.get(i)!; c.taken.length = 0; c.fall.length = 0; }
    if (k === K.CALL) this.item(i, 'call', st, p.target[i]);
    else if (k === K.SYSCALL || k === K.INT80 || k === K.SYSENTER) this.item(i, 'syscall', st);
    else if (k === K.JMP || k === K.JCC) {
      if (jumpLeaves(p, i, this.f, this.fn.first)) this.item(i, 'jump', st, p.target[i], k === K.JCC ? this.jccFacts.get(i)?.taken ?? [] : []);
    }
  }

  private item(i: number, kind: ItemInsn['kind'], st: State, target?: number, extra: number[] = []): void {
    // A state's facts array is replaced, never changed in place: items may share it.
    const it: ItemInsn = { at: this.prog.addr[i], kind, facts: extra.length ? unionSorted(st.facts, extra) : st.facts };
    if (target !== undefined && !Number.isNaN(target)) {
      it.target = target;
      const args = new Map<number, ArgValue>();
      for (const r of ARG_REGS) {
        const v = st.regs[r];
        if (!v) continue;
        if ('c' in v) args.set(r, { v: v.c.slice() });
        else if ('src' in v && v.lw === 0 && v.eq === ALL) args.set(r, { from: GPR_NAMES[ARG_REGS[v.src]] });
      }
      if (args.size) it.args = args;
    }
    this.items.set(i, it);
  }

  /** Frame addresses held in registers escape (a call may read any, a store may store any). */
  private escapeHeld(st: State): void {
    for (const v of st.regs) if (v && 'fa' in v) this.escapeAt(st, v.fa);
  }

  /** A call or syscall: memory outside the frame may change, and frame slots whose address was taken. */
  private memoryMayChange(st: State): void {
    this.escapeHeld(st);
    st.clean = false;
    if (st.escape !== Infinity) for (const [o, s] of st.slots) if (o + s.size > st.escape) st.slots.delete(o);
  }

  /** Frame offset (from entry %rsp) of [base+disp], or undefined when not a known frame address. */
  private frameOff(st: State, base: number, disp: number): number | undefined {
    if (base === RSP) return st.rsp === undefined ? undefined : st.rsp + disp;
    if (base === RBP) return st.fp === undefined ? undefined : st.fp + disp;
    return undefined;
  }

  /** What a location of `size` bytes at [base+disp] holds (a slot, or a field read through an unmodified argument register). */
  private readMem(st: State, base: number, disp: number, size: number): Val | undefined {
    const off = this.frameOff(st, base, disp);
    if (off !== undefined) {
      const s = st.slots.get(off);
      if (!s || size > s.size) return undefined;
      return narrow(s.v, size);
    }
    if (base === RSP || (base === RBP && st.fp !== undefined)) return undefined;
    const b = st.regs[base];
    if (!this.ctx.fields || !st.clean || !b || !('src' in b) || b.lw !== 0 || b.eq !== ALL || b.hi !== 1) return undefined;
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return undefined;
    return this.ctx.fieldVal(b.src, disp, size);
  }

  /** A store of `size` bytes at [base+disp] (value v, or unknown). */
  private writeMem(st: State, base: number, disp: number, size: number, v: Val | undefined): void {
    const off = this.frameOff(st, base, disp);
    if (off === undefined) {
      if (base === RSP && disp < 0) return; // below an unknown %rsp (after alloca): below every fixed slot
      if (base === RSP || (base === RBP && st.fp !== undefined)) { st.slots.clear(); return; }
      // Through a pointer: memory is no longer the entry's, and escaped slots may change.
      this.memoryMayChange(st);
      return;
    }
    killOverlap(st, off, size);
    if (v) st.slots.set(off, { size, v: narrow(v, size) });
  }

  private apply(e: Effect, st: State): void {
    const regs = st.regs;
    switch (e.op) {
      case 'const':
        // Constants are not tracked here: call arguments come from localCalls / the backward walk.
        if (typeof e.dst === 'number') regs[e.dst] = undefined;
        else this.writeMem(st, e.dst.base, e.dst.disp, e.dst.size ?? 8, undefined);
        return;
      case 'copy': {
        let v: Val | undefined;
        if (typeof e.src === 'number') {
          // A frame address in a register: whatever gets it may write the frame from there up.
          if (e.src === RSP) v = st.rsp === undefined ? undefined : { fa: st.rsp }; // after alloca: the dynamic area, below every fixed slot
          else if (e.src === RBP && st.fp !== undefined) v = { fa: st.fp };
          else v = regs[e.src];
        } else v = this.readMem(st, e.src.base, e.src.disp, e.src.size ?? 8);
        if (v && 'src' in v) {
          if (e.w32) v = { ...v, hi: 2 };
          else if (e.sx) v = { ...v, hi: 0 };
        }
        if (typeof e.dst === 'number') regs[e.dst] = v;
        else {
          if (v && 'fa' in v) this.escapeAt(st, v.fa);
          this.writeMem(st, e.dst.base, e.dst.disp, e.dst.size ?? 8, v && 'fa' in v ? undefined : v);
        }
        return;
      }
      case 'xchg': {
        const t = regs[e.a];
        regs[e.a] = regs[e.b];
        regs[e.b] = t;
        return;
      }
      case 'cmov': {
        const a = regs[e.dst];
        const b = regs[e.src];
        regs[e.dst] = a && b ? meetVal(a, b) : undefined;
        return;
      }
      case 'push':
        if (st.rsp === undefined) return; // below every fixed slot
        st.rsp -= 8;
        killOverlap(st, st.rsp, 8);
        if (typeof e.src === 'number') {
          if (e.src === RSP) this.escapeAt(st, st.rsp + 8);
          const v = e.src === RSP ? undefined : regs[e.src];
          if (v && 'fa' in v) this.escapeAt(st, v.fa);
          else if (v) st.slots.set(st.rsp, { size: 8, v });
        }
        return;
      case 'pop':
        if (st.rsp === undefined) { regs[e.dst] = undefined; if (e.dst === RBP) st.fp = undefined; return; }
        regs[e.dst] = this.readMem(st, RSP, 0, 8);
        if (e.dst === RBP) st.fp = undefined;
        st.rsp += 8;
        return;
      case 'rspAdd':
        if (st.rsp !== undefined) st.rsp += e.delta;
        return;
      case 'rbpFromRsp':
        st.fp = st.rsp;
        regs[RBP] = undefined;
        return;
      case 'leave':
        if (st.fp === undefined) { st.rsp = undefined; regs[RBP] = undefined; return; }
        st.rsp = st.fp;
        st.fp = undefined;
        regs[RBP] = this.readMem(st, RSP, 0, 8);
        st.rsp += 8;
        return;
      case 'xform': {
        let v: Val | undefined;
        if (typeof e.src === 'number') v = regs[e.src];
        else v = this.readMem(st, e.src.base, e.src.disp, e.src.size ?? (e.x.f === 'ext' ? e.x.bits / 8 : 4));
        regs[e.dst] = v ? xformVal(v, e.x) : undefined;
        return;
      }
      case 'other': {
        const d = e.detail;
        let loaded: Val | undefined;
        if (d?.k === 'load') loaded = this.readMem(st, d.base, d.disp, d.size);
        let moved: Val | undefined;
        if (d?.k === 'regMove') moved = regs[d.src];
        if (d?.k === 'frameLea') {
          const off = this.frameOff(st, d.base, d.disp);
          // An indexed frame address may point anywhere in the frame; %rbp not a frame pointer: not a frame address.
          if (d.indexed && (d.base === RSP || st.fp !== undefined)) st.escape = -Infinity;
          else if (off !== undefined) this.escapeAt(st, off);
          else if (d.base === RBP && st.fp === undefined) { /* a pointer plus a constant */ }
          // %rsp after an alloca: the dynamic area, below every fixed slot (escapeAt's assumption).
        }
        // A store whose value may be a frame address held in a register.
        if (e.otherMemWrite || e.frameWrites.length) this.escapeHeld(st);
        for (let r = 0; r < 16; r++) if (e.writes & (1 << r)) regs[r] = undefined;
        if (e.writes & (1 << RSP)) st.rsp = undefined;
        if (e.writes & (1 << RBP)) st.fp = undefined;
        if (d?.k === 'load') regs[d.dst] = loaded;
        if (d?.k === 'regMove') regs[d.dst] = moved;
        if (d?.k === 'memImm' && e.frameWrites.length === 1) {
          const off = this.frameOff(st, d.base, d.disp);
          const s = off === undefined ? undefined : st.slots.get(off);
          // `orl $0x2000,-0x4b8(%rbp)` (glob's flags |= GLOB_ONLYDIR): the slot keeps the value's other bits.
          if (s && d.size <= s.size && (d.size === 1 || d.size === 2 || d.size === 4 || d.size === 8)) {
            const v = xformVal(s.v, { f: d.f, bits: d.size >= 4 ? 32 : (d.size * 8 as 8 | 16), shift: 0, imm: d.imm });
            if (v) s.v = v;
            else st.slots.delete(off!);
            return;
          }
        }
        for (const w of e.frameWrites) {
          if (Number.isNaN(w.disp)) { st.slots.clear(); continue; }
          this.writeMem(st, w.base, w.disp, w.size, undefined);
        }
        if (e.otherMemWrite) this.memoryMayChange(st);
        return;
      }
    }
  }

  private escapeAt(st: State, off: number | undefined): void {
    if (off === undefined) return; // a dynamic (alloca) address: below every fixed slot
    st.escape = Math.min(st.escape, off);
  }

  /** The conditions each edge of the jcc after setter i implies, from the state before i. */
  private fillConditions(i: number, st: State, out: { taken: number[]; fall: number[] }): void {
    out.taken.length = 0;
    out.fall.length = 0;
    const s = this.setters.get(i);
    if (!s) return;
    let v: Val | undefined;
    if ('reg' in s.a) {
      const r = st.regs[s.a.reg];
      v = r && s.a.high8 ? shiftDown8(r) : r;
    } else v = this.readMem(st, s.a.base, s.a.disp, s.width);
    if (!v || !('src' in v)) return;
    const conds = zfConditions(s, v);
    if (!conds) return;
    const zfTaken = (out as { zfTaken?: boolean }).zfTaken;
    const id = (f: Omit<Fact, 'src'>) => this.ctx.fact({ src: v.src, ...f });
    const zf = conds.zf ? [id(conds.zf)] : [];
    const nz = conds.nz ? [id(conds.nz)] : [];
    out.taken.push(...(zfTaken ? zf : nz));
    out.fall.push(...(zfTaken ? nz : zf));
  }
}

/** ZF-set and ZF-clear conditions of a flag setter on a tracked value (src bits). */
function zfConditions(s: FlagSetter, v: Extract<Val, { src: number }>): { zf?: Omit<Fact, 'src'>; nz?: Omit<Fact, 'src'> } | undefined {
  const cwMask = s.width >= 4 ? ALL : (1 << (s.width * 8)) - 1;
  // Whether the upper 32 bits take part (a 64-bit operation) and are known zero.
  const hiMatters = s.width === 8;
  const hiZero = v.hi === 2;
  const w = v.lw ? (Math.min(v.lw, s.width, 4) as 1 | 2 | 4) : undefined;
  const fw = w ? { w } : {};
  if (s.f === 'cmp') {
    const k = (s.imm ?? 0) >>> 0;
    if (k === 0 && !s.immNeg) return testConditions(cwMask, hiMatters, hiZero, v, fw);
    // value == k over the compared width: only when the compared bits are all the source's.
    if (((v.eq & cwMask) >>> 0) !== cwMask >>> 0) return undefined;
    if (v.lw && s.width > v.lw) return undefined;
    const wq = v.lw ? { w: Math.min(s.width, 4) as 1 | 2 | 4 } : {};
    const zf = { op: 'eq' as const, k, ...wq };
    // 64-bit: unequal may differ only in the upper half, unless both upper halves are zero.
    const nzOk = !hiMatters || (hiZero && !s.immNeg);
    if (s.width < 4 && !v.lw) return undefined; // a register's low byte/word says nothing of the register
    return { zf, ...(nzOk ? { nz: { op: 'ne' as const, k, ...wq } } : {}) };
  }
  if (s.self) return testConditions(cwMask, hiMatters, hiZero, v, fw);
  const k = ((s.imm ?? 0) & cwMask) >>> 0;
  return maskConditions(k, hiMatters && !!s.immNeg, hiZero, v, fw);
}

function testConditions(cwMask: number, hiMatters: boolean, hiZero: boolean, v: Extract<Val, { src: number }>, fw: object) {
  return maskConditions(cwMask >>> 0, hiMatters, hiZero, v, fw);
}

/** ZF set ⟺ (value & k) == 0, k over the low 32 bits (`hiK`: the upper half is tested too). */
function maskConditions(k: number, hiK: boolean, hiZero: boolean, v: Extract<Val, { src: number }>, fw: object): { zf?: Omit<Fact, 'src'>; nz?: Omit<Fact, 'src'> } | undefined {
  if (k === 0) return undefined;
  const known = (k & v.eq) >>> 0;
  const ones = (k & v.one) >>> 0;
  const unknown = (k & ~(v.eq | v.one | v.zero)) >>> 0;
  const out: { zf?: Omit<Fact, 'src'>; nz?: Omit<Fact, 'src'> } = {};
  // ZF set: every tested bit is 0, so the source's tested bits are 0.
  if (known && !ones) out.zf = { op: 'and-z', k: known, ...fw };
  // ZF clear: some tested bit is 1; it is one of the source's only if no other bit can be.
  if (known && !ones && !unknown && (!hiK || hiZero)) out.nz = { op: 'and-nz', k: known, ...fw };
  return out.zf || out.nz ? out : undefined;
}

function shiftDown8(v: Val): Val | undefined {
  if ('c' in v) return { c: v.c.map((n) => (n >>> 8) & 0xff) };
  if ('fa' in v) return undefined;
  return undefined; // %ah of a source: bits 8..15 as a byte; not modelled (rare in tests of parameters)
}

function narrow(v: Val, size: number): Val {
  if (size >= 4) return size === 4 && 'src' in v && v.hi !== 2 ? { ...v, hi: 2 } : v;
  const m = (1 << (size * 8)) - 1;
  if ('c' in v) return { c: [...new Set(v.c.map((n) => n & m))] };
  if ('fa' in v) return v;
  return { ...v, eq: v.eq & m, one: v.one & m, zero: (v.zero & m) | (~m >>> 0), hi: 2 };
}

/** `x` applied to a value (forward; effects.ts applyXf for constants). `old` is the destination's own value when the source differs (an 8/16-bit write keeps its other bits). */
function xformVal(v: Val, x: XfOp): Val | undefined {
  if ('fa' in v) return { fa: -Infinity }; // an address moved or aligned: still in the frame, anywhere
  if ('c' in v) {
    return { c: [...new Set(v.c.map((n) => applyXfU(x, n)))] };
  }
  if (x.f === 'ext') {
    const fm = (x.bits === 8 ? 0xff : 0xffff) << x.shift;
    // The field moved down to bit 0, zero- or sign-extended.
    const down = (m: number) => ((m & fm) >>> x.shift) >>> 0;
    const low = x.bits === 8 ? 0xff : 0xffff;
    if (x.shift) return undefined; // %ah as the source of bits: the source's bits 8..15 at 0..7 (not modelled)
    const ext = x.signed ? 0 : (~low >>> 0) & (x.into === 16 ? 0xffff : ALL);
    if (x.into === 16) {
      return tidy({ ...v, eq: (v.eq & ~0xffff) | down(v.eq), one: (v.one & ~0xffff) | down(v.one), zero: (v.zero & ~0xffff) | down(v.zero) | ext, hi: v.hi });
    }
    return tidy({ src: v.src, lw: v.lw, eq: down(v.eq), one: down(v.one), zero: down(v.zero) | ext, hi: x.signed ? 0 : 2 });
  }
  const fm = ((x.bits === 32 ? ALL : (1 << x.bits) - 1) << x.shift) >>> 0;
  const imm = ((x.imm << x.shift) & fm) >>> 0;
  let { eq, one, zero } = v;
  switch (x.f) {
    case 'and':
      zero = (zero | (fm & ~imm)) >>> 0;
      eq = (eq & ~(fm & ~imm)) >>> 0;
      one = (one & ~(fm & ~imm)) >>> 0;
      break;
    case 'or':
      one = (one | imm) >>> 0;
      eq = (eq & ~imm) >>> 0;
      zero = (zero & ~imm) >>> 0;
      break;
    case 'set':
      one = ((one & ~fm) | imm) >>> 0;
      zero = ((zero & ~fm) | (fm & ~imm)) >>> 0;
      eq = (eq & ~fm) >>> 0;
      break;
    default: // add, xor: the field's bits are no longer the source's
      eq = (eq & ~fm) >>> 0;
      one = (one & ~fm) >>> 0;
      zero = (zero & ~fm) >>> 0;
  }
  // A 32-bit operation zeroes the upper half, a 64-bit one changes it: unknown either way here.
  return tidy({ src: v.src, lw: v.lw, eq, one, zero, hi: x.bits === 32 ? 0 : v.hi });
}

function applyXfU(x: XfOp, n: number): number {
  // effects.ts applyXf works on signed low 32 bits.
  return applyXfLocal(x, n | 0) >>> 0;
}

import { applyXf as applyXfLocal } from './effects';

function tidy(v: Extract<Val, { src: number }>): Val | undefined {
  return v.eq === 0 && v.hi !== 1 ? (v.one | v.zero ? { ...v } : undefined) : v;
}

function meetVal(a: Val, b: Val): Val | undefined {
  if (a === b) return a;
  // May be a frame address on one path: kept as one (it must be seen where it escapes).
  if ('fa' in a || 'fa' in b) return { fa: Math.min('fa' in a ? a.fa : Infinity, 'fa' in b ? b.fa : Infinity) };
  if ('c' in a || 'c' in b) {
    if (!('c' in a) || !('c' in b)) return undefined;
    const u = [...new Set([...a.c, ...b.c])].sort((x, y) => x - y);
    return u.length > MAX_VALUES ? undefined : { c: u };
  }
  if (!('src' in a) || !('src' in b) || a.src !== b.src || a.lw !== b.lw) return undefined;
  if (sameVal(a, b)) return a;
  return tidy({ src: a.src, lw: a.lw, eq: (a.eq & b.eq) >>> 0, one: (a.one & b.one) >>> 0, zero: (a.zero & b.zero) >>> 0, hi: a.hi === b.hi ? a.hi : 0 });
}

function sameVal(a: Val | undefined, b: Val | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  if ('fa' in a || 'fa' in b) return 'fa' in a && 'fa' in b && a.fa === b.fa;
  if ('c' in a || 'c' in b) return 'c' in a && 'c' in b && a.c.length === b.c.length && a.c.every((x, k) => x === b.c[k]);
  return a.src === b.src && a.eq === b.eq && a.one === b.one && a.zero === b.zero && a.hi === b.hi && a.lw === b.lw;
}

/** a := a ⊓ b (what both paths agree on); whether a changed. */
function meetInto(a: State, b: State): boolean {
  let changed = false;
  for (let r = 0; r < 16; r++) {
    const v = a.regs[r];
    if (v === undefined) continue;
    const w = b.regs[r];
    const m = w === undefined ? undefined : meetVal(v, w);
    if (m !== v && !sameVal(m, v)) { a.regs[r] = m; changed = true; }
  }
  for (const [o, s] of a.slots) {
    const t = b.slots.get(o);
    const m = !t || t.size !== s.size ? undefined : meetVal(s.v, t.v);
    if (m === undefined) { a.slots.delete(o); changed = true; }
    else if (m !== s.v && !sameVal(m, s.v)) { a.slots.set(o, { size: s.size, v: m }); changed = true; }
  }
  if (a.rsp !== b.rsp && a.rsp !== undefined) { a.rsp = undefined; changed = true; }
  if (a.fp !== b.fp && a.fp !== undefined) { a.fp = undefined; changed = true; }
  if (a.clean && !b.clean) { a.clean = false; changed = true; }
  if (b.escape < a.escape) { a.escape = b.escape; changed = true; }
  if (a.facts.length) {
    const f = intersectSorted(a.facts, b.facts);
    if (f.length !== a.facts.length) { a.facts = f; changed = true; }
  }
  return changed;
}

function cloneState(s: State): State {
  const slots = new Map<number, SlotVal>();
  for (const [o, v] of s.slots) slots.set(o, { size: v.size, v: v.v });
  return { regs: s.regs.slice(), slots, rsp: s.rsp, fp: s.fp, clean: s.clean, escape: s.escape, facts: s.facts };
}

function bottomState(): State {
  return { regs: new Array(16).fill(undefined), slots: new Map(), rsp: undefined, fp: undefined, clean: false, escape: -Infinity, facts: [] };
}

/** Whether some register or frame slot holds (bits of) an entry value or a word read through one. */
function holdsSource(st: State): boolean {
  for (const v of st.regs) if (v && 'src' in v) return true;
  for (const s of st.slots.values()) if ('src' in s.v) return true;
  return false;
}

function dropSources(st: State): void {
  st.regs.fill(undefined);
  st.slots.clear();
}

function clearAll(st: State): void {
  st.regs.fill(undefined);
  st.slots.clear();
  st.rsp = undefined;
  st.fp = undefined;
  st.clean = false;
}

function killOverlap(st: State, off: number, size: number): void {
  for (const [o, s] of st.slots) if (o < off + size && off < o + s.size) st.slots.delete(o);
}

function unionSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = i < a.length ? a[i] : Infinity;
    const y = j < b.length ? b[j] : Infinity;
    if (x <= y) { out.push(x); i++; if (x === y) j++; }
    else { out.push(y); j++; }
  }
  return out;
}

function intersectSorted(a: number[], b: number[]): number[] {
  if (a.length === 0 || b.length === 0) return [];
  const sb = new Set(b);
  return a.filter((x) => sb.has(x));
}

/** Guards chosen per item: the strongest fact that holds at every instruction making it. */
export function bestFact(facts: Fact[], ids: number[]): number | undefined {
  let best: number | undefined;
  const rank = (f: Fact): number => (f.op === 'eq' ? 0 : f.op === 'and-nz' ? 100 + popcount(f.k) : f.op === 'ne' ? 200 : 300 + 32 - popcount(f.k));
  for (const id of ids) if (best === undefined || rank(facts[id]) < rank(facts[best])) best = id;
  return best;
}

/** Instructions looked at before a call for its constant arguments (localCalls). */
const LOCAL_WINDOW = 12;

/**
 * The calls and tail jumps of a function to targets `wanted` says matter (imports, guarded
 * callees), with the argument registers set to a constant in the straight-line code right
 * before each (`mov $imm`, `xor r,r`, copies of those), or not written since the
 * function's entry (its own entry value: `from`) — cheap and local: only what the
 * instructions since the last jump target, call or branch say. Facts are empty.
 */
export function localCalls(a: CodeAnalysis, flow: BackwardFlow, fnAddr: number, wanted: (target: number) => boolean): ItemInsn[] {
  const p = a.program;
  const f = p.functionIndexContaining(fnAddr);
  if (f === undefined || p.functions[f].addr !== fnAddr) return [];
  const fn = p.functions[f];
  // The entry is straight-line code only when nothing in the function jumps back to it.
  const entryOnce = !(jumpMarks(p)[fn.first] & FROM_INSIDE);
  const out: ItemInsn[] = [];
  for (let i = fn.first; i < fn.last; i++) {
    const k = p.kind[i];
    if (k !== K.CALL && k !== K.JMP && k !== K.JCC) continue;
    const t = p.target[i];
    if (Number.isNaN(t)) continue;
    if (k !== K.CALL && !jumpLeaves(p, i, f, fn.first)) continue; // a jump within the function
    if (!wanted(t)) continue;
    const args = localValues(p, flow, fn.first, i, entryOnce);
    out.push({ at: p.addr[i], kind: k === K.CALL ? 'call' : 'jump', target: t, facts: [], ...(args.size ? { args } : {}) });
  }
  return out;
}

/**
 * What each argument register holds just before instruction `at`, from the straight-line
 * code before it (one look back for all six); a register not known so is absent.
 */
function localValues(p: Program, flow: BackwardFlow, first: number, at: number, entryOnce: boolean): Map<number, ArgValue> {
  const args = new Map<number, ArgValue>();
  // The call itself a jump target (a call two branches share): the jump brings other values.
  // (At the function's first instruction the entry is the way in: entryOnce says whether it is the only one.)
  if (at > first && (p.isJumpTarget(at) || p.isInnerEntry(at))) return args;
  // Per argument register (by its index in ARG_REGS): the register its value is in at k, -1 once settled.
  const want = ARG_REGS.slice();
  let open = want.length;
  const settle = (a: number, v?: ArgValue): void => {
    if (v) args.set(ARG_REGS[a], v);
    want[a] = -1;
    open--;
  };
  for (let k = at - 1; open > 0; k--) {
    if (k < first) {
      for (let a = 0; a < want.length; a++) if (want[a] >= 0) settle(a, entryOnce && ARG_REGS.includes(want[a]) ? { from: GPR_NAMES[want[a]] } : undefined);
      break;
    }
    if (k < at - LOCAL_WINDOW) break;
    if (p.kind[k] !== K.NEXT) break; // the previous block's end: a call, a jump, a branch
    const e = flow.effects.effect(p.addr[k]);
    for (let a = 0; a < want.length; a++) {
      const w = want[a];
      if (w < 0) continue;
      if (e.op === 'const' && e.dst === w) settle(a, { v: [e.value >>> 0] });
      else if (e.op === 'copy' && e.dst === w) {
        if (typeof e.src !== 'number' || e.sx || e.src === RSP) settle(a);
        else want[a] = e.src;
      } else if (e.op === 'xform' || e.op === 'cmov' || e.op === 'pop') {
        if (e.dst === w) settle(a);
      } else if (e.op === 'xchg') {
        if (e.a === w || e.b === w) settle(a);
      } else if (e.op === 'leave' || e.op === 'rbpFromRsp') {
        if (w === RBP) settle(a);
      } else if (e.op === 'other' && e.writes & (1 << w)) settle(a);
    }
    // A jump target or entry here: other paths come in with other values.
    if (k > first && (p.isJumpTarget(k) || p.isInnerEntry(k))) break;
  }
  return args;
}
