import { bareName } from '../elf';
import type { CodeAnalysis } from '../x86/code-analysis';
import { BackwardFlow } from '../x86/dataflow';
import { ARG_REGS, bestFact, localCalls, MAX_GUARDS, MAX_VALUES, scanGuards, type GuardScan, type GuardScanOptions, type ItemInsn } from '../x86/param-guards';
import { FIELD_MODEL_EXPORTS } from './field-model-exports';
import { GPR_NAMES } from '../x86/registers';
import type { Gpr } from '../x86/types';
import type { SummaryFunction } from './function-edges';
import type { FunctionTable } from './function-table';
import { IFUNC_PREFIX, type ImportTable } from './import-table';

type Guard = NonNullable<SummaryFunction['g']>[number];

/**
 * Issue 26's per-function value facts (the contract in schemas/elf-scan.schema.json):
 * `g` — the items (callees, imports, syscall sites) each function makes only under a
 * condition on an entry value; `gv` — the values it passes to guarded register
 * parameters of local callees; `ia` — the constants in argument registers at its calls
 * to imports. All from one forward scan per function (analysis/x86/param-guards.ts);
 * an item is guarded only when every instruction of the function making it is, by the
 * same condition. Functions in `noScan` get none of the three; words read through an
 * argument are guards only in an object a library value model may apply to
 * (field-model-exports.ts). Sets the fields on `functions` in place.
 */
export function guardFacts(code: CodeAnalysis, table: FunctionTable, imports: ImportTable, functions: SummaryFunction[], ifuncResolvers: ReadonlySet<number>, exported: readonly { name: string }[] = [], noScan: ReadonlySet<number> = new Set()): GuardScan {
  const flow = new BackwardFlow(code.program, code.noReturn);
  try {
    const names = new Set(exported.map((e) => bareName(e.name)));
    const fieldGuards = [...FIELD_MODEL_EXPORTS].some((n) => names.has(n));
    return facts(code, flow, table, imports, functions, ifuncResolvers, names, { noScan, fieldGuards });
  } finally {
    flow.free();
  }
}

function facts(code: CodeAnalysis, flow: BackwardFlow, table: FunctionTable, imports: ImportTable, functions: SummaryFunction[], ifuncResolvers: ReadonlySet<number>, selfExported: ReadonlySet<string>, opts: GuardScanOptions & { noScan: ReadonlySet<number> }): GuardScan {
  const scan = scanGuards(code, flow, opts);
  const noScan = opts.noScan;
  // Register parameters each function's guards test, or read a guarded word through (gv is
  // kept only for those: for a word, only a pass-through `from` says anything, the same
  // object handed on, which a library value model's fact about every such object covers).
  const guardedRegs = new Map<number, Set<Gpr>>();
  for (const [addr, fs] of scan.byFunction) {
    const fi = table.index.get(addr);
    if (fi === undefined) continue;
    const out = functions[fi];
    const g = guardsOf(scan, fs.items, out, table, imports, code, ifuncResolvers.has(addr));
    if (g.length) {
      out.g = g;
      for (const x of g) if (typeof x.v.p === 'string') {
        let s = guardedRegs.get(fi);
        if (!s) guardedRegs.set(fi, (s = new Set()));
        s.add(x.v.p);
      }
    }
  }
  // Every function: constants set right before its calls to imports and guarded callees,
  // and entry values passed on unchanged (cheap, local; the forward scan adds `from` where it ran).
  const holders = new Set(code.innerEntries.values());
  const wantedAt = new Map<number, boolean>();
  const wanted = (t: number): boolean => {
    let w = wantedAt.get(t);
    if (w === undefined) wantedAt.set(t, (w = wants(t)));
    return w;
  };
  const wants = (t: number): boolean => {
    const stub = code.plt.get(t);
    // An import this object also exports (libcrypto calls its own ERR_* through the PLT, with
    // constants everywhere) usually binds to itself: no ia for it keeps the summary small,
    // and a definition elsewhere just sees an unknown value (sound).
    if (stub !== undefined) return !stub.startsWith(IFUNC_PREFIX) && !selfExported.has(bareName(stub));
    const f = table.index.get(t);
    return f !== undefined && guardedRegs.has(f);
  };
  for (let fi = 0; fi < functions.length; fi++) {
    const addr = table.starts[fi];
    const info = code.functions.get(addr);
    if (!info || (info.imports.length === 0 && info.calls.length === 0 && info.tailCalls.length === 0)) continue;
    // Functions holding entries no decoding of theirs shows (data-derived starts): their calls are not all here.
    // With a jump table any instruction may be a way in, which the look back before a call cannot see.
    if (holders.has(addr) || info.hasIndirectJump || noScan.has(addr)) continue;
    const items = localCalls(code, flow, addr, wanted);
    if (!items.length) continue;
    const scanned = scan.byFunction.get(addr);
    if (scanned) addForwardValues(items, scanned.items);
    const ia = importArgs(items, code, imports);
    if (ia.length) functions[fi].ia = ia;
    const gv = calleeValues(items, table, code, guardedRegs);
    if (gv.length) functions[fi].gv = gv;
  }
  return scan;
}

/** Where the local look found nothing, the forward scan's entry values passed on unchanged at the same call. */
function addForwardValues(items: ItemInsn[], scanned: ItemInsn[]): void {
  const byAt = new Map(scanned.map((x) => [x.at, x]));
  for (const it of items) {
    const f = byAt.get(it.at)?.args;
    if (!f) continue;
    for (const [r, v] of f) {
      if (!v.from) continue;
      const args = it.args ?? (it.args = new Map());
      if (!args.has(r)) args.set(r, { from: v.from });
    }
  }
}

