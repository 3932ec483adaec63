import type { ObjectSummary } from '../../schemas/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import type { FunctionTable } from './function-table';
import { IFUNC_PREFIX, type ImportTable } from './import-table';
import type { ObjectSymbols } from './object-symbols';

export type SummaryFunction = ObjectSummary['functions'][number];

/**
 * Each function's record in the summary, from its decoded facts: name, successors (calls,
 * tail calls, jumps into other functions, IFUNC calls through their resolver), imports
 * it calls and whose address it takes, indirect transfers. Also the imports whose
 * address any code takes.
 */
export function functionRecords(code: CodeAnalysis, table: FunctionTable, imports: ImportTable, symbols: ObjectSymbols): { functions: SummaryFunction[]; importsTakenByCode: Set<number> } {
  const { index } = table;
  const importsTakenByCode = new Set<number>();
  // Two sets for the whole object, emptied per function (tens of thousands of functions).
  const succ = new Set<number>();
  const imps = new Set<number>();
  const functions: SummaryFunction[] = table.starts.map((addr) => {
    const f = code.functions.get(addr)!;
    const out: SummaryFunction = { a: addr };
    const name = symbols.names.get(addr) ?? f.name;
    if (name) out.n = name;
    succ.clear();
    imps.clear();
    for (const targets of [f.calls, f.tailCalls, f.jumpsInto]) {
      for (const t of targets) {
        const i = index.get(t) ?? table.containing(t);
        if (i !== undefined) succ.add(i);
      }
    }
    for (const key of f.imports) {
      if (key.startsWith(IFUNC_PREFIX)) {
        const r = index.get(Number(key.slice(IFUNC_PREFIX.length)));
        if (r !== undefined) succ.add(r);
      } else imps.add(imports.of(key));
    }
    // An IFUNC call runs whichever implementation the resolver returns: every
    // function the resolver's code can name.
    if (symbols.ifuncResolvers.has(addr)) for (const t of f.addressTaken) { const i = index.get(t); if (i !== undefined) succ.add(i); }
    if (succ.size) out.e = [...succ].sort((x, y) => x - y);
    if (imps.size) out.i = [...imps].sort((x, y) => x - y);
    const ti = new Set<number>();
    for (const key of f.importsTaken ?? []) if (!key.startsWith(IFUNC_PREFIX)) ti.add(imports.of(key));
    if (ti.size) {
      out.ti = [...ti].sort((x, y) => x - y);
      for (const i of ti) importsTakenByCode.add(i);
    }
    if (f.hasIndirectCall) out.ic = true;
    if (f.hasIndirectJump) out.ij = true;
    return out;
  });
  return { functions, importsTakenByCode };
}
