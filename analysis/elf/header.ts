import { ByteView, malformed } from './byte-view';

/** ELF header fields, with extended numbering (PN_XNUM, SHN_XINDEX) already resolved. */
export interface ElfHeader {
  elfClass: 32 | 64;
  littleEndian: boolean;
  osAbi: number;
  type: number; // e_type
  machine: number; // e_machine
  entry: number;
  phoff: number;
  shoff: number;
  flags: number;
  ehsize: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface RawSectionHeader {
  index: number;
  nameOffset: number;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

export const ET = { NONE: 0, REL: 1, EXEC: 2, DYN: 3, CORE: 4 } as const;
export const PT = { NULL: 0, LOAD: 1, DYNAMIC: 2, INTERP: 3, NOTE: 4, PHDR: 6, TLS: 7, GNU_EH_FRAME: 0x6474e550, GNU_STACK: 0x6474e551, GNU_RELRO: 0x6474e552 } as const;
export const SHT = { NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, HASH: 5, DYNAMIC: 6, NOTE: 7, NOBITS: 8, REL: 9, DYNSYM: 11, INIT_ARRAY: 14, FINI_ARRAY: 15, PREINIT_ARRAY: 16, GROUP: 17, SYMTAB_SHNDX: 18, GNU_HASH: 0x6ffffff6, GNU_VERDEF: 0x6ffffffd, GNU_VERNEED: 0x6ffffffe, GNU_VERSYM: 0x6fffffff } as const;
export const EM_X86_64 = 62;

export type ElfType = 'exec' | 'dyn' | 'rel' | 'core' | 'other';

export function elfTypeName(eType: number): ElfType {
  switch (eType) {
    case ET.EXEC: return 'exec';
    case ET.DYN: return 'dyn';
    case ET.REL: return 'rel';
    case ET.CORE: return 'core';
    default: return 'other';
  }
}

export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

/** Reads e_ident and the header; returns a ByteView set to the file's class and byte order. */
export function readHeader(buf: Uint8Array, file?: string): { view: ByteView; header: ElfHeader } {
  if (!isElf(buf)) throw malformed(file, 'not an ELF file (bad magic)');
  if (buf.length < 16) throw malformed(file, 'truncated ELF identification');
  const cls = buf[4];
  const data = buf[5];
  if (cls !== 1 && cls !== 2) throw malformed(file, `unknown ELF class ${cls}`);
  if (data !== 1 && data !== 2) throw malformed(file, `unknown ELF data encoding ${data}`);
  const is64 = cls === 2;
  const view = new ByteView(buf, data === 1, is64, file);
  const ehsizeMin = is64 ? 64 : 52;
  view.check(0, ehsizeMin, 'ELF header');
  const h: ElfHeader = is64
    ? {
        elfClass: 64, littleEndian: view.le, osAbi: buf[7],
        type: view.u16(16), machine: view.u16(18), entry: view.u64(24), phoff: view.u64(32), shoff: view.u64(40),
        flags: view.u32(48), ehsize: view.u16(52), phentsize: view.u16(54), phnum: view.u16(56),
        shentsize: view.u16(58), shnum: view.u16(60), shstrndx: view.u16(62),
      }
    : {
        elfClass: 32, littleEndian: view.le, osAbi: buf[7],
        type: view.u16(16), machine: view.u16(18), entry: view.u32(24), phoff: view.u32(28), shoff: view.u32(32),
        flags: view.u32(36), ehsize: view.u16(40), phentsize: view.u16(42), phnum: view.u16(44),
        shentsize: view.u16(46), shnum: view.u16(48), shstrndx: view.u16(50),
      };
  // Extended numbering: the real counts live in section header 0.
  const needSh0 = (h.shnum === 0 && h.shoff !== 0) || h.shstrndx === 0xffff || h.phnum === 0xffff;
  if (needSh0) {
    try {
      if (h.shoff === 0) view.fail('extended numbering used but there is no section header table');
      const s0 = readSectionHeaderAt(view, h.shoff, 0);
      if (h.shnum === 0) h.shnum = s0.size;
      if (h.shstrndx === 0xffff) h.shstrndx = s0.link;
      if (h.phnum === 0xffff) h.phnum = s0.info;
    } catch (e) {
      // The loader never reads section headers: a bad e_shoff only loses them, unless
      // the program header count itself lives there.
      if (h.phnum === 0xffff) throw e;
      h.shoff = 0;
      h.shnum = 0;
      h.shstrndx = 0;
    }
  }
  return { view, header: h };
}

function checkTable(view: ByteView, off: number, entsize: number, count: number, minEnt: number, what: string): void {
  if (count === 0) return;
  if (entsize < minEnt) view.fail(`${what} entry size ${entsize} is smaller than ${minEnt}`);
  // Checking count*entsize against the file bounds also caps absurd counts.
  view.check(off, entsize * count, `${what} table`);
}

export function readProgramHeaders(view: ByteView, h: ElfHeader): ProgramHeader[] {
  if (h.phoff === 0 || h.phnum === 0) return [];
  const is64 = h.elfClass === 64;
  checkTable(view, h.phoff, h.phentsize, h.phnum, is64 ? 56 : 32, 'program header');
  const out: ProgramHeader[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const o = h.phoff + i * h.phentsize;
    out.push(
      is64
        ? { type: view.u32(o), flags: view.u32(o + 4), offset: view.u64(o + 8), vaddr: view.u64(o + 16), paddr: view.u64(o + 24), filesz: view.u64(o + 32), memsz: view.u64(o + 40), align: view.u64(o + 48) }
        : { type: view.u32(o), offset: view.u32(o + 4), vaddr: view.u32(o + 8), paddr: view.u32(o + 12), filesz: view.u32(o + 16), memsz: view.u32(o + 20), flags: view.u32(o + 24), align: view.u32(o + 28) },
    );
  }
  return out;
}

function readSectionHeaderAt(view: ByteView, off: number, index: number): RawSectionHeader {
  if (view.is64) {
    view.check(off, 64, 'section header');
    return {
      index, nameOffset: view.u32(off), type: view.u32(off + 4), flags: view.u64(off + 8), addr: view.u64(off + 16),
      offset: view.u64(off + 24), size: view.u64(off + 32), link: view.u32(off + 40), info: view.u32(off + 44),
      addralign: view.u64(off + 48), entsize: view.u64(off + 56),
    };
  }
  view.check(off, 40, 'section header');
  return {
    index, nameOffset: view.u32(off), type: view.u32(off + 4), flags: view.u32(off + 8), addr: view.u32(off + 12),
    offset: view.u32(off + 16), size: view.u32(off + 20), link: view.u32(off + 24), info: view.u32(off + 28),
    addralign: view.u32(off + 32), entsize: view.u32(off + 36),
  };
}

export function readRawSectionHeaders(view: ByteView, h: ElfHeader): RawSectionHeader[] {
  if (h.shoff === 0 || h.shnum === 0) return [];
  checkTable(view, h.shoff, h.shentsize, h.shnum, view.is64 ? 64 : 40, 'section header');
  const out: RawSectionHeader[] = [];
  for (let i = 0; i < h.shnum; i++) out.push(readSectionHeaderAt(view, h.shoff + i * h.shentsize, i));
  return out;
}

/** File offset of a virtual address through the PT_LOAD segments, or undefined if unmapped/bss. */
export function vaddrToOffsetVia(phdrs: readonly ProgramHeader[], vaddr: number, len = 1): number | undefined {
  for (const p of phdrs) {
    if (p.type !== PT.LOAD) continue;
    if (vaddr >= p.vaddr && vaddr + len <= p.vaddr + p.filesz) return p.offset + (vaddr - p.vaddr);
  }
  return undefined;
}
