import type { ElfFile } from '../elf';
import { DT, R_X86_64 } from '../elf';
import type { ObjectSummary } from '../../schemas/types';
import { decodeFunctions, finishAnalysis } from '../x86/analyze-object';
import type { SplitOptions } from '../x86/decode-slices';
import { codeInputFromElf, isCodeAddress, isWithheldAddress } from '../x86/from-elf';
import { BackwardFlow } from '../x86/dataflow';
import { SyscallIdioms } from '../x86/idioms';
import { resolveImportArgs, resolveParamSyscalls } from '../x86/param-syscalls';
import type { CodeInput, FunctionInfo, ParamLoc } from '../x86/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import { argFacts } from './arg-facts';
import { dataRegions, forEachAbsoluteDataWord } from './data-regions';
import { StringReader } from './name-hashes';
import { lastAtOrBefore } from '../x86/sorted';

/** The reason an i386-ABI syscall site (int $0x80, sysenter) is unresolved; profile-emit looks for it. */
export const I386_ABI_REASON = ': i386 syscall ABI (numbers are not x86-64 numbers)';
/** Whether an unresolved site's reason says it makes i386-ABI syscalls. */
export const isI386AbiSite = (reason: string): boolean => reason.includes(I386_ABI_REASON);

export type { ObjectSummary } from '../../schemas/types';
export type SummaryFunction = ObjectSummary['functions'][number];

/**
 * Imports whose syscall number argument is recovered at this object's call sites,
 * because the library that defines them may take the number as a parameter. libc's
 * (glibc's and musl's) `syscall()` takes it in %rdi. The link step counts any other
 * param-wrapper import as an unresolved site.
 */
export const WRAPPER_IMPORTS: { name: string; loc: ParamLoc }[] = [{ name: 'syscall', loc: 'rdi' }];

/** Synthetic import key for an unnamed IRELATIVE PLT stub: the call goes wherever the resolver says. */
const IFUNC_PREFIX = '\0ifunc:';

export interface AnalyzedObject {
  code: CodeAnalysis;
  input: CodeInput;
}

/** Decodes an object with analysis/x86/ (large ones in ranges, with `split`) and returns the code analysis plus the input it was given. */
export function analyzeElf(elf: ElfFile, buf: Uint8Array, split: SplitOptions = {}, codeAt: number[] = []): AnalyzedObject | undefined {
  const base = codeInputFromElf(elf, buf, { codeAt });
  if (!base) return undefined;
  // Key PLT stubs by versioned import name (memcpy@GLIBC_2.14 and memcpy@GLIBC_2.2.5
  // are different definitions), and give IRELATIVE stubs (calls to IFUNCs inside the
  // object, e.g. libc's own memcpy calls) a key naming their resolver.
  const plt = new Map<number, string>();
  for (const p of elf.pltStubs) {
    if (p.symbol && p.name) plt.set(p.address, importKey(p.symbol.name, p.symbol.version));
    else if (p.resolver !== undefined) plt.set(p.address, `${IFUNC_PREFIX}${p.resolver}`);
  }
  // Data references drive which address-taken functions count (analysis/summary/data-regions.ts).
  // Where a start may be put that no FDE or symbol names: executable bytes that are no PLT
  // stub (a stub is an import wherever code calls it or data points at it).
  const startable = (a: number) => isCodeAddress(base, a) && !plt.has(a);
  let input: CodeInput = { ...base, pltTargets: plt, functionStarts: withGapStarts(elf, base, startable), dataRefs: { absolute: elf.type === 'exec' } };
  let decoded = decodeFunctions(input, split);
  // Direct calls to addresses that begin no known function (static functions of an
  // object without symbols or FDEs, e.g. musl's libc.so calling _dlstart_c) would be
  // dead ends: make them function starts and decode again, until none are left. Only
  // the decoding is redone per round; the data-flow runs once, on the final starts.
  for (let round = 0; round < 8; round++) {
    const extra = new Set<number>();
    for (const f of decoded.functions.values()) for (const t of f.unknownTargets) if (startable(t) && !decoded.functions.has(t)) extra.add(t);
    if (!extra.size) break;
    input = { ...input, functionStarts: [...input.functionStarts, ...[...extra].map((addr) => ({ addr }))] };
    decoded = decodeFunctions(input, split);
  }
  // Code that branches into bytes of an executable segment its section table calls data
  // (a section relabelled to hide code): that section is code after all; decode it too.
  const into = base.withheld ? branchesInto(decoded.functions.values(), (t) => isWithheldAddress(base, t)) : [];
  if (into.length) return analyzeElf(elf, buf, split, [...codeAt, ...into]);
  return { code: finishAnalysis(decoded), input: decoded.input };
}

