import { BackwardFlow, EntryValue, FlowOptions, Loc } from './dataflow';
import type { XfOp } from './effects';
import { K, Program } from './program';
import { GPR_NAMES, RSP } from './registers';
import type { ParamLoc, SyscallSite, Unresolved } from './types';
import type { CodeAnalysis } from './code-analysis';

/** A syscall site runs with `numbers` when `caller` executes the call at `callSite`. */
export interface ParamSyscallUse {
  site: number;
  caller: number;
  callerName?: string;
  callSite: number;
  numbers: number[];
  /** Call sites from `callSite` down to the wrapper that holds the syscall (outermost first). */
  chain: number[];
}

/**
 * A wrapper entry whose parameter can be set by code this object does not show:
 * exported (an importer calls it), address-taken (indirect calls), or with no
 * direct caller at all. The importer's analysis resolves the exported case with
 * resolveImportArgs(); the others mean "any number" if the function is reachable.
 */
export interface OpenParam {
  site: number;
  entry: number;
  entryName?: string;
  loc: ParamLoc;
  /** Operations a caller's value would still need (FlowOptions.xfParams): the value is not the parameter itself. */
  xf?: XfOp[];
  why: 'exported' | 'address-taken' | 'no direct caller';
}

export interface UnresolvedSite extends Unresolved {
  site: number;
  fn: number;
  fnName?: string;
  /** Call sites walked through before giving up, outermost first. */
  chain: number[];
}

export interface ParamResolution {
  uses: ParamSyscallUse[];
  open: OpenParam[];
  /** Every site whose number is unknown on some path, with why and where (including failures at call sites). */
  unresolved: UnresolvedSite[];
  /** Per syscall site: its own constants plus every number recovered at a caller. */
  numbersBySite: Map<number, number[]>;
}

export interface ParamOptions {
  /** Call levels to climb from a wrapper to the constant (syscall() ← my_wrapper ← caller is 2). */
  maxDepth?: number;
  /** Data-flow options (argument recovery follows arithmetic into callers). */
  flow?: FlowOptions;
}

/** Where the value of an entry location sits just before a call (or tail jump) to that entry. */
function locAtCall(prog: Program, callIdx: number, loc: ParamLoc): Loc {
  if (typeof loc === 'string') return { r: GPR_NAMES.indexOf(loc) };
  // A call pushes the return address; a tail jump leaves rsp where the entry expects it.
  return { s: RSP, d: prog.kind[callIdx] === K.CALL ? loc.stack - 8 : loc.stack };
}

export interface EntryResult {
  uses: Omit<ParamSyscallUse, 'site'>[];
  open: Omit<OpenParam, 'site'>[];
  unresolved: (Unresolved & { chain: number[] })[];
}

/**
 * Climbs from parameters that carry a syscall number (glibc's `syscall()` takes it
 * in %rdi) to the call sites of the function, recovering the argument there with
 * the same backward data-flow, and on to their callers while the value is again a
 * parameter — up to maxDepth levels. Nothing is dropped: a value that cannot be
 * recovered is listed in `unresolved`, one that can come from outside in `open`.
 */
export function resolveParamSyscalls(a: CodeAnalysis, opts: ParamOptions = {}): ParamResolution {
  const maxDepth = opts.maxDepth ?? 4;
  const prog = a.program;
  const flow = new BackwardFlow(prog, a.noReturn);
  const memo = new Map<string, EntryResult>();
  const res: ParamResolution = { uses: [], open: [], unresolved: [], numbersBySite: new Map() };
  try {
    for (const s of a.syscalls) {
      const nums = new Set(s.numbers);
      for (const u of s.unresolved) res.unresolved.push({ ...u, site: s.addr, fn: s.fn, fnName: s.fnName, chain: [] });
      if (s.fromParams.length > MAX_CLIMBED_ENTRY_VALUES) {
        res.unresolved.push({ reason: tooManyEntryValues(s.fromParams.length), at: s.addr, site: s.addr, fn: s.fn, fnName: s.fnName, chain: [] });
        res.numbersBySite.set(s.addr, [...nums].sort((x, y) => x - y));
        continue;
      }
      for (const p of s.fromParams) {
        const r = resolveEntry(a, flow, p, maxDepth, memo, new Set());
        for (const u of r.uses) {
          res.uses.push({ ...u, site: s.addr });
          u.numbers.forEach((n) => nums.add(n));
        }
        for (const o of r.open) res.open.push({ ...o, site: s.addr });
        for (const u of r.unresolved) res.unresolved.push({ ...u, site: s.addr, fn: s.fn, fnName: s.fnName });
      }
      res.numbersBySite.set(s.addr, [...nums].sort((x, y) => x - y));
    }
  } finally {
    flow.free();
  }
  return res;
}

