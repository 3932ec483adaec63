import { ByteView } from './byte-view';
import { ET, ElfHeader, ElfType, PT, SHT, ProgramHeader, RawSectionHeader, elfTypeName, vaddrToOffsetVia } from './header';

export const DT = {
  NULL: 0, NEEDED: 1, PLTRELSZ: 2, PLTGOT: 3, HASH: 4, STRTAB: 5, SYMTAB: 6, RELA: 7, RELASZ: 8, RELAENT: 9,
  STRSZ: 10, SYMENT: 11, INIT: 12, FINI: 13, SONAME: 14, RPATH: 15, SYMBOLIC: 16, REL: 17, RELSZ: 18, RELENT: 19,
  PLTREL: 20, DEBUG: 21, TEXTREL: 22, JMPREL: 23, BIND_NOW: 24, INIT_ARRAY: 25, FINI_ARRAY: 26, INIT_ARRAYSZ: 27,
  FINI_ARRAYSZ: 28, RUNPATH: 29, FLAGS: 30, PREINIT_ARRAY: 32, PREINIT_ARRAYSZ: 33, SYMTAB_SHNDX: 34, RELRSZ: 35,
  RELR: 36, RELRENT: 37, GNU_HASH: 0x6ffffef5, VERSYM: 0x6ffffff0, RELACOUNT: 0x6ffffff9, RELCOUNT: 0x6ffffffa,
  FLAGS_1: 0x6ffffffb, VERDEF: 0x6ffffffc, VERDEFNUM: 0x6ffffffd, VERNEED: 0x6ffffffe, VERNEEDNUM: 0x6fffffff,
} as const;
export const DF_1_PIE = 0x08000000;
export const DF_1_NOW = 0x00000001;

export interface RawDynamicEntry {
  tag: number;
  value: number;
}

export interface DynamicTable {
  entries: RawDynamicEntry[];
  /** Resolves a string-table offset from DT_STRTAB (NEEDED, SONAME, RPATH...). */
  str(offset: number): string;
}

/**
 * Reads the dynamic array from PT_DYNAMIC (what the loader uses), falling back to the
 * SHT_DYNAMIC section for objects without program headers. Returns undefined when the
 * object has neither.
 */
export function readDynamicTable(
  view: ByteView,
  phdrs: readonly ProgramHeader[],
  sections: readonly RawSectionHeader[],
): DynamicTable | undefined {
  let off: number | undefined;
  let size = 0;
  const pdyn = phdrs.find((p) => p.type === PT.DYNAMIC);
  const sdyn = sections.find((s) => s.type === SHT.DYNAMIC);
  if (pdyn) {
    off = pdyn.offset;
    size = pdyn.filesz;
  } else if (sdyn) {
    off = sdyn.offset;
    size = sdyn.size;
  }
  if (off === undefined) return undefined;
  view.check(off, size, 'dynamic table');
  const entSize = view.is64 ? 16 : 8;
  const entries: RawDynamicEntry[] = [];
  for (let o = off; o + entSize <= off + size; o += entSize) {
    const tag = view.sword(o);
    const value = view.word(o + entSize / 2);
    if (tag === DT.NULL) break;
    entries.push({ tag, value });
  }

  const strtabAddr = entries.find((e) => e.tag === DT.STRTAB)?.value;
  const strsz = entries.find((e) => e.tag === DT.STRSZ)?.value;
  let strOff: number | undefined;
  let strEnd: number | undefined;
  if (strtabAddr !== undefined) {
    strOff = vaddrToOffsetVia(phdrs, strtabAddr);
    if (strOff !== undefined) {
      // Bound the table by DT_STRSZ, else by the end of the segment holding it.
      const seg = phdrs.find((p) => p.type === PT.LOAD && strtabAddr >= p.vaddr && strtabAddr < p.vaddr + p.filesz)!;
      strEnd = strsz !== undefined ? strOff + strsz : seg.offset + seg.filesz;
    } else {
      const sec = sections.find((s) => s.type === SHT.STRTAB && s.addr === strtabAddr && s.addr !== 0);
      if (sec) {
        strOff = sec.offset;
        strEnd = sec.offset + sec.size;
      }
    }
  }
  if (strOff === undefined && sdyn && sdyn.link < sections.length && sections[sdyn.link].type === SHT.STRTAB) {
    strOff = sections[sdyn.link].offset;
    strEnd = strOff + sections[sdyn.link].size;
  }
  const base = strOff;
  const end = strEnd;
  return {
    entries,
    str(offset: number): string {
      if (base === undefined || end === undefined) view.fail('dynamic table references strings but has no usable DT_STRTAB');
      view.check(base, end - base, 'dynamic string table');
      return view.cstr(base + offset, end, 'dynamic string');
    },
  };
}

