import type { ObjectSummary } from '../../schemas/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import type { DataImage } from './data-image';
import type { FunctionTable } from './function-table';
import type { ImportTable } from './import-table';
import type { ObjectSymbols } from './object-symbols';

export type ObjectRoots = Pick<ObjectSummary, 'exports' | 'inits' | 'addressTaken' | 'importsAddressTaken'> & { entry?: number };

/**
 * Where the link walk enters an object and what it may call indirectly: the entry point,
 * what the loader runs (init/fini functions, IFUNC resolvers), the exports, and the
 * address-taken functions and imports (what the code materialises, every code address
 * stored in data through relocations, init/fini arrays and IFUNC resolvers).
 */
export function objectRoots(code: CodeAnalysis, table: FunctionTable, imports: ImportTable, symbols: ObjectSymbols, data: DataImage, importsTakenByCode: Set<number>): ObjectRoots {
  const taken = new Set<number>();
  const take = (addr: number) => { const i = table.entered(addr); if (i !== undefined) taken.add(i); };
  code.addressTaken.forEach(take);
  for (const x of symbols.storedCode) take(x);
  const importsAddressTaken = new Set<number>(importsTakenByCode);
  for (const r of symbols.relocated) {
    if ('addr' in r) take(r.addr);
    else importsAddressTaken.add(imports.of(r.importKey));
  }
  // A non-PIE executable stores function pointers as plain absolute values without
  // relocations (static glibc's _IO_file_jumps): scan its data for function starts.
  if (data.absolute) for (const i of absolutePointers(data, table.index, code.innerEntries)) taken.add(i);

  const inits = new Set<number>();
  for (const x of symbols.inits) {
    const i = table.entered(x);
    if (i !== undefined) inits.add(i);
  }
  // IFUNC resolvers run when the loader relocates, whatever the program does.
  for (const r of symbols.ifuncResolvers) { const i = table.entered(r); if (i !== undefined) inits.add(i); }

  const exports: ObjectSummary['exports'] = [];
  for (const s of symbols.exports) {
    const i = table.index.get(s.addr);
    if (i !== undefined) exports.push({ name: s.name, fn: i });
  }
  const entry = table.index.get(symbols.entry);
  const sortNum = (s: Iterable<number>) => [...s].sort((x, y) => x - y);
  return { exports, ...(entry !== undefined ? { entry } : {}), inits: sortNum(inits), addressTaken: sortNum(taken), importsAddressTaken: sortNum(importsAddressTaken) };
}

/** Function indexes whose absolute address appears, 8-byte aligned, in allocated non-code sections. */
function absolutePointers(data: DataImage, index: Map<number, number>, innerEntries: Map<number, number>): Set<number> {
  const out = new Set<number>();
  // Most words are not code addresses: a range check saves the map lookup.
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of [...index.keys(), ...innerEntries.keys()]) {
    if (a < lo) lo = a;
    if (a > hi) hi = a;
  }
  data.forEachAbsoluteWord((_at, v) => {
    if (v < lo || v > hi) return;
    // An entry settled inside a function (analysis/x86/data-starts.ts) points into that function.
    const holder = innerEntries.get(v);
    const i = index.get(v) ?? (holder === undefined ? undefined : index.get(holder));
    if (i !== undefined) out.add(i);
  });
  return out;
}
