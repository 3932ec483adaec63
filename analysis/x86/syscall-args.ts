import { BackwardFlow, FlowOptions } from './dataflow';
import type { XfOp } from './effects';
import { EntryResult, fmtLoc, resolveEntry, resolveImportArgs } from './param-syscalls';
import { GPR_NAMES } from './registers';
import type { Gpr, ParamLoc } from './types';
import type { CodeAnalysis } from './code-analysis';

/**
 * Argument values of chosen syscalls, recovered like the syscall numbers: constants
 * through registers at the syscall instruction, then through parameters at the
 * callers (resolveEntry), up to a few call levels. Nothing is dropped: a path whose
 * value is not a constant is listed as unresolved, attributed to the function in
 * which the walk gave up, and an exported entry whose parameter carries the value is
 * listed for its importers to resolve (resolveImportArgs at their call sites).
 */

/** Registers of syscall arguments 0..5 (the kernel's x86-64 syscall ABI). */
export const SYSCALL_ARG_REGS: Gpr[] = ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'];

export interface TrackedArg {
  /** x86-64 syscall number. */
  nr: number;
  name: string;
  /** Argument index (0 = first). */
  arg: number;
}

/**
 * Syscalls whose argument is recovered: socket/socketpair's address family, ioctl's
 * request, prctl's option, personality's persona, clone's and unshare's flags. The
 * kernel reads each as 32 bits (ioctl's `unsigned int cmd`, legacy clone's
 * lower_32_bits(flags)), which is what the profile compares.
 */
export const TRACKED_ARGS: TrackedArg[] = [
  { nr: 16, name: 'ioctl', arg: 1 },
  { nr: 41, name: 'socket', arg: 0 },
  { nr: 53, name: 'socketpair', arg: 0 },
  { nr: 56, name: 'clone', arg: 0 },
  { nr: 135, name: 'personality', arg: 0 },
  { nr: 157, name: 'prctl', arg: 0 },
  { nr: 272, name: 'unshare', arg: 0 },
];

/**
 * libc functions that pass their parameter straight to a tracked syscall argument
 * (glibc's and musl's socket(domain, …) make the syscall with the domain from their
 * caller): the importing object recovers the value at its calls to them.
 */
export const ARG_WRAPPER_IMPORTS: (TrackedArg & { loc: ParamLoc })[] = [
  { nr: 16, name: 'ioctl', arg: 1, loc: 'rsi' },
  // tcsetattr(fd, optional_actions, …) makes ioctl(fd, TCSETS + optional_actions, …).
  { nr: 16, name: 'tcsetattr', arg: 1, loc: 'rsi' },
  { nr: 41, name: 'socket', arg: 0, loc: 'rdi' },
  { nr: 53, name: 'socketpair', arg: 0, loc: 'rdi' },
  // clone(fn, stack, flags, arg, …): the flags are its third parameter.
  { nr: 56, name: 'clone', arg: 0, loc: 'rdx' },
  { nr: 135, name: 'personality', arg: 0, loc: 'rdi' },
  { nr: 157, name: 'prctl', arg: 0, loc: 'rdi' },
  { nr: 272, name: 'unshare', arg: 0, loc: 'rdi' },
];

export interface ArgFinding {
  /** Start of the function whose running makes the value (or the failure) possible. */
  fn: number;
  values: number[];
  /** Set when the value is not known on some path (`values` then lists what was found). */
  reason?: string;
  /** Where the walk gave up. */
  at?: number;
}

export interface ArgSite {
  /** The syscall instruction. */
  site: number;
  /** Start of the function containing it. */
  fn: number;
  nr: number;
  arg: number;
  findings: ArgFinding[];
  /** Exported entries whose parameter `loc` carries the value (after `xf`, when given): importers resolve it. */
  exported: { entry: number; loc: ParamLoc; xf?: XfOp[] }[];
  /**
   * Every function whose entry value was followed into its direct callers: if one is
   * also entered another way (indirect call, dlsym, as a root), the value is unknown
   * there; the link step checks that against the walk.
   */
  entries: number[];
}

/**
 * Arguments are compared on their low 32 bits, so constant arithmetic on the way
 * (tcsetattr's `lea 0x5402(%r9),%esi`, TCSETS + optional_actions) is followed into
 * callers exactly.
 */
const ARG_FLOW: FlowOptions = { xfParams: true, leaAdd: true };

/** Kernel argument as the filter compares it: the low 32 bits (all the kernel reads of the tracked arguments). */
export function argValue(n: number): number {
  return Number(BigInt.asUintN(32, BigInt(n)));
}

