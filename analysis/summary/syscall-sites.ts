import type { ObjectSummary } from '../../schemas/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import { BackwardFlow } from '../x86/dataflow';
import { SyscallIdioms } from '../x86/idioms';
import { fmtLoc, resolveImportArgs, resolveParamSyscalls } from '../x86/param-syscalls';
import type { ParamLoc } from '../x86/types';
import type { FunctionTable } from './function-table';
import type { ImportTable } from './import-table';
import type { PrivateTables } from './private-tables';

/** The reason an i386-ABI syscall site (int $0x80, sysenter) is unresolved; profile-emit looks for it. */
export const I386_ABI_REASON = ': i386 syscall ABI (numbers are not x86-64 numbers)';
/** Whether an unresolved site's reason says it makes i386-ABI syscalls. */
export const isI386AbiSite = (reason: string): boolean => reason.includes(I386_ABI_REASON);

/**
 * Imports whose syscall number argument is recovered at this object's call sites,
 * because the library that defines them may take the number as a parameter. libc's
 * (glibc's and musl's) `syscall()` takes it in %rdi. The link step counts any other
 * param-wrapper import as an unresolved site.
 */
export const WRAPPER_IMPORTS: { name: string; loc: ParamLoc }[] = [{ name: 'syscall', loc: 'rdi' }];

export interface SyscallFacts {
  /** Function index → syscall instruction address → the numbers made there. */
  sites: Map<number, Map<number, Set<number>>>;
  unresolved: ObjectSummary['unresolved'];
  paramWrappers: ObjectSummary['paramWrappers'];
  importArgs: ObjectSummary['importArgs'];
}

type TableCalls = ReturnType<SyscallIdioms['resolveTableCalls']>;
type Open = { entry: number; loc: ParamLoc; why: string; xf?: unknown[] };

/** What the three parts of syscallFacts share: where they put what they find, and the idioms. */
interface Collect extends SyscallFacts {
  table: FunctionTable;
  addSite(fn: number, at: number, raw: number[]): void;
  idioms: SyscallIdioms;
  /** The numbers an address-taken wrapper gets through a private function table, if it is called only so. */
  viaTable(o: Open): TableCalls | undefined;
}

/**
 * The syscall numbers of an object, by function and site: constants at syscall
 * instructions, constants its callers pass to wrappers that take the number as a
 * parameter (analysis/x86/param-syscalls.ts), library idioms (analysis/x86/idioms.ts); the
 * exported wrappers whose number is their caller's; the numbers this object passes to
 * libc's syscall(); and every site left unresolved, with the reason.
 */
export function syscallFacts(code: CodeAnalysis, table: FunctionTable, imports: ImportTable, privateTables: PrivateTables): SyscallFacts {
  const sites: SyscallFacts['sites'] = new Map();
  const pr = resolveParamSyscalls(code, { maxDepth: 4 });
  // Library idioms (analysis/x86/idioms.ts): a path that stopped at a load of the number may be
  // one whose numbers its callers store; those are attributed to the callers.
  const idioms = new SyscallIdioms(code, new BackwardFlow(code.program, code.noReturn), {
    isPrivateGlobal: (g) => privateTables.isPrivateGlobal(g),
    pointerTables: (f) => privateTables.pointerTables(f),
    codeAddressInData: (lo, hi) => privateTables.codeAddressInData(lo, hi),
  });
  // An address-taken wrapper called only through a private function table (libcap's
  // _cap_syscall3/6): the numbers the object's calls through the table pass. Memoised:
  // the same wrapper is open for its own sites and for the syscall() import's.
  const tableCalls = new Map<string, TableCalls>();
  const c: Collect = {
    sites, unresolved: [], paramWrappers: [], importArgs: [], table, idioms,
    addSite(fn, at, raw) {
      const nrs = syscallNumbers(raw);
      if (!nrs.length) return;
      let m = sites.get(fn);
      if (!m) sites.set(fn, (m = new Map()));
      let s = m.get(at);
      if (!s) m.set(at, (s = new Set()));
      for (const n of nrs) s.add(n);
    },
    viaTable(o) {
      if (o.why !== 'address-taken' || typeof o.loc !== 'string' || o.xf?.length) return undefined;
      const k = `${o.entry}:${o.loc}`;
      if (!tableCalls.has(k)) tableCalls.set(k, idioms.resolveTableCalls(o.entry, o.loc));
      return tableCalls.get(k);
    },
  };
  try {
    siteNumbers(c, code, pr);
    openWrappers(c, pr.open);
    wrapperImportArgs(c, code, imports);
  } finally {
    idioms.free();
  }
  return { sites, unresolved: c.unresolved, paramWrappers: c.paramWrappers, importArgs: c.importArgs };
}

type ParamResult = ReturnType<typeof resolveParamSyscalls>;