/** The item an instruction makes, as a key: `e<index>`, `i<index>`, `s<at>`; undefined for none. */
function itemKey(it: ItemInsn, table: FunctionTable, imports: ImportTable, code: CodeAnalysis): string | undefined {
  if (it.kind === 'syscall') return `s${it.at}`;
  const t = it.target!;
  const stub = code.plt.get(t);
  if (stub !== undefined) {
    if (stub.startsWith(IFUNC_PREFIX)) {
      const r = table.index.get(Number(stub.slice(IFUNC_PREFIX.length)));
      return r === undefined ? undefined : `e${r}`;
    }
    return `i${imports.of(stub)}`;
  }
  const fi = table.index.get(t) ?? table.containing(t);
  return fi === undefined ? undefined : `e${fi}`;
}

function guardsOf(scan: GuardScan, items: ItemInsn[], out: SummaryFunction, table: FunctionTable, imports: ImportTable, code: CodeAnalysis, ifuncResolver: boolean): Guard[] {
  // Facts that hold at every instruction making the item.
  const byKey = new Map<string, number[]>();
  for (const it of items) {
    const key = itemKey(it, table, imports, code);
    if (key === undefined) continue;
    const prev = byKey.get(key);
    byKey.set(key, prev === undefined ? it.facts : prev.filter((f) => it.facts.includes(f)));
  }
  const e = new Set(out.e ?? []);
  const i = new Set(out.i ?? []);
  const s = new Set((out.s ?? []).map((x) => x.at));
  const byFact = new Map<number, { e: number[]; i: number[]; s: number[] }>();
  for (const [key, facts] of byKey) {
    if (!facts.length) continue;
    const n = Number(key.slice(1));
    const kind = key[0];
    // Listed in the record, and only because of these instructions (an IFUNC resolver's record also names every implementation).
    if (kind === 'e' ? !e.has(n) || ifuncResolver : kind === 'i' ? !i.has(n) : !s.has(n)) continue;
    const best = bestFact(scan.facts, facts)!;
    let g = byFact.get(best);
    if (!g) byFact.set(best, (g = { e: [], i: [], s: [] }));
    (kind === 'e' ? g.e : kind === 'i' ? g.i : g.s).push(n);
  }
  if (byFact.size > MAX_GUARDS) return [];
  return [...byFact].sort((x, y) => x[0] - y[0]).map(([id, g]) => {
    const f = scan.facts[id];
    const src = scan.sources[f.src];
    const guard: Guard = { v: { p: src.p, ...(src.off !== undefined ? { off: src.off, w: f.w ?? 4 } : {}) }, c: { op: f.op, k: f.k >>> 0 } };
    if (g.e.length) guard.e = g.e.sort((x, y) => x - y);
    if (g.i.length) guard.i = g.i.sort((x, y) => x - y);
    if (g.s.length) guard.s = g.s.sort((x, y) => x - y);
    return guard;
  });
}

/** Per import and argument register: the constants it holds at every call/tail jump to the import. */
function importArgs(items: ItemInsn[], code: CodeAnalysis, imports: ImportTable): NonNullable<SummaryFunction['ia']> {
  const byImport = new Map<number, ItemInsn[]>();
  for (const it of items) {
    if (it.target === undefined) continue;
    const stub = code.plt.get(it.target);
    if (stub === undefined || stub.startsWith(IFUNC_PREFIX)) continue;
    const i = imports.of(stub);
    const l = byImport.get(i);
    if (l) l.push(it);
    else byImport.set(i, [it]);
  }
  const out: NonNullable<SummaryFunction['ia']> = [];
  for (const [i, calls] of [...byImport].sort((x, y) => x[0] - y[0])) {
    for (const r of ARG_REGS) {
      const vals = new Set<number>();
      let known = true;
      for (const c of calls) {
        const a = c.args?.get(r);
        if (!a?.v || a.from) { known = false; break; }
        a.v.forEach((v) => vals.add(v));
      }
      if (known && vals.size && vals.size <= MAX_VALUES) out.push({ i, p: GPR_NAMES[r], v: [...vals].sort((x, y) => x - y) });
    }
  }
  return out;
}

/** Per local callee with guards on a register (or a word read through one): the values this function passes in each such register at every call/tail jump to its start. */
function calleeValues(items: ItemInsn[], table: FunctionTable, code: CodeAnalysis, guardedRegs: Map<number, Set<Gpr>>): NonNullable<SummaryFunction['gv']> {
  const byCallee = new Map<number, ItemInsn[]>();
  for (const it of items) {
    if (it.target === undefined || code.plt.has(it.target)) continue;
    const f = table.index.get(it.target);
    if (f === undefined || !guardedRegs.has(f)) continue;
    const l = byCallee.get(f);
    if (l) l.push(it);
    else byCallee.set(f, [it]);
  }
  const out: NonNullable<SummaryFunction['gv']> = [];
  for (const [f, calls] of [...byCallee].sort((x, y) => x[0] - y[0])) {
    for (const p of [...guardedRegs.get(f)!].sort()) {
      const r = GPR_NAMES.indexOf(p);
      const vals = new Set<number>();
      const from = new Set<Gpr>();
      let known = true;
      for (const c of calls) {
        const a = c.args?.get(r);
        if (!a) { known = false; break; }
        a.v?.forEach((v) => vals.add(v));
        if (a.from) from.add(a.from);
      }
      if (!known || vals.size > MAX_VALUES || from.size > 1) continue;
      out.push({ f, p, ...(vals.size ? { v: [...vals].sort((x, y) => x - y) } : {}), ...(from.size ? { from: [...from][0] } : {}) });
    }
  }
  return out;
}