function addFindings(out: ArgFinding[], r: EntryResult, exported: ArgSite['exported'], fnOfAddr: (a: number) => number): void {
  for (const u of r.uses) out.push({ fn: u.caller, values: u.numbers.map(argValue) });
  for (const u of r.unresolved) out.push({ fn: fnOfAddr(u.at), values: [], reason: u.reason, at: u.at });
  for (const o of r.open) {
    // An exported entry whose value still needs arithmetic is not the parameter itself: importers cannot supply it.
    // Importers supply the parameter; the operations still pending (tcsetattr's TCSETS + act) are applied to their values.
    if (o.why === 'exported') exported.push({ entry: o.entry, loc: o.loc, ...(o.xf?.length ? { xf: o.xf } : {}) });
    // An indirect call (or an unseen caller) can pass anything: unknown whenever the entry runs.
    else out.push({ fn: o.entry, values: [], reason: `value is ${fmtLoc(o.loc)} at entry of ${o.entryName ?? hex(o.entry)}, which is ${o.why}`, at: o.entry });
  }
}

/**
 * Every syscall instruction whose own constant number is tracked: the argument's
 * values, by the function that supplies them. A tracked number that reaches a site
 * only through a wrapper's parameter has no record here (its argument is not
 * followed); the link step treats such sites as unconditional.
 */
export function recoverSyscallArgs(a: CodeAnalysis, tracked: TrackedArg[] = TRACKED_ARGS, maxDepth = 4): ArgSite[] {
  const prog = a.program;
  const byNr = new Map<number, TrackedArg[]>();
  for (const t of tracked) byNr.set(t.nr, [...(byNr.get(t.nr) ?? []), t]);
  const fnOfAddr = functionOf(a);
  const out: ArgSite[] = [];
  const flow = new BackwardFlow(prog, a.noReturn, ARG_FLOW);
  const memo = new Map<string, EntryResult>();
  try {
    for (const s of a.syscalls) {
      if (s.insn !== 'syscall') continue;
      const idx = prog.indexOf(s.addr);
      for (const nr of new Set(s.numbers)) {
        for (const t of byNr.get(nr) ?? []) {
          const rec: ArgSite = { site: s.addr, fn: s.fn, nr, arg: t.arg, findings: [], exported: [], entries: [] };
          out.push(rec);
          if (idx === undefined) {
            rec.findings.push({ fn: s.fn, values: [], reason: 'syscall instruction not decoded', at: s.addr });
            continue;
          }
          const r = flow.valuesBefore(idx, { r: GPR_NAMES.indexOf(SYSCALL_ARG_REGS[t.arg]) });
          if (r.numbers.size) rec.findings.push({ fn: s.fn, values: [...r.numbers].map(argValue) });
          for (const u of r.unresolved.values()) rec.findings.push({ fn: fnOfAddr(u.at), values: [], reason: u.reason, at: u.at });
          const entries = new Set<number>();
          for (const p of r.params.values()) {
            const er = resolveEntry(a, flow, p, maxDepth, memo, new Set());
            addFindings(rec.findings, er, rec.exported, fnOfAddr);
            entries.add(p.fn);
            for (const c of [...er.uses.map((u) => u.chain), ...er.unresolved.map((u) => u.chain)].flat()) {
              const t = calledAt(a, c);
              if (t !== undefined && !a.plt.has(t)) entries.add(t);
            }
          }
          rec.entries = [...entries].sort((x, y) => x - y);
        }
      }
    }
  } finally {
    flow.free();
  }
  return out;
}

/** The function a call (or tail jump) at `site` enters. */
function calledAt(a: CodeAnalysis, site: number): number | undefined {
  const i = a.program.indexOf(site);
  if (i === undefined) return undefined;
  const t = a.program.target[i];
  return Number.isNaN(t) ? undefined : t;
}

/** The argument of an imported wrapper (ARG_WRAPPER_IMPORTS) at this object's calls to it, and the object's own functions it was followed through. */
export function recoverImportArgs(a: CodeAnalysis, importKey: string, loc: ParamLoc, maxDepth = 4): { findings: ArgFinding[]; entries: number[] } {
  const r = resolveImportArgs(a, importKey, loc, { maxDepth, flow: ARG_FLOW });
  const fnOfAddr = functionOf(a);
  const out: ArgFinding[] = [];
  for (const u of r.uses) out.push({ fn: u.caller, values: u.numbers.map(argValue) });
  for (const u of r.unresolved) out.push({ fn: fnOfAddr(u.at), values: [], reason: u.reason, at: u.at });
  // This object's own exported wrapper of the import: its importers are not followed.
  for (const o of r.open) out.push({ fn: o.entry, values: [], reason: `value is ${fmtLoc(o.loc)} at entry of ${o.entryName ?? hex(o.entry)}, which is ${o.why}`, at: o.entry });
  const entries = new Set<number>();
  for (const c of [...r.uses.map((u) => u.chain), ...r.unresolved.map((u) => u.chain)].flat()) {
    const t = calledAt(a, c);
    if (t !== undefined && !a.plt.has(t)) entries.add(t);
  }
  return { findings: out, entries: [...entries].sort((x, y) => x - y) };
}

/** Start of the function holding an address (the address itself when none does: the summary maps it to a function index). */
function functionOf(a: CodeAnalysis): (addr: number) => number {
  const prog = a.program;
  return (addr) => {
    const f = prog.functionIndexContaining(addr);
    return f === undefined ? addr : prog.functions[f].addr;
  };
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
