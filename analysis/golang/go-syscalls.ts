import type { ElfFile } from '../elf';
import { codeInputFromElf } from '../x86/from-elf';
import { analyzeCode } from '../x86/analyze-object';
import { K } from '../x86/program';
import { RAX } from '../x86/registers';
import type { SplitOptions } from '../x86/decode-slices';
import type { FunctionStart, ParamLoc } from '../x86/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import { GoBuildInfo, readBuildInfo } from './buildinfo';
import type { BackwardFlow, EntryValue } from '../x86/dataflow';
import { goFlow, locAtCall } from './go-flow';
import { GlobalVars } from './globals';
import { Pclntab, readPclntab } from './pclntab';
import { GoReachability, goReachability } from './reachability';

/** A syscall site (or a call site feeding one) whose number could not be recovered, in reachable code. */
export interface GoUnresolvedSite {
  /** The syscall instruction. */
  addr: number;
  /** Name of the function holding the syscall instruction. */
  fn: string;
  reason: string;
  /** Where the walk gave up. */
  at: number;
  /** Call sites climbed through, outermost first. */
  chain: number[];
}

export interface GoSyscallAnalysis {
  goVersion?: string;
  /** Main module path (`mod` line of the build info), else the main package path. */
  modulePath?: string;
  buildInfo?: GoBuildInfo;
  pclntabLayout: Pclntab['layout'];
  /** Functions named by .gopclntab. */
  functions: number;
  /** Functions analysed (pclntab ∪ C functions of a cgo binary from FDEs/symbols). */
  codeFunctions: number;
  reachableFunctions: number;
  /** Functions treated as indirect-call targets (address in data or materialised by reachable code). */
  addressTakenFunctions: number;
  /** x86-64 syscall numbers some reachable path can make. */
  syscalls: Set<number>;
  sites: {
    /** syscall instructions in the binary. */
    total: number;
    /** ... in reachable functions. */
    reachable: number;
    /** reachable sites whose every path gave numbers. */
    resolved: number;
    unresolved: GoUnresolvedSite[];
  };
  /** Syscall numbers by the reachable function where the number is chosen (constant found), for reports. */
  perFunction: Map<string, number[]>;
  /**
   * Imported (libc) functions of a dynamically linked (cgo) binary: the whole-program
   * linker resolves them through libc and the loader.
   */
  goImports: string[];
  /** DT_NEEDED of the binary (empty for static Go binaries). */
  needed: string[];
  interp?: string;
  /** `int $0x80` / `sysenter` sites in reachable code: i386 numbers, never mapped here (count for reports). */
  i386Sites: number;
  reachability: GoReachability;
  timing: { totalMs: number; decodeMs: number; flowMs: number };
  /** The code analysis, for callers that link it with other objects. */
  code: CodeAnalysis;
}

export interface GoAnalyzeOptions {
  /** Call levels to climb from a syscall instruction to the constant (default 8). */
  maxDepth?: number;
  /** Where ranges of a large binary's functions are decoded (analysis/x86/decode-slices.ts); the result is the same. */
  split?: SplitOptions;
}

/** Is this ELF a Go binary (has a Go function table)? */
export function isGoBinary(elf: ElfFile, buf: Uint8Array): boolean {
  return readPclntab(elf, buf) !== undefined;
}

/**
 * Static syscall analysis of one Go binary: function starts and names from
 * .gopclntab, code facts from x86/analyzeCode, reachability from the runtime's entry
 * points (reachability.ts), and the syscall number at every reachable `syscall`
 * instruction, climbing from wrappers that take it as a parameter (syscall.Syscall,
 * runtime/internal/syscall.Syscall6, x/sys/unix.Syscall, syscall.rawVforkSyscall, ...)
 * to the call sites that pass a constant, with the x86 walk under Go's call convention (go-flow.ts).
 * Returns undefined for a binary with no Go function table.
 */