/** Direct branch targets (or the starts of the functions they land in) for which `inside` holds. */
function branchesInto(functions: Iterable<FunctionInfo>, inside: (addr: number) => boolean): number[] {
  const out = new Set<number>();
  for (const f of functions) {
    for (const list of [f.calls, f.tailCalls, f.jumpsInto, f.unknownTargets]) for (const t of list) if (inside(t)) out.add(t);
  }
  return [...out];
}

/**
 * Without .eh_frame (musl's stripped libc.so has 4 FDEs), sized dynsym functions leave
 * gaps of unnamed static code between them. Each gap becomes a function (running to
 * the next start) so its calls and syscalls are decoded and reachable.
 */
/**
 * Code addresses stored in a non-PIE executable's data (absolute, 8-byte aligned):
 * function pointer tables like busybox's applet_main[] point at functions no FDE or
 * symbol names. They become function starts so the code they point to is decoded.
 */
function dataPointerStarts(elf: ElfFile, input: CodeInput, startable: (addr: number) => boolean): CodeInput['functionStarts'] {
  if (elf.type !== 'exec') return [];
  const lo = input.codeVaddr;
  const hi = lo + input.code.length;
  const known = new Set(input.functionStarts.map((f) => f.addr));
  const out = new Set<number>();
  forEachAbsoluteDataWord(elf, (_at, v) => {
    if (v >= lo && v < hi && !known.has(v) && startable(v)) out.add(v);
  });
  return [...out].map((addr) => ({ addr, fromData: true }));
}

function withGapStarts(elf: ElfFile, input: CodeInput, startable: (addr: number) => boolean): CodeInput['functionStarts'] {
  // Gaps are decoded even when FDEs are plentiful: programs built with
  // -fno-asynchronous-unwind-tables (busybox) have FDEs for their libc parts only,
  // and the rest of their code sits in the gaps.
  const starts = [...input.functionStarts, ...dataPointerStarts(elf, input, startable)];
  const end = input.codeVaddr + input.code.length;
  const sorted = [...starts].sort((x, y) => x.addr - y.addr);
  const known = new Set(sorted.map((f) => f.addr));
  const out = [...starts];
  if (sorted.length && sorted[0].addr > input.codeVaddr) out.push({ addr: input.codeVaddr });
  let reach = input.codeVaddr;
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i];
    if (f.size) reach = Math.max(reach, f.addr + f.size);
    else reach = Math.max(reach, f.addr + 1);
    const next = i + 1 < sorted.length ? sorted[i + 1].addr : end;
    // Gaps of alignment padding only (< 16 bytes) hold no function.
    if (f.size && reach < next && next - reach >= 16 && !known.has(reach) && startable(reach)) out.push({ addr: reach });
  }
  return out;
}

export function importKey(name: string, version?: string): string {
  return version ? `${name}@${version}` : name;
}

