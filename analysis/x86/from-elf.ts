import type { ElfFile } from '../elf';
import { DT, SHT } from '../elf';
import { dataInRegions, executableRegions, withoutRuns, type ExecRegion } from '../elf/exec-regions';
import { ConfineError } from '../../pipeline/errors';
import { sizedExtentContaining } from './sized-extents';
import type { CodeInput, FunctionStart } from './types';

const SHF_ALLOC = 0x2;
/** int3: what stands for the unmapped bytes between two executable regions (never decoded as code, see holeStarts). */
const FILL = 0xcc;
/**
 * How many unmapped bytes between executable regions the code image may hold. Real
 * objects leave at most an alignment's worth (node's 2 MiB-aligned `lpstub`); a file
 * whose executable segments lie gigabytes apart is made to exhaust memory, and fails by
 * name instead.
 */
const MAX_UNMAPPED = 64 * 1024 * 1024;

/**
 * Builds analyzeCode's input from a parsed ELF file: every byte the loader maps
 * executable (analysis/elf/exec-regions.ts: the PF_X PT_LOAD segments, whatever the section
 * table says — `.text` renamed, functions in their own sections like glibc's
 * `__libc_freeres_fn`, `.init`/`.plt`/`.fini`), as one image from the first region to
 * the last with int3 standing for the unmapped bytes between them; function starts from
 * FDEs and function symbols, each region's and each section's start as a boundary, PLT
 * stubs, and every code address the file stores in data (RELATIVE targets, init/fini
 * arrays, IFUNC resolvers, entry) as address-taken.
 */
export function codeInputFromElf(elf: ElfFile, buf: Uint8Array, opts: { codeAt?: readonly number[] } = {}): CodeInput | undefined {
  const mapped = executableRegions(elf, buf.length);
  if (!mapped.length) return undefined;
  const lo = mapped[0].addr;
  const hi = mapped[mapped.length - 1].addr + mapped[mapped.length - 1].size;
  // What the section table calls data inside executable segments is left out, so that
  // .rodata's strings do not become reachable garbage code, unless anything that only
  // names code (an FDE, a function symbol, the entry, an init function) or a caller's
  // `codeAt` (branch targets) points into it: then the table lies about that section.
  let withheld = dataInRegions(elf, mapped);
  if (withheld.length) {
    const codeThere = [...codeAddresses(elf), ...(opts.codeAt ?? [])].filter((a) => regionIndex(withheld, a) >= 0);
    withheld = withheld.filter((w) => !codeThere.some((a) => a >= w.addr && a < w.addr + w.size));
  }
  const regions = withheld.length ? withoutRuns(mapped, withheld) : mapped;
  const code = codeImage(elf, buf, regions, lo, hi);
  const inCode = (a: number) => regionIndex(regions, a) >= 0;
  const starts: FunctionStart[] = [];
  for (const f of elf.fdes) if (inCode(f.start)) starts.push({ addr: f.start, size: f.size });
  const exported = new Set<number>();
  for (const s of elf.dynsym) {
    if (s.defined && (s.type === 'func' || s.type === 'notype') && inCode(s.value)) {
      starts.push({ addr: s.value, size: s.size || undefined, name: s.name, exported: s.bind !== 'local' && s.visibility !== 'hidden' });
      exported.add(s.value);
    }
  }
  for (const s of elf.symtab) {
    if (s.defined && s.type === 'func' && inCode(s.value)) {
      starts.push({ addr: s.value, size: s.size || undefined, name: s.name, exported: exported.has(s.value) });
    }
  }
  if (inCode(elf.entry)) starts.push({ addr: elf.entry, name: starts.find((s) => s.addr === elf.entry)?.name ?? '_start' });
  const pltTargets = new Map<number, string>();
  for (const p of elf.pltStubs) if (p.name) pltTargets.set(p.address, p.name);
  const extra = new Set<number>();
  for (const a of [...elf.relativeTargets, ...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers]) {
    if (inCode(a)) extra.add(a);
  }
  // Data-referenced code addresses that no FDE or symbol names still begin a function,
  // and so do DT_INIT / DT_FINI (_init and _fini in .init/.fini, unnamed once stripped).
  const named = new Set(starts.map((s) => s.addr));
  for (const a of extra) {
    if (!named.has(a)) {
      // From data only: settled inside a sized function rather than cutting it (analysis/x86/data-starts.ts).
      starts.push({ addr: a, fromData: true });
      named.add(a);
    }
  }
  for (const a of [elf.dynamicValue(DT.INIT), elf.dynamicValue(DT.FINI)]) {
    if (a !== undefined && inCode(a) && !named.has(a)) {
      starts.push({ addr: a });
      named.add(a);
    }
  }
  for (const s of boundaryStarts(elf, regions, hi, starts)) starts.push(s);
  // PLT stubs are imports (pltTargets), not functions, even where an FDE or a section begins at one.
  const stubs = new Set(elf.pltStubs.map((p) => p.address));
  return {
    code, codeVaddr: lo, functionStarts: stubs.size ? starts.filter((s) => !stubs.has(s.addr)) : starts, pltTargets, extraAddressTaken: extra,
    regions: regions.map((r) => ({ addr: r.addr, size: r.size })),
    ...(withheld.length ? { withheld: withheld.map((r) => ({ addr: r.addr, size: r.size })) } : {}),
  };
}

