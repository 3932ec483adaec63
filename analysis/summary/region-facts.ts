import type { ObjectSummary } from '../../schemas/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import { dataRegions, type DataRegions } from './data-regions';
import type { DataImage } from './data-image';
import type { FunctionTable } from './function-table';
import { IFUNC_PREFIX, importKey, type ImportTable } from './import-table';
import type { ObjectSymbols } from './object-symbols';

export interface RegionFacts {
  /** Per function (when the code's data references were recorded): functions it materialises, regions it refers into, names it refers to. */
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
 * The regions-and-strings step of a scan: the facts the link walk needs to count a
 * function as an indirect-call target only when reached code or live data can point at
 * it. Without recorded data references (Go binaries, decoded by analysis/golang/), none:
 * the walk falls back to sysfilter's rule.
 */
export function regionFacts(data: DataImage, code: CodeAnalysis, table: FunctionTable, imports: ImportTable, symbols: ObjectSymbols): RegionFacts {
  const { starts } = table;
  const recorded = starts.length > 0 && code.functions.get(starts[0])!.dataRefs !== undefined;
  // No regions at all: the link walk then applies sysfilter's rule to this object
  // (every address-taken function and address-taken import is a target whatever runs).
  if (!recorded) return {};
  const materialised = new Set<number>();
  for (const f of code.functions.values()) for (const x of f.dataAddressTaken ?? []) materialised.add(x);
  const plt = code.plt;
  const importAtPlt = (addr: number): number | undefined => {
    const key = plt.get(addr);
    return key === undefined || key.startsWith(IFUNC_PREFIX) ? undefined : imports.of(key);
  };
  const dr = dataRegions({ data, functionAt: (addr) => table.entered(addr), importOf: (name, version) => imports.of(importKey(name, version)), importAtPlt, materialised });
  const { keep, regions } = pointerRegions(dr);
  const mapRegions = (rs: Iterable<number>) => {
    const out = new Set<number>();
    for (const r of rs) if (keep[r] >= 0) out.add(keep[r]);
    return [...out].sort((x, y) => x - y);
  };
  const dataExports: NonNullable<RegionFacts['dataExports']> = [];
  for (const s of symbols.dataExports) {
    const r = dr.regionOf(s.addr);
    if (r < 0 || keep[r] < 0) continue;
    dataExports.push({ name: s.name, r: keep[r] });
  }
  const perFunction = functionRefs(code, table, symbols, data, dr, keep);
  return { perFunction, regions, rootRegions: mapRegions(dr.roots), takenAlways: dr.rootFunctions, dataExports };
}

/** The regions holding pointers, renumbered densely (keep: old index → new, or -1), one cell per target each. */
function pointerRegions(dr: DataRegions): { keep: Int32Array; regions: NonNullable<RegionFacts['regions']> } {
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
  return { keep, regions };
}

/** Per function: the functions it materialises (t), the kept regions (d) and the names (h) it refers to. */
function functionRefs(code: CodeAnalysis, table: FunctionTable, symbols: ObjectSymbols, data: DataImage, dr: DataRegions, keep: Int32Array): NonNullable<RegionFacts['perFunction']> {
  const { starts } = table;
  // Three sets for the whole object, emptied per function (tens of thousands of functions).
  const t = new Set<number>();
  const d = new Set<number>();
  const h = new Set<number>();
  // Most functions name nothing: they share one empty list (only non-empty ones are stored).
  const sorted = (x: Set<number>) => (x.size ? [...x].sort((p, q) => p - q) : NONE);
  const byRef = new Map<number, { rs: number[]; name: number | undefined }>();
  return starts.map((addr) => {
    const f = code.functions.get(addr)!;
    t.clear();
    d.clear();
    h.clear();
    if (!f.addressTaken.length && !f.dataAddressTaken?.length && !f.dataRefs?.length) return EMPTY_FACTS;
    for (const x of f.addressTaken) { const i = table.index.get(x); if (i !== undefined) t.add(i); }
    // An address just inside a function's start is an entry (glibc's signal restorer
    // __restore_rt sits one byte into its FDE's range; the kernel jumps to it). Farther
    // in, a materialised code address is a constant table in .text (OpenSSL's assembly),
    // read, not run.
    for (const x of f.dataAddressTaken ?? []) {
      const i = table.containing(x);
      if (i !== undefined && x - starts[i] < ENTRY_SLACK) t.add(i);
    }
    // An IFUNC resolver's choices are reached through the resolver's own call edges.
    if (symbols.ifuncResolvers.has(addr)) t.clear();
    for (const x of f.dataRefs ?? []) {
      // Functions share the globals they refer to: each address is looked up once.
      let ref = byRef.get(x);
      if (ref === undefined) {
        const rs: number[] = [];
        for (const r of dr.regionsForCodeRef(x)) if (keep[r] >= 0) rs.push(keep[r]);
        byRef.set(x, (ref = { rs, name: data.strings.nameHashAt(x) }));
      }
      for (const r of ref.rs) d.add(r);
      if (ref.name !== undefined) h.add(ref.name);
    }
    return { t: sorted(t), d: sorted(d), h: sorted(h) };
  });
}