/** Builds the serialisable per-object summary of one parsed ELF file. */
export function summarizeObject(elf: ElfFile, analyzed: AnalyzedObject): ObjectSummary {
  const a = analyzed.code;
  const starts = [...a.functions.keys()].sort((x, y) => x - y);
  const index = new Map<number, number>(starts.map((s, i) => [s, i]));
  const containing = (addr: number): number | undefined => {
    const best = lastAtOrBefore(starts, addr);
    if (best < 0) return undefined;
    return addr < a.functions.get(starts[best])!.end ? best : undefined;
  };

  // Imports: every undefined dynamic symbol (functions and data both: a GLOB_DAT on
  // an imported function is how its address gets taken).
  const imports: string[] = [];
  const importIdx = new Map<string, number>();
  const imp = (key: string): number => {
    let i = importIdx.get(key);
    if (i === undefined) {
      i = imports.length;
      imports.push(key);
      importIdx.set(key, i);
    }
    return i;
  };
  for (const s of elf.dynsym) if (!s.defined && s.name) imp(importKey(s.name, s.version));

  const names = new Map<number, string>();
  for (const s of elf.symtab) if (s.defined && s.type === 'func' && s.name && !names.has(s.value)) names.set(s.value, s.name);
  for (const s of elf.dynsym) if (s.defined && s.name && !names.has(s.value)) names.set(s.value, s.name);

  const ifuncResolvers = new Set<number>(elf.irelativeResolvers);
  for (const s of elf.dynsym) if (s.defined && s.type === 'ifunc') ifuncResolvers.add(s.value);

  const importsTakenByCode = new Set<number>();
  // Two sets for the whole object, emptied per function (tens of thousands of functions).
  const succ = new Set<number>();
  const imps = new Set<number>();
  const fns: SummaryFunction[] = starts.map((addr) => {
    const f = a.functions.get(addr)!;
    const out: SummaryFunction = { a: addr };
    const name = names.get(addr) ?? f.name;
    if (name) out.n = name;
    succ.clear();
    imps.clear();
    for (const targets of [f.calls, f.tailCalls, f.jumpsInto]) {
      for (const t of targets) {
        const i = index.get(t) ?? containing(t);
        if (i !== undefined) succ.add(i);
      }
    }
    for (const key of f.imports) {
      if (key.startsWith(IFUNC_PREFIX)) {
        const r = index.get(Number(key.slice(IFUNC_PREFIX.length)));
        if (r !== undefined) succ.add(r);
      } else imps.add(imp(key));
    }
    // An IFUNC call runs whichever implementation the resolver returns: every
    // function the resolver's code can name.
    if (ifuncResolvers.has(addr)) for (const t of f.addressTaken) { const i = index.get(t); if (i !== undefined) succ.add(i); }
    if (succ.size) out.e = [...succ].sort((x, y) => x - y);
    if (imps.size) out.i = [...imps].sort((x, y) => x - y);
    const ti = new Set<number>();
    for (const key of f.importsTaken ?? []) if (!key.startsWith(IFUNC_PREFIX)) ti.add(imp(key));
    if (ti.size) {
      out.ti = [...ti].sort((x, y) => x - y);
      for (const i of ti) importsTakenByCode.add(i);
    }
    if (f.hasIndirectCall) out.ic = true;
    if (f.hasIndirectJump) out.ij = true;
    return out;
  });

  const sites = new Map<number, Map<number, Set<number>>>(); // fn index → site → numbers
  const addSite = (fn: number, at: number, raw: number[]) => {
    const nrs = syscallNumbers(raw);
    if (!nrs.length) return;
    let m = sites.get(fn);
    if (!m) sites.set(fn, (m = new Map()));
    let s = m.get(at);
    if (!s) m.set(at, (s = new Set()));
    for (const n of nrs) s.add(n);
  };
  const unresolved: ObjectSummary['unresolved'] = [];
  const fnAt = (addr: number, fallback: number) => index.get(addr) ?? containing(addr) ?? fallback;
  // A code address held in data may be an entry settled inside a function (analysis/x86/data-starts.ts): a pointer into that function.
  const entryIndex = (addr: number): number | undefined => {
    const i = index.get(addr);
    if (i !== undefined) return i;
    const holder = a.innerEntries.get(addr);
    return holder === undefined ? undefined : index.get(holder);
  };

  const pr = resolveParamSyscalls(a, { maxDepth: 4 });
  for (const s of a.syscalls) {
    const fi = index.get(s.fn)!;
    if (s.insn !== 'syscall') {
      unresolved.push({ site: s.addr, fn: fi, reason: `${s.insn === 'int80' ? 'int $0x80' : 'sysenter'}${I386_ABI_REASON}` });
      continue;
    }
    addSite(fi, s.addr, s.numbers);
  }
  // Constants found at a wrapper's call sites belong to the caller that supplies them:
  // the syscall happens with that number only when that caller runs.
  for (const u of pr.uses) addSite(fnAt(u.caller, 0), u.site, u.numbers);
  // Library idioms (analysis/x86/idioms.ts): a path that stopped at a load of the number may be
  // one whose numbers its callers store; those are attributed to the callers.
  const idioms = new SyscallIdioms(a, new BackwardFlow(a.program, a.noReturn), {
    isPrivateGlobal: (g) => isPrivateGlobal(elf, g), pointerTables: (f) => pointerTables(elf, f), codeAddressInData: (lo, hi) => codeAddressInData(elf, lo, hi),
  });
  // An address-taken wrapper called only through a private function table (libcap's
  // _cap_syscall3/6): the numbers the object's calls through the table pass. Memoised:
  // the same wrapper is open for its own sites and for the syscall() import's.
  const tableCalls = new Map<string, ReturnType<SyscallIdioms['resolveTableCalls']>>();
  const viaTable = (o: { entry: number; loc: ParamLoc; why: string; xf?: unknown[] }) => {
    if (o.why !== 'address-taken' || typeof o.loc !== 'string' || o.xf?.length) return undefined;
    const k = `${o.entry}:${o.loc}`;
    if (!tableCalls.has(k)) tableCalls.set(k, idioms.resolveTableCalls(o.entry, o.loc));
    return tableCalls.get(k);
  };
  for (const u of pr.unresolved) {
    const r = u.chain.length === 0 ? idioms.resolve(u) : undefined;
    if (!r) {
      unresolved.push({ site: u.site, fn: fnAt(u.at, index.get(u.fn) ?? 0), reason: u.reason });
      continue;
    }
    for (const x of r.uses) addSite(fnAt(x.caller, 0), u.site, x.numbers);
    for (const x of r.unresolved) unresolved.push({ site: u.site, fn: fnAt(x.fn, 0), reason: x.reason });
  }
  const paramWrappers: ObjectSummary['paramWrappers'] = [];
  const seenWrapper = new Set<string>();
  for (const o of pr.open) {
    // An entry inside a function (a call target, analysis/x86/program.ts isInnerEntry) belongs to the function containing it.
    const fi = index.get(o.entry) ?? containing(o.entry);
    if (fi === undefined) continue;
    if (o.why === 'exported') {
      const k = `${fi}:${JSON.stringify(o.loc)}`;
      if (!seenWrapper.has(k)) { seenWrapper.add(k); paramWrappers.push({ fn: fi, loc: o.loc, site: o.site }); }
      continue;
    }
    const t = viaTable(o);
    if (t) {
      for (const x of t.uses) addSite(fnAt(x.caller, 0), o.site, x.numbers);
      for (const x of t.unresolved) unresolved.push({ site: o.site, fn: fnAt(x.fn, 0), reason: x.reason });
      continue;
    }
    unresolved.push({ site: o.site, fn: fi, reason: `number is ${fmtLoc(o.loc)} at entry of ${o.entryName ?? hex(o.entry)}, which is ${o.why}` });
  }

  const importArgs: ObjectSummary['importArgs'] = [];
  for (const w of WRAPPER_IMPORTS) {
    for (const key of new Set(a.plt.values())) {
      if (key !== w.name && !key.startsWith(`${w.name}@`)) continue;
      const r = resolveImportArgs(a, key, w.loc, { maxDepth: 4 });
      const uses = new Map<number, Set<number>>();
      const use = (caller: number, numbers: number[]) => {
        const fi = fnAt(caller, 0);
        let s = uses.get(fi);
        if (!s) uses.set(fi, (s = new Set()));
        syscallNumbers(numbers).forEach((n) => s!.add(n));
      };
      for (const u of r.uses) use(u.caller, u.numbers);
      const open: typeof r.open = [];
      for (const o of r.open) {
        const t = viaTable(o);
        if (!t) { open.push(o); continue; }
        for (const x of t.uses) use(x.caller, x.numbers);
        for (const x of t.unresolved) unresolved.push({ site: o.site, fn: fnAt(x.fn, 0), reason: `argument of ${key}: ${x.reason}` });
      }
      importArgs.push({
        import: imp(key), loc: w.loc,
        uses: [...uses].sort((x, y) => x[0] - y[0]).map(([fn, nr]) => ({ fn, nr: [...nr].sort((x, y) => x - y) })),
      });
      for (const u of r.unresolved) unresolved.push({ site: u.site, fn: fnAt(u.at, 0), reason: `argument of ${key}: ${u.reason}` });
      for (const o of open) {
        const fi = index.get(o.entry) ?? containing(o.entry);
        if (fi !== undefined) unresolved.push({ site: o.site, fn: fi, reason: `argument of ${key} is ${fmtLoc(o.loc)} at entry of ${o.entryName ?? hex(o.entry)}, which is ${o.why}` });
      }
    }
  }
  idioms.free();

  // Argument values of tracked syscalls (socket families): analysis/summary/arg-facts.ts.
  const args = argFacts(a, (addr) => fnAt(addr, 0), imp);

  for (const [fi, m] of sites) {
    fns[fi].s = [...m].sort((x, y) => x[0] - y[0]).map(([at, nr]) => ({ at, nr: [...nr].sort((x, y) => x - y) }));
  }

  // Address-taken functions: what the code materialises, every code address stored in
  // data through relocations, init/fini arrays and IFUNC resolvers.
  const taken = new Set<number>();
  const take = (addr: number) => { const i = entryIndex(addr); if (i !== undefined) taken.add(i); };
  a.addressTaken.forEach(take);
  for (const x of [...elf.relativeTargets, ...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers]) take(x);
  const importsAddressTaken = new Set<number>(importsTakenByCode);
  for (const r of elf.relocations) {
    if (r.type !== R_X86_64.GLOB_DAT && r.type !== R_X86_64.R64) continue;
    const s = r.symbol;
    if (!s || !s.name) continue;
    if (s.defined) take(s.value + (r.type === R_X86_64.R64 ? r.addend : 0));
    else if (s.type !== 'object' && s.type !== 'tls') importsAddressTaken.add(imp(importKey(s.name, s.version)));
  }
  // A non-PIE executable stores function pointers as plain absolute values without
  // relocations (static glibc's _IO_file_jumps): scan its data for function starts.
  if (elf.type === 'exec') for (const addr of absolutePointers(elf, index, a.innerEntries)) taken.add(addr);

  const inits = new Set<number>();
  for (const x of [...elf.preinitArray, ...elf.initArray, ...elf.finiArray, elf.dynamicValue(DT.INIT), elf.dynamicValue(DT.FINI)]) {
    if (x === undefined) continue;
    const i = entryIndex(x);
    if (i !== undefined) inits.add(i);
  }

  const exportList: ObjectSummary['exports'] = [];
  for (const s of elf.dynsym) {
    if (!s.defined || !s.name || s.bind === 'local' || s.visibility === 'hidden' || s.visibility === 'internal') continue;
    if (s.type !== 'func' && s.type !== 'ifunc' && s.type !== 'notype') continue;
    const i = index.get(s.value);
    if (i === undefined) continue;
    exportList.push({ name: s.version ? `${s.name}@${s.versionDefault ? '@' : ''}${s.version}` : s.name, fn: i });
  }

  const refs = regionFacts(elf, a, starts, index, entryIndex, containing, imp, taken, ifuncResolvers);
  if (refs.perFunction) {
    refs.perFunction.forEach((x, fi) => {
      if (x.t.length) fns[fi].t = x.t;
      if (x.d.length) fns[fi].d = x.d;
      if (x.h.length) fns[fi].h = x.h;
    });
  }
  // IFUNC resolvers run when the loader relocates, whatever the program does.
  for (const r of ifuncResolvers) { const i = entryIndex(r); if (i !== undefined) inits.add(i); }

  let unknownTargets = 0;
  for (const f of a.functions.values()) unknownTargets += f.unknownTargets.length;
  const entry = index.get(elf.entry);
  const sortNum = (s: Iterable<number>) => [...s].sort((x, y) => x - y);
  return {
    functions: fns,
    imports,
    exports: exportList,
    ...(entry !== undefined ? { entry } : {}),
    inits: sortNum(inits),
    addressTaken: sortNum(taken),
    importsAddressTaken: sortNum(importsAddressTaken),
    paramWrappers,
    importArgs,
    args,
    unresolved,
    ...(refs.regions ? { regions: refs.regions, rootRegions: refs.rootRegions, takenAlways: refs.takenAlways, dataExports: refs.dataExports } : {}),
    stats: { instructions: a.instructionCount, syscallSites: a.syscalls.length, unknownTargets },
  };
}

