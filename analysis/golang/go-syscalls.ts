import type { ElfFile } from '../elf';
import { codeInputFromElf } from '../x86/from-elf';
import { analyzeCode } from '../x86/analyze-object';
import { ClimbScope, EntryResult, fmtLoc, OpenParam, resolveEntry } from '../x86/param-syscalls';
import { RAX } from '../x86/registers';
import type { SplitOptions } from '../x86/decode-slices';
import type { FunctionStart } from '../x86/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import { GoBuildInfo, readBuildInfo } from './buildinfo';
import { goFlow } from './go-flow';
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
  /** Start addresses of the functions .gopclntab names (the rest of `code` is a cgo binary's C). */
  goFunctionStarts: ReadonlySet<number>;
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
  const scope = goClimbScope(reach);
  const memo = new Map<string, EntryResult>();
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
        const up = resolveEntry(code, flow, p, maxDepth, memo, new Set(), scope);
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
    goFunctionStarts: goAddrs,
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

/**
 * From "the number is parameter `loc` of function `fn`" to the constants its callers
 * pass, level by level (x86 resolveEntry), over the closed program Go reachability
 * describes: callers outside the reachable set are skipped (their values never run);
 * a reachable entry that can also be entered indirectly (address taken), is exported or
 * has no reachable direct caller makes the number unknowable.
 */
export function goClimbScope(reach: Pick<GoReachability, 'reachable' | 'addressTaken'>): ClimbScope {
  return {
    addressTaken: reach.addressTaken,
    countsCaller: (fn) => reach.reachable.has(fn),
    unknownEntry: (o) => `${fmtLoc(o.loc)} of ${o.entryName ?? `0x${o.entry.toString(16)}`}, which ${UNKNOWN_ENTRY[o.why]}`,
  };
}

const UNKNOWN_ENTRY: Record<OpenParam['why'], string> = {
  'address-taken': 'is called indirectly',
  'no direct caller': 'has no direct caller in reachable code',
  exported: 'is exported',
};