export function analyzeGoBinary(elf: ElfFile, buf: Uint8Array, opts: GoAnalyzeOptions = {}): GoSyscallAnalysis | undefined {
  const t0 = performance.now();
  const pcln = readPclntab(elf, buf);
  if (!pcln) return undefined;
  const bi = readBuildInfo(elf, buf);
  const maxDepth = opts.maxDepth ?? 8;

  // C parts of a cgo binary come from FDEs / symbols; pclntab names the Go functions.
  const base = codeInputFromElf(elf, buf);
  if (!base) return undefined;
  const lo = base.codeVaddr;
  const hi = lo + base.code.length;
  const goStarts: FunctionStart[] = pcln.functions
    .filter((f) => f.entry >= lo && f.entry < hi)
    .map((f) => ({ addr: f.entry, size: f.end - f.entry, name: f.name }));
  const goAddrs = new Set(goStarts.map((s) => s.addr));
  const inGo = (a: number) => {
    // Binary search: is `a` inside some Go function (then its FDE/symbol start is a Go-internal label)?
    let l = 0;
    let h = goStarts.length - 1;
    while (l <= h) {
      const m = (l + h) >> 1;
      if (goStarts[m].addr <= a) l = m + 1;
      else h = m - 1;
    }
    return h >= 0 && a < goStarts[h].addr + (goStarts[h].size ?? 0);
  };
  const starts: FunctionStart[] = [...goStarts];
  for (const s of base.functionStarts) if (!goAddrs.has(s.addr) && !inGo(s.addr)) starts.push(s);
  const code = analyzeCode({ ...base, functionStarts: starts }, opts.split);
  const t1 = performance.now();

  const reach = goReachability(elf, buf, code, pcln);
  const globals = new GlobalVars(code.program, elf, buf);
  const flow = goFlow(code.program, code.noReturn, globals);
  const prog = code.program;
  const syscalls = new Set<number>();
  const perFunction = new Map<string, Set<number>>();
  const unresolved: GoUnresolvedSite[] = [];
  let reachableSites = 0;
  let resolvedSites = 0;
  let i386Sites = 0;
  const nameOf = (fn: number) => code.functions.get(fn)?.name ?? `0x${fn.toString(16)}`;
  const note = (fn: number, n: number) => {
    syscalls.add(n);
    const k = nameOf(fn);
    let s = perFunction.get(k);
    if (!s) perFunction.set(k, (s = new Set()));
    s.add(n);
  };
  const climber = new ParamClimber(code, flow, reach.reachable, reach.addressTaken, maxDepth);
  try {
    for (const site of code.syscalls) {
      if (!reach.reachable.has(site.fn)) continue;
      reachableSites++;
      if (site.insn !== 'syscall') {
        i386Sites++;
        continue;
      }
      const idx = prog.indexOf(site.addr)!;
      const r = flow.valuesBefore(idx, { r: RAX });
      const before = unresolved.length;
      for (const n of r.numbers) note(site.fn, n);
      const fnName = nameOf(site.fn);
      for (const u of r.unresolved.values()) unresolved.push({ addr: site.addr, fn: fnName, reason: u.reason, at: u.at, chain: [] });
      for (const p of r.params.values()) {
        const up = climber.resolve(p, maxDepth);
        for (const u of up.uses) for (const n of u.numbers) note(u.caller, n);
        for (const u of up.unresolved) unresolved.push({ addr: site.addr, fn: fnName, reason: u.reason, at: u.at, chain: u.chain });
      }
      if (unresolved.length === before) resolvedSites++;
    }
  } finally {
    flow.free();
    globals.free();
  }
  const imports = new Set<string>();
  for (const p of elf.pltStubs) if (p.name) imports.add(p.name);
  for (const s of elf.dynsym) if (!s.defined && s.name && (s.type === 'func' || s.type === 'notype')) imports.add(s.name);
  const t2 = performance.now();
  return {
    goVersion: bi?.goVersion,
    modulePath: bi?.mainModule?.path ?? bi?.path,
    buildInfo: bi,
    pclntabLayout: pcln.layout,
    functions: pcln.functions.length,
    codeFunctions: code.functions.size,
    reachableFunctions: reach.reachable.size,
    addressTakenFunctions: reach.addressTaken.size,
    syscalls,
    sites: { total: code.syscalls.length, reachable: reachableSites, resolved: resolvedSites, unresolved },
    perFunction: new Map([...perFunction].map(([k, v]) => [k, [...v].sort((a, b) => a - b)])),
    goImports: [...imports].sort(),
    needed: elf.needed,
    interp: elf.interp,
    i386Sites,
    reachability: reach,
    timing: { totalMs: t2 - t0, decodeMs: code.timing.decodeMs, flowMs: t2 - t1 },
    code,
  };
}

