import { ConfineError } from '../../pipeline/errors';
import { ByteView, malformed } from './byte-view';
import { DT, RawDynamicEntry, readDynamicFacts, readDynamicTable } from './dynamic';
import { Fde, Personality, parseEhFrame } from './eh-frame';
import {
  EM_X86_64, ET, ElfHeader, ElfType, PT, ProgramHeader, RawSectionHeader, SHT,
  readHeader, readProgramHeaders, readRawSectionHeaders, vaddrToOffsetVia,
} from './header';
import { PltStubSlot, decodePltSection, findPltStubs } from './plt';
import { R_X86_64, Relocation, readRela, readRelr } from './relocations';
import { ElfSymbol, readSymbolTable, readVersions } from './symbols';

export interface Section extends RawSectionHeader {
  name: string;
}

export interface DynamicEntry extends RawDynamicEntry {
  tagName: string;
}

export interface PltStub extends PltStubSlot {
  /** The JUMP_SLOT / GLOB_DAT (or IRELATIVE, in static binaries) relocation of the GOT slot. */
  reloc?: Relocation;
  symbol?: ElfSymbol;
  /** Imported symbol's bare name, when the slot has a symbol. */
  name?: string;
  /** For an IRELATIVE slot: the IFUNC resolver's address. */
  resolver?: number;
}

export interface GotEntry {
  slot: number;
  symbol?: ElfSymbol;
  reloc: Relocation;
}

export interface ElfFile {
  fileName?: string;
  header: ElfHeader;
  type: ElfType;
  entry: number;
  sections: Section[];
  programHeaders: ProgramHeader[];
  interp?: string;
  dynamic: DynamicEntry[];
  needed: string[];
  soname?: string;
  runpath: string[];
  rpath: string[];
  flags1: number;
  isPie: boolean;
  dynsym: ElfSymbol[];
  symtab: ElfSymbol[];
  /** Every relocation from SHT_RELA / SHT_RELR sections, in file order. */
  relocations: Relocation[];
  pltStubs: PltStub[];
  /** GOT slots filled by GLOB_DAT relocations (data and function-pointer imports). */
  gotEntries: GotEntry[];
  /** Function ranges from .eh_frame FDEs, sorted by start, duplicates removed. */
  fdes: Fde[];
  /** Personality routines the CIEs name (the unwinder calls them). */
  personalities: Personality[];
  /** Resolved pointers of .preinit_array / .init_array / .fini_array (0 and -1 sentinels dropped). */
  preinitArray: number[];
  initArray: number[];
  finiArray: number[];
  /** Addends of R_X86_64_RELATIVE (incl. RELR) relocations: every address the object stores to itself. */
  relativeTargets: number[];
  /** Addends of R_X86_64_IRELATIVE relocations: IFUNC resolvers. */
  irelativeResolvers: number[];
  /**
   * Whether `sections` are the file's or were rebuilt from the program headers and the
   * dynamic segment (none in the file, or none to trust), and why.
   */
  sectionSource: { synthesized: false } | { synthesized: true; reason: string };

  sectionByName(name: string): Section | undefined;
  /** The dynamic entries' value for a tag (first one). */
  dynamicValue(tag: number): number | undefined;
  /** File offset of a virtual address through PT_LOAD (or, without segments, allocated sections). */
  vaddrToOffset(vaddr: number, len?: number): number | undefined;
  /** Bytes at a virtual address, or undefined if any of them is not backed by the file. */
  readAt(vaddr: number, len: number): Uint8Array | undefined;
  /** A pointer-sized slot's run-time value for a load base of 0, applying its relocation if any. */
  pointerAt(vaddr: number): number | undefined;
  pltStubAt(address: number): PltStub | undefined;
  relocationAt(slot: number): Relocation | undefined;
}

const DT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k]));

export function isSupportedElf(h: ElfHeader): boolean {
  return h.elfClass === 64 && h.littleEndian && h.machine === EM_X86_64;
}