interface RegionFacts {
  /** Per function (when the code's data references were recorded): functions it materialises, regions it refers into. */
  perFunction?: { t: number[]; d: number[]; h: number[] }[];
  regions?: NonNullable<ObjectSummary['regions']>;
  rootRegions?: number[];
  takenAlways?: number[];
  dataExports?: NonNullable<ObjectSummary['dataExports']>;
}

const NONE: number[] = [];
const CELL_FN = 0;
const EMPTY_FACTS = { t: NONE, d: NONE, h: NONE };
const CELL_REGION = 1;
const CELL_IMPORT = 2;
const CELL_NAME = 3;
/** How far into a function a materialised address still counts as entering it (padding before the real entry). */
const ENTRY_SLACK = 16;

/**
 * The facts the link walk needs to count a function as an indirect-call target only
 * when reached code or live data can point at it. Without recorded data references
 * (Go binaries, decoded by analysis/golang/), none: the walk falls back to sysfilter's rule.
 */
function regionFacts(
  elf: ElfFile,
  a: CodeAnalysis,
  starts: number[],
  index: Map<number, number>,
  entryIndex: (addr: number) => number | undefined,
  containing: (addr: number) => number | undefined,
  imp: (key: string) => number,
  taken: Set<number>,
  ifuncResolvers: Set<number>,
): RegionFacts {
  const recorded = starts.length > 0 && a.functions.get(starts[0])!.dataRefs !== undefined;
  // No regions at all: the link walk then applies sysfilter's rule to this object
  // (every address-taken function and address-taken import is a target whatever runs).
  if (!recorded) return {};
  const materialised = new Set<number>();
  for (const f of a.functions.values()) for (const x of f.dataAddressTaken ?? []) materialised.add(x);
  const strings = new StringReader(elf);
  const plt = a.plt;
  const importAtPlt = (addr: number): number | undefined => {
    const key = plt.get(addr);
    return key === undefined || key.startsWith(IFUNC_PREFIX) ? undefined : imp(key);
  };
  const dr = dataRegions({ elf, functionAt: entryIndex, importOf: (name, version) => imp(importKey(name, version)), importAtPlt, materialised, strings });

  // Only regions holding pointers matter; renumber them densely.
  const keep = new Int32Array(dr.regions.length).fill(-1);
  const regions: NonNullable<RegionFacts['regions']> = [];
  dr.regions.forEach((r, i) => { if (r.cells.length) { keep[i] = regions.length; regions.push({ a: r.start, c: [] }); } });
  const seenCell = new Set<number>();
  dr.regions.forEach((r, i) => {
    const k = keep[i];
    if (k < 0) return;
    seenCell.clear();
    for (const c of r.cells) {
      const t = c.target;
      let kind: number;
      let to: number;
      if ('fn' in t) { kind = CELL_FN; to = t.fn; }
      else if ('import' in t) { kind = CELL_IMPORT; to = t.import; }
      else if ('name' in t) { kind = CELL_NAME; to = t.name; }
      else if (keep[t.region] >= 0) { kind = CELL_REGION; to = keep[t.region]; }
      else continue;
      // One cell per target is enough for the walk and for explain. Targets are indexes
      // or 32-bit hashes: the numeric key is exact (no string per cell).
      const key = to * 4 + kind;
      if (seenCell.has(key)) continue;
      seenCell.add(key);
      regions[k].c.push([c.at, kind, to]);
    }
  });
  const mapRegions = (rs: Iterable<number>) => {
    const out = new Set<number>();
    for (const r of rs) if (keep[r] >= 0) out.add(keep[r]);
    return [...out].sort((x, y) => x - y);
  };

  // Three sets for the whole object, emptied per function (tens of thousands of functions).
  const t = new Set<number>();
  const d = new Set<number>();
  const h = new Set<number>();
  // Most functions name nothing: they share one empty list (only non-empty ones are stored).
  const sorted = (x: Set<number>) => (x.size ? [...x].sort((p, q) => p - q) : NONE);
  const byRef = new Map<number, { rs: number[]; name: number | undefined }>();
  const perFunction = starts.map((addr) => {
    const f = a.functions.get(addr)!;
    t.clear();
    d.clear();
    h.clear();
    if (!f.addressTaken.length && !f.dataAddressTaken?.length && !f.dataRefs?.length) return EMPTY_FACTS;
    for (const x of f.addressTaken) { const i = index.get(x); if (i !== undefined) t.add(i); }
    // An address just inside a function's start is an entry (glibc's signal restorer
    // __restore_rt sits one byte into its FDE's range; the kernel jumps to it). Farther
    // in, a materialised code address is a constant table in .text (OpenSSL's assembly),
    // read, not run.
    for (const x of f.dataAddressTaken ?? []) {
      const i = containing(x);
      if (i !== undefined && x - starts[i] < ENTRY_SLACK) t.add(i);
    }
    // An IFUNC resolver's choices are reached through the resolver's own call edges.
    if (ifuncResolvers.has(addr)) t.clear();
    for (const x of f.dataRefs ?? []) {
      // Functions share the globals they refer to: each address is looked up once.
      let ref = byRef.get(x);
      if (ref === undefined) {
        const rs: number[] = [];
        for (const r of dr.regionsForCodeRef(x)) if (keep[r] >= 0) rs.push(keep[r]);
        byRef.set(x, (ref = { rs, name: strings.nameHashAt(x) }));
      }
      for (const r of ref.rs) d.add(r);
      if (ref.name !== undefined) h.add(ref.name);
    }
    return { t: sorted(t), d: sorted(d), h: sorted(h) };
  });

  const dataExports: NonNullable<RegionFacts['dataExports']> = [];
  for (const s of elf.dynsym) {
    if (!s.defined || !s.name || s.bind === 'local' || s.visibility === 'hidden' || s.visibility === 'internal') continue;
    if (s.type !== 'object' && s.type !== 'tls' && s.type !== 'notype') continue;
    const r = dr.regionOf(s.value);
    if (r < 0 || keep[r] < 0) continue;
    dataExports.push({ name: s.version ? `${s.name}@${s.versionDefault ? '@' : ''}${s.version}` : s.name, r: keep[r] });
  }
  return { perFunction, regions, rootRegions: mapRegions(dr.roots), takenAlways: dr.rootFunctions, dataExports };
}