/** Addresses the file says hold code whatever its sections say: FDEs, function symbols, the entry, init/fini functions, IFUNC resolvers. */
function codeAddresses(elf: ElfFile): number[] {
  const out: number[] = [elf.entry, ...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers];
  for (const f of elf.fdes) out.push(f.start);
  for (const s of [...elf.dynsym, ...elf.symtab]) if (s.defined && s.type === 'func') out.push(s.value);
  for (const tag of [DT.INIT, DT.FINI]) {
    const v = elf.dynamicValue(tag);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** Whether an address is in executable bytes the section table called data (CodeInput.withheld). */
export function isWithheldAddress(input: Pick<CodeInput, 'withheld'>, a: number): boolean {
  return !!input.withheld && regionIndex(input.withheld, a) >= 0;
}

/** The bytes from `lo` to `hi` as the process sees them, where they are code: the regions' file bytes, int3 between them. */
function codeImage(elf: ElfFile, buf: Uint8Array, regions: ExecRegion[], lo: number, hi: number): Uint8Array {
  if (regions.length === 1 && regions[0].addr === lo && regions[0].size === hi - lo) return buf.subarray(regions[0].offset, regions[0].offset + regions[0].size);
  const mapped = regions.reduce((n, r) => n + r.size, 0);
  if (hi - lo - mapped > MAX_UNMAPPED) {
    throw new ConfineError(
      'analysis-failed',
      `executable segments spread over ${Math.round((hi - lo) / 1048576)} MiB of addresses for ${Math.round(mapped / 1048576)} MiB of code: not analysed (a file made to exhaust memory?)`,
      elf.fileName ? { file: elf.fileName } : {},
    );
  }
  const out = new Uint8Array(hi - lo).fill(FILL);
  for (const r of regions) out.set(buf.subarray(r.offset, r.offset + r.size), r.addr - lo);
  return out;
}

/**
 * Whether an address is in the input's executable bytes (not in an unmapped hole between
 * regions): a function start anywhere else would decode filler.
 */
export function isCodeAddress(input: Pick<CodeInput, 'code' | 'codeVaddr' | 'regions'>, a: number): boolean {
  if (input.regions) return regionIndex(input.regions, a) >= 0;
  return a >= input.codeVaddr && a < input.codeVaddr + input.code.length;
}

/** Index of the region holding `a`, or -1. */
function regionIndex(regions: readonly { addr: number; size: number }[], a: number): number {
  let l = 0;
  let h = regions.length - 1;
  while (l <= h) {
    const m = (l + h) >> 1;
    if (regions[m].addr <= a) l = m + 1;
    else h = m - 1;
  }
  return h >= 0 && a < regions[h].addr + regions[h].size ? h : -1;
}

/**
 * Starts no function names but where code cannot run on from the bytes before: each
 * region's first byte; each hole between or after regions (unmapped, or withheld), as a
 * one-byte function so the hole is not decoded (nor any code after it taken as the tail
 * of the function before), and a branch into it is no jump into that function;
 * and each allocated section's first byte inside a region, so an unsized function (crti's
 * `_fini`) ends where its section does instead of running into the next one (`.rodata`
 * where one segment holds code and read-only data). A section start strictly inside a
 * function an FDE or symbol sizes is not one: a section table can lie, the sized
 * functions agree with the code.
 */
function boundaryStarts(elf: ElfFile, regions: readonly ExecRegion[], hi: number, starts: readonly FunctionStart[]): FunctionStart[] {
  const out: FunctionStart[] = [];
  const known = new Set(starts.map((s) => s.addr));
  const add = (s: FunctionStart) => {
    if (known.has(s.addr)) return;
    known.add(s.addr);
    out.push(s);
  };
  regions.forEach((r, i) => {
    add({ addr: r.addr });
    const end = r.addr + r.size;
    if ((i + 1 < regions.length ? regions[i + 1].addr : hi) > end) add({ addr: end, size: 1 });
  });
  const insideSized = sizedExtentContaining(starts);
  for (const s of elf.sections) {
    if ((s.flags & SHF_ALLOC) === 0 || s.type === SHT.NOBITS || s.size === 0) continue;
    if (regionIndex(regions, s.addr) < 0 || insideSized(s.addr) !== undefined) continue;
    add({ addr: s.addr });
  }
  return out;
}