/**
 * Parses a 64-bit little-endian x86-64 ELF object completely. Other classes or machines
 * are rejected with ConfineError('analysis-failed', 'unsupported ELF ...') — use
 * readDynamicInfo for the header-level facts about those. Anything inconsistent in the
 * file is ConfineError('elf-malformed'), never another exception.
 */
export function parseElf(buf: Uint8Array, fileName?: string): ElfFile {
  let first: ConfineError;
  try {
    return parse(buf, fileName, false);
  } catch (e) {
    first = e instanceof ConfineError ? e : malformed(fileName, `unreadable ELF: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (first.kind !== 'elf-malformed') throw first;
  // Linux runs a program whatever its section headers say (a corrupt e_shoff, a
  // mangled table): read it as the loader does, from the program headers and the
  // dynamic segment, or give the first error if even that fails.
  try {
    const elf = parse(buf, fileName, true);
    return { ...elf, sectionSource: { synthesized: true, reason: `section headers ignored: ${first.message}` } };
  } catch {
    throw first;
  }
}

/** One reading of the file; `ignoreSections` reads it as the loader does, from the program headers only. */
function parse(buf: Uint8Array, fileName: string | undefined, ignoreSections: boolean): ElfFile {
  const { view, header } = readSupportedHeader(buf, fileName);
  const programHeaders = readProgramHeaders(view, header);
  const { raw, sections, synthesized } = readSections(view, header, programHeaders, ignoreSections);
  const byName = new Map<string, Section>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);

  const facts = readDynamicFacts(view, header, programHeaders, raw);
  const dynamic: DynamicEntry[] = facts.entries.map((e) => ({ ...e, tagName: DT_NAMES[e.tag] ?? `0x${e.tag.toString(16)}` }));
  const dynamicValue = (tag: number) => dynamic.find((e) => e.tag === tag)?.value;

  const map = addressMap(buf, view, programHeaders, sections);
  const { dynsym, symtab, byIndex } = readSymbols(view, raw, sections);
  const relocations = readRelocations(view, sections, byIndex, map.readSlot);
  const { relocBySlot, gotEntries, relativeTargets, irelativeResolvers } = relocationFacts(header, relocations);
  const pltStubs = header.type === ET.REL ? [] : readPltStubs(view, sections, byName, synthesized, relocBySlot);
  const stubByAddr = new Map(pltStubs.map((s) => [s.address, s]));
  const pointerAt = pointerReader(relocBySlot, map.readSlot);
  const { fdes, personalities } = readFdes(view, byName, programHeaders, map);
  const array = (secType: number, tagAddr: number, tagSize: number) => {
    const s = sections.find((x) => x.type === secType);
    const where = s ? { addr: s.addr, size: s.size } : { addr: dynamicValue(tagAddr), size: dynamicValue(tagSize) };
    return readPointerArray(view, where, pointerAt, map.readAt);
  };

  return {
    ...(fileName !== undefined ? { fileName } : {}),
    header,
    type: facts.type,
    entry: header.entry,
    sections,
    programHeaders,
    ...(facts.interp !== undefined ? { interp: facts.interp } : {}),
    dynamic,
    needed: facts.needed,
    ...(facts.soname !== undefined ? { soname: facts.soname } : {}),
    runpath: facts.runpath,
    rpath: facts.rpath,
    flags1: facts.flags1,
    isPie: facts.isPie,
    dynsym,
    symtab,
    relocations,
    pltStubs,
    gotEntries,
    fdes,
    personalities,
    preinitArray: array(SHT.PREINIT_ARRAY, DT.PREINIT_ARRAY, DT.PREINIT_ARRAYSZ),
    initArray: array(SHT.INIT_ARRAY, DT.INIT_ARRAY, DT.INIT_ARRAYSZ),
    finiArray: array(SHT.FINI_ARRAY, DT.FINI_ARRAY, DT.FINI_ARRAYSZ),
    relativeTargets,
    irelativeResolvers,
    sectionSource: synthesized ? { synthesized: true, reason: 'no section headers' } : { synthesized: false },
    sectionByName: (name) => byName.get(name),
    dynamicValue,
    vaddrToOffset: map.vaddrToOffset,
    readAt: map.readAt,
    pointerAt,
    pltStubAt: (a) => stubByAddr.get(a),
    relocationAt: (slot) => relocBySlot.get(slot),
  };
}

function readSupportedHeader(buf: Uint8Array, fileName: string | undefined): { view: ByteView; header: ElfHeader } {
  const { view, header } = readHeader(buf, fileName);
  if (!isSupportedElf(header)) {
    throw new ConfineError(
      'analysis-failed',
      `unsupported ELF: class ${header.elfClass}, ${header.littleEndian ? 'little' : 'big'}-endian, machine ${header.machine} (only x86-64 ELF64 LE)`,
      fileName ? { file: fileName } : {},
    );
  }
  return { view, header };
}

interface SectionTable {
  /** As in the file (or as rebuilt), indexed by section number: what links and st_shndx refer to. */
  raw: RawSectionHeader[];
  sections: Section[];
  synthesized: boolean;
}

/**
 * The file's section headers, or — with none in the file (sstrip, some packers), or none
 * to trust (`ignoreSections`) — sections rebuilt as the loader sees the object: the
 * dynamic ones from the dynamic array, code and data ones from the PT_LOAD segments.
 */
function readSections(view: ByteView, header: ElfHeader, programHeaders: readonly ProgramHeader[], ignoreSections: boolean): SectionTable {
  const loadable = programHeaders.some((p) => p.type === PT.LOAD);
  if (ignoreSections && !loadable) view.fail('no section headers to trust and no PT_LOAD segment');
  const raw = ignoreSections ? [] : readRawSectionHeaders(view, header);
  if (raw.length > 0 || !loadable) return { raw, sections: nameSections(view, raw, header.shstrndx), synthesized: false };
  const rebuilt = sectionsFromDynamic(view, programHeaders);
  if (rebuilt.length === 0) rebuilt.push(nullSection(0));
  const names = rebuilt.map((r) => SYNTH_NAMES[r.index] ?? '');
  for (const seg of sectionsFromSegments(view, programHeaders, rebuilt.length)) {
    rebuilt.push(seg.raw);
    names.push(seg.name);
  }
  return { raw: rebuilt, sections: rebuilt.map((r, i) => ({ ...r, name: names[i] })), synthesized: true };
}

interface AddressMap {
  loads: ProgramHeader[];
  vaddrToOffset(vaddr: number, len?: number): number | undefined;
  readAt(vaddr: number, len: number): Uint8Array | undefined;
  /** The 8 bytes stored at a virtual address, without applying relocations. */
  readSlot(vaddr: number): number | undefined;
}

/** Virtual addresses to file bytes through PT_LOAD, or through allocated sections when there are no segments (ET_REL). */
function addressMap(buf: Uint8Array, view: ByteView, programHeaders: readonly ProgramHeader[], sections: readonly Section[]): AddressMap {
  const loads = programHeaders.filter((p) => p.type === PT.LOAD);
  const allocSections = sections.filter((s) => (s.flags & 2) !== 0 && s.type !== SHT.NOBITS && s.addr !== 0);
  const vaddrToOffset = (vaddr: number, len = 1): number | undefined => {
    if (!Number.isFinite(vaddr) || !Number.isFinite(len) || len < 0) return undefined;
    for (const p of loads) {
      if (vaddr >= p.vaddr && vaddr + len <= p.vaddr + p.filesz) {
        const off = p.offset + (vaddr - p.vaddr);
        return off + len <= buf.length ? off : undefined;
      }
    }
    if (loads.length === 0) {
      for (const s of allocSections) {
        if (vaddr >= s.addr && vaddr + len <= s.addr + s.size) {
          const off = s.offset + (vaddr - s.addr);
          return off + len <= buf.length ? off : undefined;
        }
      }
    }
    return undefined;
  };
  return {
    loads,
    vaddrToOffset,
    readAt: (vaddr, len) => {
      const off = vaddrToOffset(vaddr, len);
      return off === undefined ? undefined : buf.subarray(off, off + len);
    },
    readSlot: (vaddr) => {
      const off = vaddrToOffset(vaddr, 8);
      return off === undefined ? undefined : view.u64(off);
    },
  };
}

/** .dynsym (with versions) and .symtab, and both by section index for the relocation sections that link to them. */
function readSymbols(view: ByteView, raw: RawSectionHeader[], sections: readonly Section[]): { dynsym: ElfSymbol[]; symtab: ElfSymbol[]; byIndex: Map<number, ElfSymbol[]> } {
  const versions = readVersions(view, raw);
  const dynsymSec = sections.find((s) => s.type === SHT.DYNSYM);
  const symtabSec = sections.find((s) => s.type === SHT.SYMTAB);
  const dynsym = dynsymSec ? readSymbolTable(view, raw, dynsymSec, versions) : [];
  const symtab = symtabSec ? readSymbolTable(view, raw, symtabSec, undefined) : [];
  const byIndex = new Map<number, ElfSymbol[]>();
  if (dynsymSec) byIndex.set(dynsymSec.index, dynsym);
  if (symtabSec) byIndex.set(symtabSec.index, symtab);
  return { dynsym, symtab, byIndex };
}

/** Every SHT_RELA / SHT_RELR relocation, in file order. */
function readRelocations(
  view: ByteView,
  sections: readonly Section[],
  symbolTables: ReadonlyMap<number, ElfSymbol[]>,
  readSlot: (vaddr: number) => number | undefined,
): Relocation[] {
  const relocations: Relocation[] = [];
  for (const s of sections) {
    if (s.type === SHT.RELA) {
      // Relocations of a linked object (.rela.dyn/.rela.plt) use .dynsym; link 0 means "no symbols".
      const syms = s.link === 0 ? [] : symbolTables.get(s.link);
      if (!syms) view.fail(`${s.name} links to section ${s.link}, which is not a symbol table`);
      // A loop, not push(...spread): a spread of 100k+ entries overflows the stack.
      for (const r of readRela(view, s.name, s.offset, s.size, s.entsize, syms!)) relocations.push(r);
    } else if (s.type === SHT_RELR) {
      for (const r of readRelr(view, s.name, s.offset, s.size, readSlot)) relocations.push(r);
    }
  }
  return relocations;
}

/** What the relocations say about run-time slots: which relocation fills each, GOT imports, self-pointers, IFUNC resolvers. */
function relocationFacts(header: ElfHeader, relocations: readonly Relocation[]): Pick<ElfFile, 'gotEntries' | 'relativeTargets' | 'irelativeResolvers'> & { relocBySlot: Map<number, Relocation> } {
  const relocBySlot = new Map<number, Relocation>();
  // Only relocations of a linked object name run-time slots; ET_REL offsets are section-relative.
  if (header.type !== ET.REL) {
    for (const r of relocations) if (r.type !== R_X86_64.NONE && !relocBySlot.has(r.offset)) relocBySlot.set(r.offset, r);
  }
  const gotEntries: GotEntry[] = relocations
    .filter((r) => r.type === R_X86_64.GLOB_DAT)
    .map((r) => ({ slot: r.offset, reloc: r, ...(r.symbol ? { symbol: r.symbol } : {}) }));
  const relativeTargets: number[] = [];
  const irelativeResolvers: number[] = [];
  for (const r of relocations) {
    if (r.type === R_X86_64.RELATIVE || r.type === R_X86_64.RELATIVE64) relativeTargets.push(r.addend);
    else if (r.type === R_X86_64.IRELATIVE) irelativeResolvers.push(r.addend);
  }
  return { relocBySlot, gotEntries, relativeTargets, irelativeResolvers };
}

/** The PLT stubs of a linked object, each with the relocation of the GOT slot it jumps through. */
function readPltStubs(
  view: ByteView,
  sections: readonly Section[],
  byName: ReadonlyMap<string, Section>,
  synthesized: boolean,
  relocBySlot: ReadonlyMap<number, Relocation>,
): PltStub[] {
  const slots: PltStubSlot[] = [];
  for (const name of ['.plt', '.plt.sec', '.plt.got', '.iplt']) {
    const s = byName.get(name);
    if (!s || s.type === SHT.NOBITS) continue;
    slots.push(...decodePltSection(view, s, name));
  }
  // Without section headers the stubs are found by their shape anywhere in the code,
  // kept only when the slot they jump through is one the dynamic linker fills.
  if (synthesized) slots.push(...findPltStubs(view, sections, (slot) => relocBySlot.get(slot)));
  return slots.map((slot) => {
    const reloc = relocBySlot.get(slot.gotSlot);
    const stub: PltStub = { ...slot };
    if (reloc) {
      stub.reloc = reloc;
      if (reloc.symbol && reloc.symbol.name) {
        stub.symbol = reloc.symbol;
        stub.name = reloc.symbol.name;
      }
      if (reloc.type === R_X86_64.IRELATIVE) stub.resolver = reloc.addend;
    }
    return stub;
  });
}

/** A pointer-sized slot's run-time value for a load base of 0, applying its relocation if any. */
function pointerReader(relocBySlot: ReadonlyMap<number, Relocation>, readSlot: (vaddr: number) => number | undefined): (vaddr: number) => number | undefined {
  return (vaddr) => {
    const r = relocBySlot.get(vaddr);
    if (r) {
      if (r.type === R_X86_64.RELATIVE || r.type === R_X86_64.IRELATIVE || r.type === R_X86_64.RELATIVE64) return r.addend;
      if (r.type === R_X86_64.R64 || r.type === R_X86_64.GLOB_DAT || r.type === R_X86_64.JUMP_SLOT) {
        if (r.symbol?.defined) return r.symbol.value + (r.type === R_X86_64.R64 ? r.addend : 0);
        return undefined; // resolved against another object at run time
      }
    }
    return readSlot(vaddr);
  };
}

/** The pointers of an init/fini array at `where` (0 and -1 sentinels dropped); a slot outside the file is an error. */
function readPointerArray(
  view: ByteView,
  where: { addr: number | undefined; size: number | undefined },
  pointerAt: (vaddr: number) => number | undefined,
  readAt: (vaddr: number, len: number) => Uint8Array | undefined,
): number[] {
  const { addr, size } = where;
  if (addr === undefined || !size) return [];
  if (size > view.size) view.fail(`init/fini array of ${size} bytes is larger than the file`);
  const out: number[] = [];
  for (let i = 0; i + 8 <= size; i += 8) {
    const v = pointerAt(addr + i);
    if (v === undefined) {
      if (readAt(addr + i, 8) === undefined) view.fail(`init/fini array slot ${(addr + i).toString(16)} is not in the file`);
      continue;
    }
    if (v !== 0 && v < 2 ** 53) out.push(v);
  }
  return out;
}

/** FDEs from .eh_frame, or without section headers through PT_GNU_EH_FRAME; sorted, duplicates removed. */
function readFdes(view: ByteView, byName: ReadonlyMap<string, Section>, programHeaders: readonly ProgramHeader[], map: AddressMap): { fdes: Fde[]; personalities: Personality[] } {
  let fdes: Fde[] = [];
  const personalities: Personality[] = [];
  const eh = byName.get('.eh_frame');
  if (eh && eh.type !== SHT.NOBITS && eh.size > 0) {
    fdes = parseEhFrame(view, eh.offset, eh.size, eh.addr, false, personalities);
  } else if (!eh) {
    const hdr = programHeaders.find((p) => p.type === PT.GNU_EH_FRAME);
    if (hdr) fdes = ehFrameViaHeader(view, hdr, map.vaddrToOffset, map.loads, personalities);
  }
  return { fdes: dedupeSorted(fdes), personalities };
}

function nullSection(index: number): RawSectionHeader {
  return { index, nameOffset: 0, type: SHT.NULL, flags: 0, addr: 0, offset: 0, size: 0, link: 0, info: 0, addralign: 0, entsize: 0 };
}

const SHT_RELR = 19;

const SYNTH_NAMES = ['', '.dynstr', '.dynsym', '.gnu.version', '.gnu.version_r', '.gnu.version_d', '.rela.dyn', '.rela.plt', '.relr.dyn'];

/**
 * Section headers rebuilt from DT_* tags, indexed as SYNTH_NAMES. The symbol count comes
 * from DT_HASH's nchain or from walking DT_GNU_HASH's chains; version tables are given
 * the rest of their segment as size (their own counts and links bound the walk).
 */
function sectionsFromDynamic(view: ByteView, phdrs: readonly ProgramHeader[]): RawSectionHeader[] {
  const dyn = readDynamicTable(view, phdrs, []);
  if (!dyn) return [];
  const val = (tag: number) => dyn.entries.find((e) => e.tag === tag)?.value;
  const toOff = (vaddr: number | undefined) => (vaddr === undefined ? undefined : vaddrToOffsetVia(phdrs, vaddr));
  const segEnd = (off: number) => {
    const seg = phdrs.find((p) => p.type === PT.LOAD && off >= p.offset && off < p.offset + p.filesz);
    return seg ? seg.offset + seg.filesz : view.size;
  };
  const out: RawSectionHeader[] = [nullSection(0)];
  const add = (index: number, type: number, vaddr: number | undefined, size: number | undefined, link: number, info = 0, entsize = 0) => {
    const off = toOff(vaddr);
    if (vaddr === undefined || off === undefined) return;
    out[index] = { index, nameOffset: 0, type, flags: 2, addr: vaddr, offset: off, size: Math.min(size ?? segEnd(off) - off, segEnd(off) - off), link, info, addralign: 8, entsize };
  };
  for (let i = 1; i < SYNTH_NAMES.length; i++) out[i] = nullSection(i);
  add(1, SHT.STRTAB, val(DT.STRTAB), val(DT.STRSZ), 0);
  const nsyms = dynsymCount(view, toOff(val(DT.HASH)), toOff(val(DT.GNU_HASH)));
  if (nsyms !== undefined) {
    add(2, SHT.DYNSYM, val(DT.SYMTAB), nsyms * 24, 1, 1, 24);
    add(3, SHT.GNU_VERSYM, val(DT.VERSYM), nsyms * 2, 2, 0, 2);
  }
  add(4, SHT.GNU_VERNEED, val(DT.VERNEED), undefined, 1, val(DT.VERNEEDNUM) ?? 0);
  add(5, SHT.GNU_VERDEF, val(DT.VERDEF), undefined, 1, val(DT.VERDEFNUM) ?? 0);
  const symLink = out[2].type === SHT.DYNSYM ? 2 : 0;
  add(6, SHT.RELA, val(DT.RELA), val(DT.RELASZ) ?? 0, symLink, 0, 24);
  if (val(DT.PLTREL) === DT.RELA) add(7, SHT.RELA, val(DT.JMPREL), val(DT.PLTRELSZ) ?? 0, symLink, 0, 24);
  add(8, SHT_RELR, val(DT.RELR), val(DT.RELRSZ) ?? 0, 0, 0, 8);
  return out;
}

const PF_X = 1;
const PF_W = 2;
const SHF_WRITE = 1;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;

/**
 * Code and data sections rebuilt from PT_LOAD: the first executable segment is
 * `.text`, further ones `.text.N` (the analysis decodes every executable segment,
 * analysis/x86/from-elf.ts); the file-backed part
 * of other segments is data (`.data.N`, scanned for code pointers), the rest `.bss.N`.
 */
function sectionsFromSegments(view: ByteView, phdrs: readonly ProgramHeader[], firstIndex: number): { name: string; raw: RawSectionHeader }[] {
  const out: { name: string; raw: RawSectionHeader }[] = [];
  let texts = 0;
  let datas = 0;
  for (const p of phdrs) {
    if (p.type !== PT.LOAD || p.memsz === 0) continue;
    const base = { nameOffset: 0, link: 0, info: 0, addralign: Math.max(1, Math.min(p.align, 4096)), entsize: 0 };
    if (p.filesz > 0) {
      view.check(p.offset, p.filesz, 'PT_LOAD segment');
      const exec = (p.flags & PF_X) !== 0;
      const name = exec ? (texts++ === 0 ? '.text' : `.text.${texts - 1}`) : `.data.${datas++}`;
      const flags = SHF_ALLOC | (exec ? SHF_EXECINSTR : 0) | ((p.flags & PF_W) !== 0 ? SHF_WRITE : 0);
      out.push({ name, raw: { ...base, index: firstIndex + out.length, type: SHT.PROGBITS, flags, addr: p.vaddr, offset: p.offset, size: p.filesz } });
    }
    if (p.memsz > p.filesz) {
      out.push({ name: `.bss.${out.length}`, raw: { ...base, index: firstIndex + out.length, type: SHT.NOBITS, flags: SHF_ALLOC | SHF_WRITE, addr: p.vaddr + p.filesz, offset: p.offset + p.filesz, size: p.memsz - p.filesz } });
    }
  }
  return out;
}

function dynsymCount(view: ByteView, hashOff: number | undefined, gnuOff: number | undefined): number | undefined {
  if (hashOff !== undefined) return view.u32(hashOff + 4);
  if (gnuOff === undefined) return undefined;
  const nbuckets = view.u32(gnuOff);
  const symoffset = view.u32(gnuOff + 4);
  const bloomSize = view.u32(gnuOff + 8);
  const buckets = gnuOff + 16 + bloomSize * 8;
  view.check(buckets, nbuckets * 4, 'GNU hash buckets');
  let max = 0;
  for (let i = 0; i < nbuckets; i++) max = Math.max(max, view.u32(buckets + i * 4));
  if (max < symoffset) return symoffset;
  const chains = buckets + nbuckets * 4;
  // Follow the last bucket's chain to its end bit; bounded by the file via u32's checks.
  let idx = max;
  while ((view.u32(chains + (idx - symoffset) * 4) & 1) === 0) idx++;
  return idx + 1;
}

function nameSections(view: ByteView, raw: RawSectionHeader[], shstrndx: number): Section[] {
  if (raw.length === 0) return [];
  if (shstrndx === 0) return raw.map((s) => ({ ...s, name: '' }));
  if (shstrndx >= raw.length) view.fail(`section name table index ${shstrndx} is past the section table`);
  const st = raw[shstrndx];
  view.check(st.offset, st.size, 'section name table');
  return raw.map((s) => {
    if (s.type !== SHT.NOBITS && s.type !== SHT.NULL) view.check(s.offset, s.size, `section ${s.index}`);
    return { ...s, name: s.nameOffset === 0 && s.type === SHT.NULL ? '' : view.cstr(st.offset + s.nameOffset, st.offset + st.size, 'section name') };
  });
}

/** Without section headers, .eh_frame is found through PT_GNU_EH_FRAME's eh_frame_ptr; it ends with its segment. */
function ehFrameViaHeader(
  view: ByteView,
  hdr: ProgramHeader,
  vaddrToOffset: (v: number, len?: number) => number | undefined,
  loads: ProgramHeader[],
  personalities: Personality[],
): Fde[] {
  view.check(hdr.offset, Math.max(hdr.filesz, 8), '.eh_frame_hdr');
  const enc = view.u8(hdr.offset + 1);
  if (view.u8(hdr.offset) !== 1 || enc !== 0x1b) return []; // only the pcrel|sdata4 form ld emits
  const ptr = hdr.vaddr + 4 + view.i32(hdr.offset + 4);
  const off = vaddrToOffset(ptr);
  if (off === undefined) view.fail('.eh_frame_hdr points at an unmapped .eh_frame');
  const seg = loads.find((p) => ptr >= p.vaddr && ptr < p.vaddr + p.filesz)!;
  return parseEhFrame(view, off, seg.offset + seg.filesz - off, ptr, true, personalities);
}

function dedupeSorted(fdes: Fde[]): Fde[] {
  const sorted = [...fdes].sort((a, b) => a.start - b.start || b.size - a.size);
  return sorted.filter((f, i) => i === 0 || f.start !== sorted[i - 1].start);
}

