import { ByteView } from './byte-view';
import { PT, SHT, ProgramHeader, RawSectionHeader, vaddrToOffsetVia } from './header';

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