/** Function indexes whose absolute address appears, 8-byte aligned, in allocated non-code sections. */
function absolutePointers(elf: ElfFile, index: Map<number, number>, innerEntries: Map<number, number>): Set<number> {
  const out = new Set<number>();
  // Most words are not code addresses: a range check saves the map lookup.
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of [...index.keys(), ...innerEntries.keys()]) {
    if (a < lo) lo = a;
    if (a > hi) hi = a;
  }
  forEachAbsoluteDataWord(elf, (_at, v) => {
    if (v < lo || v > hi) return;
    // An entry settled inside a function (analysis/x86/data-starts.ts) points into that function.
    const holder = innerEntries.get(v);
    const i = index.get(v) ?? (holder === undefined ? undefined : index.get(holder));
    if (i !== undefined) out.add(i);
  });
  return out;
}

/**
 * A pointer variable only this object's code can reach by name: no symbol covers it (no
 * other object can name it), no relocation stores its address or fills it, and it is
 * zero before the program runs (.bss, or zero bytes). analysis/x86/idioms.ts trusts what the
 * code stores in it only under these conditions.
 */
function isPrivateGlobal(elf: ElfFile, g: number): boolean {
  const covers = (s: { defined: boolean; value: number; size: number }) => s.defined && s.value <= g && g < s.value + Math.max(s.size, 8);
  if (elf.dynsym.some(covers)) return false;
  if (elf.relocationAt(g) !== undefined) return false;
  for (const r of elf.relocations) {
    if (r.symbol?.defined && covers(r.symbol)) return false;
  }
  if (elf.relativeTargets.some((t) => t > g - 8 && t <= g)) return false;
  const init = elf.readAt(g, 8);
  return init === undefined || init.every((b) => b === 0);
}

