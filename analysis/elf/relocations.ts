import { ByteView } from './byte-view';
import { ElfSymbol } from './symbols';

export const R_X86_64 = {
  NONE: 0, R64: 1, PC32: 2, GOT32: 3, PLT32: 4, COPY: 5, GLOB_DAT: 6, JUMP_SLOT: 7, RELATIVE: 8, GOTPCREL: 9,
  R32: 10, R32S: 11, DTPMOD64: 16, DTPOFF64: 17, TPOFF64: 18, TLSDESC: 36, IRELATIVE: 37, RELATIVE64: 38,
} as const;

const NAMES: Record<number, string> = {
  0: 'R_X86_64_NONE', 1: 'R_X86_64_64', 2: 'R_X86_64_PC32', 3: 'R_X86_64_GOT32', 4: 'R_X86_64_PLT32', 5: 'R_X86_64_COPY',
  6: 'R_X86_64_GLOB_DAT', 7: 'R_X86_64_JUMP_SLOT', 8: 'R_X86_64_RELATIVE', 9: 'R_X86_64_GOTPCREL', 10: 'R_X86_64_32',
  11: 'R_X86_64_32S', 12: 'R_X86_64_16', 13: 'R_X86_64_PC16', 14: 'R_X86_64_8', 15: 'R_X86_64_PC8',
  16: 'R_X86_64_DTPMOD64', 17: 'R_X86_64_DTPOFF64', 18: 'R_X86_64_TPOFF64', 19: 'R_X86_64_TLSGD', 20: 'R_X86_64_TLSLD',
  21: 'R_X86_64_DTPOFF32', 22: 'R_X86_64_GOTTPOFF', 23: 'R_X86_64_TPOFF32', 24: 'R_X86_64_PC64', 25: 'R_X86_64_GOTOFF64',
  26: 'R_X86_64_GOTPC32', 32: 'R_X86_64_SIZE32', 33: 'R_X86_64_SIZE64', 34: 'R_X86_64_GOTPC32_TLSDESC',
  35: 'R_X86_64_TLSDESC_CALL', 36: 'R_X86_64_TLSDESC', 37: 'R_X86_64_IRELATIVE', 38: 'R_X86_64_RELATIVE64',
  41: 'R_X86_64_GOTPCRELX', 42: 'R_X86_64_REX_GOTPCRELX',
};

export function relocTypeName(type: number): string {
  return NAMES[type] ?? `R_X86_64_${type}`;
}

export interface Relocation {
  /** Name of the section it came from (.rela.dyn, .rela.plt, .relr.dyn, ...). */
  section: string;
  offset: number; // r_offset: the slot's virtual address in a linked object
  type: number;
  typeName: string;
  symIndex: number;
  symbol?: ElfSymbol;
  /** r_addend; for RELR the implicit addend stored in the slot. */
  addend: number;
}

/** Elf64_Rela entries; `symbols` is the table the section links to. */
export function readRela(
  view: ByteView,
  section: string,
  off: number,
  size: number,
  entsize: number,
  symbols: readonly ElfSymbol[],
): Relocation[] {
  const ent = entsize || 24;
  if (ent < 24) view.fail(`${section}: relocation entry size ${ent} is too small`);
  view.check(off, size, section);
  const n = Math.floor(size / ent);
  const out: Relocation[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = off + i * ent;
    const type = view.u32(o + 8);
    const symIndex = view.u32(o + 12);
    if (symIndex !== 0 && symIndex >= symbols.length) view.fail(`${section}: relocation ${i} names symbol ${symIndex}, past its symbol table`);
    out[i] = {
      section, offset: view.u64(o), type, typeName: relocTypeName(type), symIndex,
      ...(symIndex !== 0 ? { symbol: symbols[symIndex] } : {}),
      addend: view.i64(o + 16),
    };
  }
  return out;
}

/**
 * SHT_RELR packed relative relocations: even words are addresses, odd words are
 * bitmaps of the following 63 slots. The addend is whatever the slot holds.
 */
export function readRelr(view: ByteView, section: string, off: number, size: number, readSlot: (vaddr: number) => number | undefined): Relocation[] {
  view.check(off, size, section);
  const out: Relocation[] = [];
  let base = 0;
  const push = (addr: number) => {
    const addend = readSlot(addr);
    if (addend === undefined) view.fail(`${section}: relocated slot ${addr.toString(16)} is not in the file`);
    out.push({ section, offset: addr, type: R_X86_64.RELATIVE, typeName: 'R_X86_64_RELATIVE', symIndex: 0, addend });
  };
  for (let o = off; o + 8 <= off + size; o += 8) {
    const lo = view.u32(o);
    if ((lo & 1) === 0) {
      const addr = view.u64(o);
      push(addr);
      base = addr + 8;
    } else {
      const hi = view.u32(o + 4);
      for (let bit = 1; bit < 64; bit++) {
        const set = bit < 32 ? (lo >>> bit) & 1 : (hi >>> (bit - 32)) & 1;
        if (set) push(base + (bit - 1) * 8);
      }
      base += 63 * 8;
    }
  }
  return out;
}
