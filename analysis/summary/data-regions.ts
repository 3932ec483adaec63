import { R_X86_64, SHT } from '../elf';
import type { DataImage } from './data-image';
import { lastAtOrBefore } from '../x86/sorted';

/**
 * An object's data, cut into regions, with the code and data pointers each region
 * holds ("cells"). The link walk makes a region live when reached code (or a live
 * region) refers into it, and only the functions a live region points at become
 * indirect-call targets — instead of every function whose address is stored anywhere.
 *
 * Where a data object begins is known for sure only from a sized symbol. Elsewhere
 * (stripped libraries) a region runs from one boundary to the next, and boundaries are:
 * section starts, each GOT slot (compiled code reads GOT slots one by one), sized
 * symbols' extents, and every address some instruction materialises (`lea obj(%rip)`:
 * an object's address taken is nearly always its start). Loads and stores through an
 * address (`mov obj+8(%rip)`, a field) are not boundaries: they fall inside the object.
 * Pointers between data (data → data) make their target's region live, but do not cut.
 *
 * The corner this leaves (docs/limits.md, "Region boundaries in stripped objects"): in a stripped object, a
 * function pointer stored in a data object past an address some *other* code
 * materialises (`&table[3]`), read only through the object's base from reached code,
 * while the code materialising the inner address is never reached. A code reference
 * therefore also makes live the regions that begin up to NEAR bytes after it, which
 * covers biased bases (`lea table-8(%rip)` for 1-based indexing).
 */

/**
 * A cell's target: a function of this object, another region, an import (function or
 * data, bound at link time), or a name-like string (by hash: a name dlsym or dlopen may get).
 */
export type CellTarget = { fn: number } | { region: number } | { import: number } | { name: number };

export interface DataRegion {
  start: number;
  end: number;
  cells: { at: number; target: CellTarget }[];
}

export interface DataRegions {
  regions: DataRegion[];
  /** Region index of an address, or -1 when it is in no data section. */
  regionOf(addr: number): number;
  /** Regions a code reference at `addr` makes live: its own and those beginning within NEAR bytes after it. */
  regionsForCodeRef(addr: number): number[];
  /** Regions live whatever code runs: TLS images and personality pointers (read by the runtime, not by code). */
  roots: number[];
  /** Functions the unwinder calls through .eh_frame (direct personality pointers). */
  rootFunctions: number[];
}

/** How far past a code reference an object may begin and still be the one the code means (biased bases). */
export const NEAR = 32;

const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const SHF_TLS = 0x400;

export interface RegionInput {
  data: DataImage;
  /** Function index of an exact function start. */
  functionAt(addr: number): number | undefined;
  /** Import index of an undefined symbol (name, version). */
  importOf(name: string, version?: string): number;
  /** Import index of a PLT stub address (position-dependent code's canonical address of an imported function). */
  importAtPlt(addr: number): number | undefined;
  /** Every address any instruction materialises (lea/mov imm), reached or not. */
  materialised: Iterable<number>;
}

export function dataRegions(input: RegionInput): DataRegions {
  const { data } = input;
  const sections = new DataSections(data.sections);
  const objects = new SizedObjects(data.symbols, sections);
  const starts = regionStarts(sections, objects, input.materialised);
  const regions: DataRegion[] = starts.map((start, i) => {
    const sec = sections.at(start)!;
    const next = i + 1 < starts.length ? starts[i + 1] : Infinity;
    return { start, end: Math.min(next, sec.addr + sec.size), cells: [] };
  });
  const regionOf = (addr: number): number => {
    if (!sections.at(addr)) return -1;
    const best = lastAtOrBefore(starts, addr);
    return best >= 0 && addr < regions[best].end ? best : -1;
  };
  addPointerCells(input, regions, regionOf);
  const regionsForCodeRef = (addr: number): number[] => {
    const r = regionOf(addr);
    if (r < 0) return [];
    const out = [r];
    if (isGot(sections.at(addr)!.name)) return out;
    for (let k = r + 1; k < regions.length && regions[k].start <= addr + NEAR; k++) out.push(k);
    return out;
  };
  return { regions, regionOf, regionsForCodeRef, ...runtimeRoots(input, sections, regions, regionOf) };
}

type Section = DataImage['sections'][number];

const isGot = (name: string) => name === '.got' || name === '.got.plt';

/**
 * The allocated data sections as sorted, disjoint address ranges. .tbss occupies no
 * address space (each thread's copy lives elsewhere), though its range overlaps the
 * sections after it: left out. A malformed file may still overlap sections or put them
 * past 2^53: those are dropped, which only makes fewer regions there.
 */
class DataSections {
  readonly list: Section[] = [];
  private readonly starts: number[];

  constructor(all: readonly Section[]) {
    for (const sec of all
      .filter((x) => (x.flags & SHF_ALLOC) !== 0 && (x.flags & SHF_EXECINSTR) === 0 && x.size > 0 && x.addr > 0 && Number.isSafeInteger(x.addr + x.size))
      .filter((x) => !((x.flags & SHF_TLS) !== 0 && x.type === SHT.NOBITS))
      .sort((a, b) => a.addr - b.addr)) {
      const last = this.list[this.list.length - 1];
      if (!last || sec.addr >= last.addr + last.size) this.list.push(sec);
    }
    this.starts = this.list.map((x) => x.addr);
  }