/**
 * Whether data may hold an address in [lo, hi) (analysis/x86/callback-context.ts): a
 * relocation's target, an init/fini/IFUNC entry, DT_INIT/DT_FINI, or an aligned data word
 * equal to one. Only relocatable objects (ET_DYN) can tell: their pointers in data need
 * relocations; an executable's plain 4-byte words could hold one unseen, so it says yes.
 */
function codeAddressInData(elf: ElfFile, lo: number, hi: number): boolean {
  if (elf.type !== 'dyn') return true;
  const inside = (x: number | undefined) => x !== undefined && x >= lo && x < hi;
  if ([...elf.relativeTargets, ...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers].some(inside)) return true;
  if (inside(elf.dynamicValue(DT.INIT)) || inside(elf.dynamicValue(DT.FINI))) return true;
  for (const r of elf.relocations) {
    if (inside(r.type === R_X86_64.RELATIVE ? r.addend : r.symbol?.defined ? r.symbol.value + r.addend : undefined)) return true;
  }
  let held = false;
  forEachAbsoluteDataWord(elf, (_at, v) => { if (inside(v)) held = true; });
  return held;
}

/**
 * The private tables of function pointers holding `fn` (see analysis/x86/idioms.ts): runs of
 * relocated 8-byte slots around each slot a relocation fills with fn's address, none
 * covered by a symbol. Undefined when fn's address is stored anywhere else (init/fini
 * arrays, IFUNC, a symbol-based relocation: exported) or the object has no relocations
 * to tell (a non-PIE executable stores plain absolute words).
 */