/** Numbers at syscall instructions, at wrappers' call sites and through idioms; i386-ABI sites and paths no constant reaches are unresolved. */
function siteNumbers(c: Collect, code: CodeAnalysis, pr: ParamResult): void {
  const { table } = c;
  for (const s of code.syscalls) {
    const fi = table.index.get(s.fn)!;
    if (s.insn !== 'syscall') {
      c.unresolved.push({ site: s.addr, fn: fi, reason: `${s.insn === 'int80' ? 'int $0x80' : 'sysenter'}${I386_ABI_REASON}` });
      continue;
    }
    c.addSite(fi, s.addr, s.numbers);
  }
  // Constants found at a wrapper's call sites belong to the caller that supplies them:
  // the syscall happens with that number only when that caller runs.
  for (const u of pr.uses) c.addSite(table.at(u.caller, 0), u.site, u.numbers);
  for (const u of pr.unresolved) {
    const r = u.chain.length === 0 ? c.idioms.resolve(u) : undefined;
    if (!r) {
      c.unresolved.push({ site: u.site, fn: table.at(u.at, table.index.get(u.fn) ?? 0), reason: u.reason });
      continue;
    }
    for (const x of r.uses) c.addSite(table.at(x.caller, 0), u.site, x.numbers);
    for (const x of r.unresolved) c.unresolved.push({ site: u.site, fn: table.at(x.fn, 0), reason: x.reason });
  }
}

/** Wrappers whose number comes from their entry: exported ones are the link step's (paramWrappers), others resolved through a private table or unresolved. */
function openWrappers(c: Collect, open: ParamResult['open']): void {
  const { table } = c;
  const seenWrapper = new Set<string>();
  for (const o of open) {
    // An entry inside a function (a call target, analysis/x86/program.ts isInnerEntry) belongs to the function containing it.
    const fi = table.index.get(o.entry) ?? table.containing(o.entry);
    if (fi === undefined) continue;
    if (o.why === 'exported') {
      const k = `${fi}:${JSON.stringify(o.loc)}`;
      if (!seenWrapper.has(k)) { seenWrapper.add(k); c.paramWrappers.push({ fn: fi, loc: o.loc, site: o.site }); }
      continue;
    }
    const t = c.viaTable(o);
    if (t) {
      for (const x of t.uses) c.addSite(table.at(x.caller, 0), o.site, x.numbers);
      for (const x of t.unresolved) c.unresolved.push({ site: o.site, fn: table.at(x.fn, 0), reason: x.reason });
      continue;
    }
    c.unresolved.push({ site: o.site, fn: fi, reason: `number is ${fmtLoc(o.loc)} at entry of ${o.entryName ?? hex(o.entry)}, which is ${o.why}` });
  }
}

/** The numbers this object passes to WRAPPER_IMPORTS (libc's syscall()), by calling function. */
function wrapperImportArgs(c: Collect, code: CodeAnalysis, imports: ImportTable): void {
  const { table } = c;
  for (const w of WRAPPER_IMPORTS) {
    for (const key of new Set(code.plt.values())) {
      if (key !== w.name && !key.startsWith(`${w.name}@`)) continue;
      const r = resolveImportArgs(code, key, w.loc, { maxDepth: 4 });
      const uses = new Map<number, Set<number>>();
      const use = (caller: number, numbers: number[]) => {
        const fi = table.at(caller, 0);
        let s = uses.get(fi);
        if (!s) uses.set(fi, (s = new Set()));
        syscallNumbers(numbers).forEach((n) => s!.add(n));
      };
      for (const u of r.uses) use(u.caller, u.numbers);
      const open: typeof r.open = [];
      for (const o of r.open) {
        const t = c.viaTable(o);
        if (!t) { open.push(o); continue; }
        for (const x of t.uses) use(x.caller, x.numbers);
        for (const x of t.unresolved) c.unresolved.push({ site: o.site, fn: table.at(x.fn, 0), reason: `argument of ${key}: ${x.reason}` });
      }
      c.importArgs.push({
        import: imports.of(key), loc: w.loc,
        uses: [...uses].sort((x, y) => x[0] - y[0]).map(([fn, nr]) => ({ fn, nr: [...nr].sort((x, y) => x - y) })),
      });
      for (const u of r.unresolved) c.unresolved.push({ site: u.site, fn: table.at(u.at, 0), reason: `argument of ${key}: ${u.reason}` });
      for (const o of open) {
        const fi = table.index.get(o.entry) ?? table.containing(o.entry);
        if (fi !== undefined) c.unresolved.push({ site: o.site, fn: fi, reason: `argument of ${key} is ${fmtLoc(o.loc)} at entry of ${o.entryName ?? hex(o.entry)}, which is ${o.why}` });
      }
    }
  }
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