/**
 * What the loader learns from the program headers and the dynamic array. One reading
 * for both entry points: readDynamicInfo (cheap, no full parse) and parseElf, so the
 * two cannot disagree on an object's dependencies.
 */
export interface DynamicFacts {
  type: ElfType;
  interp?: string; // PT_INTERP path
  /** The dynamic array up to DT_NULL, in file order. */
  entries: RawDynamicEntry[];
  needed: string[]; // DT_NEEDED in order
  runpath: string[]; // DT_RUNPATH split on ':' (raw, $ORIGIN not expanded)
  rpath: string[]; // DT_RPATH split on ':'
  soname?: string;
  flags1: number; // DT_FLAGS_1
  isPie: boolean; // ET_DYN with PT_INTERP or DF_1_PIE
  /**
   * No PT_INTERP and no PT_DYNAMIC, or a static-pie (PT_DYNAMIC without PT_INTERP and
   * without DT_NEEDED). By that rule self-contained shared objects with no NEEDED —
   * ld-linux-x86-64.so.2 and musl's libc.so — also count as static: nothing else is loaded for them.
   */
  isStatic: boolean;
}

/**
 * Reads PT_INTERP and the dynamic array. `sections` are only a fallback for finding the
 * dynamic array and its strings (readDynamicTable); the caller decides how much of the
 * section table it trusts and reads.
 */
export function readDynamicFacts(
  view: ByteView,
  header: ElfHeader,
  phdrs: readonly ProgramHeader[],
  sections: readonly RawSectionHeader[],
): DynamicFacts {
  const interp = readInterp(view, phdrs);
  const dyn = readDynamicTable(view, phdrs, sections);
  const entries = dyn?.entries ?? [];
  const needed: string[] = [];
  const runpath: string[] = [];
  const rpath: string[] = [];
  let soname: string | undefined;
  let flags1 = 0;
  for (const e of entries) {
    switch (e.tag) {
      case DT.NEEDED: needed.push(dyn!.str(e.value)); break;
      case DT.RUNPATH: runpath.push(...splitPath(dyn!.str(e.value))); break;
      case DT.RPATH: rpath.push(...splitPath(dyn!.str(e.value))); break;
      case DT.SONAME: soname = dyn!.str(e.value); break;
      case DT.FLAGS_1: flags1 = e.value; break;
    }
  }
  const hasDynamic = phdrs.some((p) => p.type === PT.DYNAMIC);
  return {
    type: elfTypeName(header.type),
    ...(interp !== undefined ? { interp } : {}),
    entries,
    needed,
    runpath,
    rpath,
    ...(soname !== undefined ? { soname } : {}),
    flags1,
    isPie: header.type === ET.DYN && (interp !== undefined || (flags1 & DF_1_PIE) !== 0),
    isStatic: !interp && (!hasDynamic || needed.length === 0),
  };
}

function readInterp(view: ByteView, phdrs: readonly ProgramHeader[]): string | undefined {
  const pint = phdrs.find((p) => p.type === PT.INTERP);
  if (!pint) return undefined;
  view.check(pint.offset, pint.filesz, 'PT_INTERP');
  return view.cstr(pint.offset, pint.offset + pint.filesz, 'PT_INTERP path');
}

/** A DT_RUNPATH / DT_RPATH value as the loader splits it; empty means no directories. */
function splitPath(s: string): string[] {
  return s === '' ? [] : s.split(':');
}
