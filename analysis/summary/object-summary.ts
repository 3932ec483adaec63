import type { ObjectSummary } from '../../schemas/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import { argFacts } from './arg-facts';
import { functionRecords } from './function-edges';
import { guardFacts } from './guard-facts';
import { FunctionTable } from './function-table';
import { ImportTable } from './import-table';
import { objectRoots } from './object-roots';
import type { ObjectImage } from './object-image';
import { regionFacts } from './region-facts';
import { syscallFacts } from './syscall-sites';

export type { ObjectSummary } from '../../schemas/types';
export { I386_ABI_REASON, isI386AbiSite, syscallNumbers } from './syscall-sites';

/**
 * The last step of a scan: the serialisable per-object summary the link walk
 * (analysis/link/link.ts) reads, from what the read step took from the ELF (`image`) and
 * the decoded code. Import indexes are given in the order the parts name them, so the
 * parts run in this order.
 */
export function summarizeObject(image: ObjectImage, code: CodeAnalysis, noGuardScan: ReadonlySet<number> = new Set()): ObjectSummary {
  const table = new FunctionTable(code);
  const imports = new ImportTable();
  for (const key of image.symbols.importKeys) imports.of(key);
  const { functions, importsTakenByCode } = functionRecords(code, table, imports, image.symbols);
  const calls = syscallFacts(code, table, imports, image.privateTables);
  // Argument values of tracked syscalls (socket families): analysis/summary/arg-facts.ts.
  const args = argFacts(code, (addr) => table.at(addr, 0), (key) => imports.of(key));
  for (const [fi, m] of calls.sites) {
    functions[fi].s = [...m].sort((x, y) => x[0] - y[0]).map(([at, nr]) => ({ at, nr: [...nr].sort((x, y) => x - y) }));
  }
  // Issue 26: guarded items (g), values passed to guarded callees (gv), constant import arguments (ia).
  guardFacts(code, table, imports, functions, image.symbols.ifuncResolvers, image.symbols.exports, noGuardScan);
  const roots = objectRoots(code, table, imports, image.symbols, image.data, importsTakenByCode);
  const refs = regionFacts(image.data, code, table, imports, image.symbols);
  if (refs.perFunction) {
    refs.perFunction.forEach((x, fi) => {
      if (x.t.length) functions[fi].t = x.t;
      if (x.d.length) functions[fi].d = x.d;
      if (x.h.length) functions[fi].h = x.h;
    });
  }
  let unknownTargets = 0;
  for (const f of code.functions.values()) unknownTargets += f.unknownTargets.length;
  return {
    functions,
    imports: imports.keys,
    exports: roots.exports,
    ...(roots.entry !== undefined ? { entry: roots.entry } : {}),
    inits: roots.inits,
    addressTaken: roots.addressTaken,
    importsAddressTaken: roots.importsAddressTaken,
    paramWrappers: calls.paramWrappers,
    importArgs: calls.importArgs,
    args,
    unresolved: calls.unresolved,
    ...(refs.regions ? { regions: refs.regions, rootRegions: refs.rootRegions, takenAlways: refs.takenAlways, dataExports: refs.dataExports } : {}),
    stats: { instructions: code.instructionCount, syscallSites: code.syscalls.length, unknownTargets },
  };
}