interface Use {
  caller: number;
  callSite: number;
  numbers: number[];
}
interface Climb {
  uses: Use[];
  unresolved: { reason: string; at: number; chain: number[] }[];
}

/**
 * From "the number is parameter `loc` of function `fn`" to the constants its
 * reachable callers pass, level by level. Callers outside the reachable set are
 * skipped (their values never run); a reachable entry that can also be entered
 * indirectly (address taken) or has no direct caller makes the number unknowable.
 */
class ParamClimber {
  private memo = new Map<string, Climb>();
  private active = new Set<string>();
  private partial = false;

  constructor(
    private a: CodeAnalysis,
    private flow: BackwardFlow,
    private reachable: Set<number>,
    /** Functions an indirect call can enter (reachability.ts): their parameters can be anything. */
    private taken: Set<number>,
    private maxDepth: number,
  ) {}

  resolve(ev: EntryValue, depth: number): Climb {
    const k = `${ev.fn}:${JSON.stringify(ev.loc)}`;
    const done = this.memo.get(k);
    if (done) return done;
    const out: Climb = { uses: [], unresolved: [] };
    if (this.active.has(k)) {
      this.partial = true;
      return out;
    }
    this.active.add(k);
    const partialBefore = this.partial;
    this.partial = false;
    const prog = this.a.program;
    const name = this.a.functions.get(ev.fn)?.name ?? `0x${ev.fn.toString(16)}`;
    if (this.taken.has(ev.fn)) {
      out.unresolved.push({ reason: `${fmtLoc(ev.loc)} of ${name}, which is called indirectly`, at: ev.fn, chain: [] });
    }
    const sites = callSitesOf(prog, ev.fn);
    let reachableCallers = 0;
    for (const c of sites) {
      const caller = prog.functions[prog.fnOf[c]];
      if (!this.reachable.has(caller.addr)) continue;
      reachableCallers++;
      const callSite = prog.addr[c];
      const rec = this.flow.valuesBefore(c, locAtCall(prog, c, ev.loc));
      if (rec.numbers.size) out.uses.push({ caller: caller.addr, callSite, numbers: [...rec.numbers] });
      for (const u of rec.unresolved.values()) out.unresolved.push({ ...u, chain: [callSite] });
      for (const p of rec.params.values()) {
        if (depth <= 1) {
          out.unresolved.push({ reason: `still ${fmtLoc(p.loc)} of 0x${p.fn.toString(16)} after ${this.maxDepth} call levels`, at: callSite, chain: [callSite] });
          continue;
        }
        const up = this.resolve(p, depth - 1);
        out.uses.push(...up.uses);
        for (const u of up.unresolved) out.unresolved.push({ ...u, chain: [...u.chain, callSite] });
      }
    }
    if (reachableCallers === 0 && !this.taken.has(ev.fn)) {
      out.unresolved.push({ reason: `${fmtLoc(ev.loc)} of ${name}, which has no direct caller in reachable code`, at: ev.fn, chain: [] });
    }
    this.active.delete(k);
    if (!this.partial) this.memo.set(k, out);
    this.partial = this.partial || partialBefore;
    return out;
  }
}

/** Direct calls and tail jumps from other functions to `target`. */
function callSitesOf(prog: CodeAnalysis['program'], target: number): number[] {
  const out = [...(prog.callSources.get(target) ?? [])];
  const f = prog.functionIndexContaining(target);
  for (const j of prog.jumpSources.get(target) ?? []) {
    if ((prog.kind[j] === K.JMP || prog.kind[j] === K.JCC) && prog.fnOf[j] !== f) out.push(j);
  }
  return out;
}

function fmtLoc(l: ParamLoc): string {
  return typeof l === 'string' ? `%${l}` : `stack+${l.stack}`;
}

