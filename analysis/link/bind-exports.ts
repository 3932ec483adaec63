import type { ObjectSummary } from '../summary/object-summary';
import type { NodeIds } from './node-ids';
import { bareName } from '../elf';
import { CELL_IMPORT } from './program-objects';
import type { ProgramObject, UnresolvedImport } from './types';

/**
 * Binding imports to exports as ld.so does in its global scope: the executable, then
 * the libraries in load order; the first object defining a symbol wins.
 */

export interface ExportIndex {
  byName: Map<string, { version?: string; isDefault: boolean; fn: number }[]>;
}

export function exportIndex(s: ObjectSummary): ExportIndex {
  const byName = new Map<string, { version?: string; isDefault: boolean; fn: number }[]>();
  for (const e of s.exports) {
    const at = e.name.indexOf('@');
    const name = at < 0 ? e.name : e.name.slice(0, at);
    const isDefault = at < 0 || e.name.startsWith('@@', at);
    const version = at < 0 ? undefined : e.name.slice(at + (isDefault ? 2 : 1));
    let l = byName.get(name);
    if (!l) byName.set(name, (l = []));
    l.push({ version, isDefault, fn: e.fn });
  }
  return { byName };
}

/**
 * Matches an import (`name@VER` or `name`) against one object's exports: a versioned
 * import needs that version; an unversioned one binds to the default (`@@`) or an
 * unversioned definition — or, if the object has only non-default versions, to all
 * of them (over-approximation rather than a missed edge).
 */
export function matchExport(idx: ExportIndex, importKeyStr: string): number[] {
  const at = importKeyStr.indexOf('@');
  const name = at < 0 ? importKeyStr : importKeyStr.slice(0, at);
  const version = at < 0 ? undefined : importKeyStr.slice(at + 1);
  const cands = idx.byName.get(name);
  if (!cands) return [];
  if (version !== undefined) {
    const exact = cands.filter((c) => c.version === version);
    // A versioned reference to an unversioned definition still binds (ld.so accepts it).
    return (exact.length ? exact : cands.filter((c) => c.version === undefined)).map((c) => c.fn);
  }
  const def = cands.filter((c) => c.isDefault);
  return (def.length ? def : cands).map((c) => c.fn);
}

export interface ImportBindings {
  /** Per object: import index → the function nodes it binds to (imports nothing defines are absent). */
  functions: Map<number, number[]>[];
  /** Imports no loaded object defines (weak ones are normal: __gmon_start__, _ITM_*). */
  unresolved: UnresolvedImport[];
  /**
   * Region node of an imported data symbol, in the first object (load order) exporting
   * it, never the importer itself: a COPY relocation's symbol is defined by the
   * executable (the copy) but its contents come from the library's definition.
   */
  data(key: string, importer: number): number | undefined;
}

export function bindImports(objects: ProgramObject[], ids: NodeIds): ImportBindings {
  const indexes = objects.map((o) => exportIndex(o.summary));
  const dataIndexes = objects.map(dataExportIndex);
  const unresolved: UnresolvedImport[] = [];
  const functions = objects.map((_, o) => bindFunctionImports(objects, o, indexes, ids, unresolved));
  const data = (key: string, importer: number): number | undefined => {
    const bare = bareName(key);
    for (let p = 0; p < objects.length; p++) {
      if (p === importer) continue;
      const r = dataIndexes[p].get(bare);
      if (r !== undefined) return ids.regionNode(p, r);
    }
    return undefined;
  };
  return { functions, unresolved, data };
}

/** Data exports by bare name (the default version wins), for imports of data (GOT slots, COPY relocations). */
function dataExportIndex(o: ProgramObject): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of o.summary.dataExports ?? []) {
    const bare = bareName(x.name);
    if (!m.has(bare) || x.name.includes('@@')) m.set(bare, x.r);
  }
  return m;
}

/** The function nodes object o's imports bind to; those code uses that nothing defines go to `unresolved`. */
function bindFunctionImports(objects: ProgramObject[], o: number, indexes: ExportIndex[], ids: NodeIds, unresolved: UnresolvedImport[]): Map<number, number[]> {
  const ob = objects[o];
  const m = new Map<number, number[]>();
  const referenced = new Set<number>();
  for (const r of ob.summary.regions ?? []) for (const c of r.c) if (c[1] === CELL_IMPORT) referenced.add(c[2]);
  // Only imports code calls or whose address is stored matter; data imports (stdout,
  // _rtld_global) bind to objects, not functions.
  const asFunction = new Set<number>(ob.summary.importsAddressTaken);
  for (const fn of ob.summary.functions) if (fn.i) for (const i of fn.i) asFunction.add(i);
  const used = new Set<number>([...asFunction, ...referenced]);
  ob.summary.imports.forEach((key, i) => {
    if (!used.has(i)) return;
    // ld.so's global scope: executable, then libraries in load order; an object's
    // undefined symbols are never its own definitions, so no self-first rule.
    for (let p = 0; p < objects.length; p++) {
      // A library the program might dlopen is not in its global scope.
      if (objects[p].openedBy && !ob.openedBy) continue;
      const fns = matchExport(indexes[p], key);
      if (fns.length) {
        m.set(i, fns.map((f) => ids.fnNode(p, f)));
        return;
      }
    }
    // Only held in data words: a data import (bound below), not a missing function.
    if (!asFunction.has(i)) return;
    unresolved.push({ object: ob.path, import: key });
  });
  return m;
}