function pointerTables(elf: ElfFile, fn: number): [number, number][] | undefined {
  if (elf.type !== 'dyn') return undefined;
  if ([...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers].includes(fn)) return undefined;
  const slots = new Set<number>();
  const cells: number[] = [];
  for (const r of elf.relocations) {
    if (r.type === R_X86_64.RELATIVE || r.type === R_X86_64.R64 || r.type === R_X86_64.GLOB_DAT || r.type === R_X86_64.JUMP_SLOT) slots.add(r.offset);
    const target = r.type === R_X86_64.RELATIVE ? r.addend : r.symbol?.defined ? r.symbol.value + r.addend : undefined;
    if (target !== fn) continue;
    if (r.type !== R_X86_64.RELATIVE) return undefined;
    cells.push(r.offset);
  }
  if (!cells.length) return undefined;
  const tables = new Map<number, number>();
  for (const c of cells) {
    let lo = c;
    while (slots.has(lo - 8)) lo -= 8;
    let hi = c + 8;
    while (slots.has(hi)) hi += 8;
    tables.set(lo, hi);
  }
  const out = [...tables];
  for (const s of elf.dynsym) {
    if (!s.defined || s.type === 'func' || s.type === 'ifunc') continue;
    if (out.some(([lo, hi]) => s.value < hi && lo < s.value + Math.max(s.size, 1))) return undefined;
  }
  return out;
}

function fmtLoc(l: ParamLoc): string {
  return typeof l === 'string' ? `%${l}` : `stack+${l.stack}`;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * The numbers the kernel can act on. It reads the number as a 32-bit int (do_syscall_64's
 * `int nr`, seccomp_data.nr), so a constant is taken modulo 2^32; a negative result runs
 * no syscall (ENOSYS) and has nothing to allow. A hostile or odd binary (`mov $-1,%rax`)
 * must not produce an artifact the schema refuses, which would fail the whole image.
 */
export function syscallNumbers(raw: Iterable<number>): number[] {
  const out: number[] = [];
  for (const n of raw) {
    if (!Number.isInteger(n)) continue;
    const low = Number(BigInt.asIntN(32, BigInt(n)));
    if (low >= 0) out.push(low);
  }
  return out;
}
