import type { ElfFile, ElfSymbol, Personality, Relocation, Section } from '../elf';
import { SHT } from '../elf';
import { StringReader } from './name-hashes';

const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;

/**
 * An object's data as the later steps of a scan read it, taken from the parsed ELF once
 * (analysis/summary/object-image.ts): the sections and what cuts them into objects (sized
 * symbols, relocations, personality pointers), the bytes of the allocated data sections
 * (read once, for the plain pointer words of a position-dependent executable and for
 * name-like strings).
 */
export class DataImage {
  /** A position-dependent executable (ET_EXEC): its data holds code addresses as plain words, without relocations. */
  readonly absolute: boolean;
  readonly sections: readonly Section[];
  /** Every symbol (symtab, then dynsym): sized data objects bound the regions. */
  readonly symbols: readonly ElfSymbol[];
  readonly relocations: readonly Relocation[];
  readonly personalities: readonly Personality[];
  /** Name-like strings of the data (analysis/summary/name-hashes.ts). */
  readonly strings: StringReader;
  /** The allocated, non-code, non-empty sections with file bytes, at least a word long: where plain pointers can be. */
  private readonly wordSections: { addr: number; bytes: Uint8Array }[] = [];

  constructor(elf: ElfFile) {
    this.absolute = elf.type === 'exec';
    this.sections = elf.sections;
    this.symbols = [...elf.symtab, ...elf.dynsym];
    this.relocations = elf.relocations;
    this.personalities = elf.personalities;
    const stringSections: { addr: number; end: number; bytes: Uint8Array }[] = [];
    for (const s of elf.sections) {
      if ((s.flags & SHF_ALLOC) === 0 || (s.flags & SHF_EXECINSTR) !== 0 || s.type === SHT.NOBITS || s.size === 0) continue;
      const bytes = elf.readAt(s.addr, s.size);
      if (!bytes) continue;
      if (s.type === SHT.PROGBITS) stringSections.push({ addr: s.addr, end: s.addr + s.size, bytes });
      if (s.size >= 8) this.wordSections.push({ addr: s.addr, bytes });
    }
    this.strings = new StringReader(stringSections);
  }

  /**
   * The 8-byte-aligned words of the allocated data that could be code addresses (below
   * 4 GiB): in a position-dependent object, function pointers stored without relocations.
   */
  forEachAbsoluteWord(fn: (at: number, word: number) => void): void {
    // A callback, not a generator: millions of words, and a generator's resumption per word showed in profiles.
    for (const { addr, bytes } of this.wordSections) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let o = (8 - (addr % 8)) % 8; o + 8 <= bytes.length; o += 8) {
        if (dv.getUint32(o + 4, true) === 0) fn(addr + o, dv.getUint32(o, true));
      }
    }
  }
}