const cycles = { hit: false };

/**
 * Data-flow states one resolution (one memo) may visit while climbing into callers.
 * Entries inside functions (call targets) and loops that move the stack make the climb
 * fan out; a mutated or hostile file kept it busy for minutes. Past the budget a value
 * not yet climbed is unresolved, never dropped.
 */
export const MAX_CLIMB_STATES = 1_000_000;
const climbBudget = new WeakMap<Map<string, EntryResult>, { left: number }>();

/**
 * Entry values of one search that are climbed into callers. Compiled code passes a
 * number through one or two parameters; a stack slot that moves around a loop (or
 * through a recursion) gives one per turn, and climbing each of them, level after
 * level, multiplies without end. Past the bound the site is unresolved, never dropped.
 */
export const MAX_CLIMBED_ENTRY_VALUES = 16;

function tooManyEntryValues(n: number): string {
  return `${n} entry values (more than ${MAX_CLIMBED_ENTRY_VALUES} are not followed into callers: a stack slot that moves around a loop?)`;
}

/**
 * Which callers a climb follows and what an entry that other code can enter means. The
 * default is one object seen on its own: every caller counts, and an exported or
 * address-taken entry (or one without a direct caller) is `open` — an importer or an
 * indirect call may pass anything, which the whole-program link resolves or reports.
 * A closed program whose reachable code is known (a Go binary, analysis/golang) counts only
 * the callers that run, and reports an open entry as unresolved.
 */
export interface ClimbScope {
  /** Entries an indirect call can enter (default: the object's address-taken functions). */
  addressTaken?: ReadonlySet<number>;
  /** Whether a call from this function passes anything (default: every caller does): code that never runs passes nothing. */
  countsCaller?: (callerFn: number) => boolean;
  /** Set for a closed program: the reason an open entry's value is unknown; it is then listed in `unresolved`, not in `open`. */
  unknownEntry?: (o: Omit<OpenParam, 'site'>) => string;
}

/** Values of an entry location recovered at the function's call sites, climbing while they are parameters (also used for syscall arguments, analysis/x86/syscall-args.ts, and Go's wrappers, analysis/golang/go-syscalls.ts). */
export function resolveEntry(
  a: CodeAnalysis,
  flow: BackwardFlow,
  ev: EntryValue,
  depth: number,
  memo: Map<string, EntryResult>,
  active: Set<string>,
  scope: ClimbScope = {},
): EntryResult {
  const key = `${ev.fn}:${JSON.stringify(ev.loc)}${ev.xf ? `|${JSON.stringify(ev.xf)}` : ''}`;
  const done = memo.get(key);
  if (done) return done;
  const out: EntryResult = { uses: [], open: [], unresolved: [] };
  if (active.has(key)) {
    // Recursion: the outer activation collects the other callers' values. A result
    // computed inside a cycle is partial, so it is not memoised.
    cycles.hit = true;
    return out;
  }
  active.add(key);
  const hitBefore = cycles.hit;
  cycles.hit = false;
  const prog = a.program;
  const info = a.functions.get(ev.fn);
  const name = info?.name;
  const xf = ev.xf ? { xf: ev.xf } : {};
  const taken = scope.addressTaken ?? a.addressTaken;
  const open = (why: OpenParam['why']): void => {
    const o = { entry: ev.fn, entryName: name, loc: ev.loc, why, ...xf };
    if (scope.unknownEntry) out.unresolved.push({ reason: scope.unknownEntry(o), at: ev.fn, chain: [] });
    else out.open.push(o);
  };
  if (info?.exported) open('exported');
  if (taken.has(ev.fn)) open('address-taken');

  const counts = scope.countsCaller;
  const sites = counts ? callSitesOf(prog, ev.fn).filter((c) => counts(prog.functions[prog.fnOf[c]].addr)) : callSitesOf(prog, ev.fn);
  if (sites.length === 0 && !info?.exported && !taken.has(ev.fn)) open('no direct caller');
  let budget = climbBudget.get(memo);
  if (!budget) climbBudget.set(memo, (budget = { left: MAX_CLIMB_STATES }));
  for (const c of sites) {
    if (budget.left < 0) {
      out.unresolved.push({ reason: `climb budget of ${MAX_CLIMB_STATES} data-flow states spent (values at this entry not followed into callers)`, at: ev.fn, chain: [] });
      cycles.hit = true; // partial: not memoised
      break;
    }
    // Pending operations travel to the caller's value (constants found there come out transformed).
    const rec = flow.valuesBefore(c, { ...locAtCall(prog, c, ev.loc), ...xf });
    budget.left -= rec.steps ?? 1;
    const callSite = prog.addr[c];
    const caller = prog.functions[prog.fnOf[c]];
    if (rec.numbers.size) {
      out.uses.push({ caller: caller.addr, callerName: caller.name, callSite, numbers: [...rec.numbers].sort((x, y) => x - y), chain: [callSite] });
    }
    for (const u of rec.unresolved.values()) out.unresolved.push({ ...u, chain: [callSite] });
    if (rec.params.size > MAX_CLIMBED_ENTRY_VALUES) {
      out.unresolved.push({ reason: tooManyEntryValues(rec.params.size), at: callSite, chain: [callSite] });
      continue;
    }
    for (const p of rec.params.values()) {
      if (depth <= 1) {
        out.unresolved.push({ reason: `still a parameter (${fmtLoc(p.loc)} of 0x${p.fn.toString(16)}) after the maximum call depth`, at: callSite, chain: [callSite] });
        continue;
      }
      const up = resolveEntry(a, flow, p, depth - 1, memo, active, scope);
      for (const u of up.uses) out.uses.push({ ...u, chain: [...u.chain, callSite] });
      for (const o of up.open) out.open.push(o);
      for (const u of up.unresolved) out.unresolved.push({ ...u, chain: [...u.chain, callSite] });
    }
  }
  active.delete(key);
  if (!cycles.hit) memo.set(key, out);
  cycles.hit = cycles.hit || hitBefore;
  return out;
}