  /** Sections do not overlap: the last one starting at or before an address is the only one that can hold it. */
  at(addr: number): Section | undefined {
    const s = this.list[lastAtOrBefore(this.starts, addr)];
    return s && addr < s.addr + s.size ? s : undefined;
  }
}

/** Sized data objects, merged where they overlap (aliases, nested symbols): their extents are exact, nothing cuts inside them. */
class SizedObjects {
  readonly list: [number, number][] = [];
  private readonly starts: number[];

  constructor(symbols: DataImage['symbols'], sections: DataSections) {
    const extents: [number, number][] = [];
    for (const s of symbols) {
      if (!s.defined || s.size <= 0 || (s.type !== 'object' && s.type !== 'tls' && s.type !== 'notype')) continue;
      if (!sections.at(s.value)) continue;
      extents.push([s.value, s.value + s.size]);
    }
    extents.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    for (const e of extents) {
      const last = this.list[this.list.length - 1];
      if (last && e[0] < last[1]) last[1] = Math.max(last[1], e[1]);
      else this.list.push([e[0], e[1]]);
    }
    this.starts = this.list.map((o) => o[0]);
  }

  /** Strictly inside a sized object (its start is a boundary like any other). */
  strictlyInside(addr: number): boolean {
    const o = this.list[lastAtOrBefore(this.starts, addr)];
    return !!o && addr > o[0] && addr < o[1];
  }
}

/** Where regions begin: section starts, GOT slots, sized objects' extents, materialised addresses outside sized objects. */
function regionStarts(sections: DataSections, objects: SizedObjects, materialised: Iterable<number>): number[] {
  const cuts = new Set<number>();
  for (const s of sections.list) {
    cuts.add(s.addr);
    if (isGot(s.name)) for (let a = s.addr; a < s.addr + s.size; a += 8) cuts.add(a);
  }
  for (const [a, b] of objects.list) {
    cuts.add(a);
    if (sections.at(b)) cuts.add(b);
  }
  for (const a of materialised) if (sections.at(a) && !objects.strictlyInside(a)) cuts.add(a);
  return [...cuts].filter((c) => sections.at(c) !== undefined).sort((x, y) => x - y);
}

/** The pointers each region holds: relocated words, and in position-dependent code plain words. */
function addPointerCells(input: RegionInput, regions: DataRegion[], regionOf: (addr: number) => number): void {
  const { data } = input;
  const targetOf = (addr: number): CellTarget | undefined => {
    const fn = input.functionAt(addr);
    if (fn !== undefined) return { fn };
    const imported = input.importAtPlt(addr);
    if (imported !== undefined) return { import: imported };
    const r = regionOf(addr);
    return r >= 0 ? { region: r } : undefined;
  };
  const addCell = (at: number, target: CellTarget | undefined) => {
    if (!target) return;
    const r = regionOf(at);
    if (r >= 0) regions[r].cells.push({ at, target });
  };
  /** A pointer word at `at` holding `value`: to a function, into data, and perhaps to a name. */
  const addPointer = (at: number, value: number) => {
    // targetOf first, always: naming an import through its PLT stub registers that import.
    const t = targetOf(value);
    if (!t) return;
    const r = regionOf(at);
    if (r < 0) return;
    const cells = regions[r].cells;
    cells.push({ at, target: t });
    if ('region' in t) {
      const name = data.strings.nameHashAt(value);
      if (name !== undefined) cells.push({ at, target: { name } });
    }
  };
  for (const rel of data.relocations) {
    switch (rel.type) {
      case R_X86_64.RELATIVE:
      case R_X86_64.RELATIVE64:
        addPointer(rel.offset, rel.addend);
        break;
      case R_X86_64.R64:
      case R_X86_64.GLOB_DAT:
      case R_X86_64.COPY: {
        const s = rel.symbol;
        if (!s || !s.name) break;
        if (rel.type === R_X86_64.COPY) {
          // The executable's copy of a library's data object holds that object's pointers.
          addCell(rel.offset, { import: input.importOf(s.name, s.version) });
        } else if (s.defined) addPointer(rel.offset, s.value + (rel.type === R_X86_64.R64 ? rel.addend : 0));
        else if (s.type !== 'tls') addCell(rel.offset, { import: input.importOf(s.name, s.version) });
        break;
      }
    }
  }
  // Position-dependent code stores pointers as plain words, without relocations.
  if (data.absolute) data.forEachAbsoluteWord((at, v) => addPointer(at, v));
}

/** What the runtime reads without code referring to it: TLS images, init/fini arrays, personality pointers. */
function runtimeRoots(input: RegionInput, sections: DataSections, regions: DataRegion[], regionOf: (addr: number) => number): Pick<DataRegions, 'roots' | 'rootFunctions'> {
  const roots = new Set<number>();
  for (const s of sections.list) if (s.name === '.tdata' || s.type === SHT.INIT_ARRAY || s.type === SHT.FINI_ARRAY || s.type === SHT.PREINIT_ARRAY) {
    for (let r = regionOf(s.addr); r >= 0 && r < regions.length && regions[r].start < s.addr + s.size; r++) roots.add(r);
  }
  const rootFunctions = new Set<number>();
  for (const p of input.data.personalities) {
    if (p.indirect) {
      const r = regionOf(p.address);
      if (r >= 0) roots.add(r);
    } else {
      const f = input.functionAt(p.address);
      if (f !== undefined) rootFunctions.add(f);
    }
  }
  return { roots: [...roots].sort((a, b) => a - b), rootFunctions: [...rootFunctions].sort((a, b) => a - b) };
}