/** Direct calls and tail jumps (from other functions) to an address. */
export function callSitesOf(prog: Program, target: number): number[] {
  const out = [...(prog.callSources.get(target) ?? [])];
  const f = prog.functionIndexContaining(target);
  for (const j of prog.jumpSources.get(target) ?? []) {
    if (prog.kind[j] === K.JMP && prog.fnOf[j] !== f) out.push(j);
    else if (prog.kind[j] === K.JCC && prog.fnOf[j] !== f) out.push(j); // conditional tail call
  }
  return out;
}

/** An entry location as reasons name it: `%rdi`, `stack+8`. */
export function fmtLoc(l: ParamLoc): string {
  return typeof l === 'string' ? `%${l}` : `stack+${l.stack}`;
}

/**
 * Cross-object step: the syscall number of an imported wrapper (e.g. libc's
 * `syscall`, number in %rdi) recovered at this object's calls to its PLT stub,
 * transitively through this object's own wrappers.
 */
export function resolveImportArgs(a: CodeAnalysis, importName: string, loc: ParamLoc, opts: ParamOptions = {}): Omit<ParamResolution, 'numbersBySite'> & { numbers: number[] } {
  const maxDepth = opts.maxDepth ?? 4;
  const flow = new BackwardFlow(a.program, a.noReturn, opts.flow);
  const memo = new Map<string, EntryResult>();
  const out = { uses: [] as ParamSyscallUse[], open: [] as OpenParam[], unresolved: [] as UnresolvedSite[], numbers: [] as number[] };
  const nums = new Set<number>();
  try {
    for (const [stub, name] of a.plt) {
      if (name !== importName) continue;
      // Treat the stub as an entry taking `loc`; its call sites are this object's calls into the PLT.
      const r = resolveEntry(a, flow, { fn: stub, loc }, maxDepth + 1, memo, new Set());
      for (const u of r.uses) {
        out.uses.push({ ...u, site: stub });
        u.numbers.forEach((n) => nums.add(n));
      }
      for (const o of r.open) if (o.entry !== stub) out.open.push({ ...o, site: stub });
      for (const u of r.unresolved) out.unresolved.push({ ...u, site: stub, fn: stub, fnName: `${importName}@plt` });
    }
  } finally {
    flow.free();
  }
  out.numbers = [...nums].sort((x, y) => x - y);
  return out;
}

/** All numbers a site can use, given the param resolution (own constants ∪ callers'). */
export function siteNumbers(site: SyscallSite, r: ParamResolution): number[] {
  return r.numbersBySite.get(site.addr) ?? site.numbers;
}
