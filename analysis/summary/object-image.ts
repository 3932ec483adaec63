import type { ElfFile } from '../elf';
import { codeInputFromElf } from '../x86/from-elf';
import type { CodeInput } from '../x86/types';
import { DataImage } from './data-image';
import { IFUNC_PREFIX, importKey } from './import-table';
import { readSymbols, type ObjectSymbols } from './object-symbols';
import { PrivateTables } from './private-tables';

/**
 * The first step of a scan (analysis/scan/scan-file.ts): everything the later steps need
 * from one parsed ELF file, read from it once. Decoding (decode-object.ts), the summary
 * (object-summary.ts) and its data regions (region-facts.ts) take this, not the ELF.
 */
export interface ObjectImage {
  /**
   * The code to decode (analysis/x86/from-elf.ts), given direct branch targets into
   * executable bytes the section table calls data (none at first; decode-object.ts asks
   * again with the targets it found, rarely).
   */
  code(codeAt: readonly number[]): CodeInput | undefined;
  /**
   * PLT stubs, keyed by versioned import name (memcpy@GLIBC_2.14 and memcpy@GLIBC_2.2.5
   * are different definitions); IRELATIVE stubs (calls to IFUNCs inside the object, e.g.
   * libc's own memcpy calls) by a key naming their resolver.
   */
  plt: Map<number, string>;
  symbols: ObjectSymbols;
  data: DataImage;
  privateTables: PrivateTables;
}

export function readObject(elf: ElfFile, bytes: Uint8Array): ObjectImage {
  const plt = new Map<number, string>();
  for (const p of elf.pltStubs) {
    if (p.symbol && p.name) plt.set(p.address, importKey(p.symbol.name, p.symbol.version));
    else if (p.resolver !== undefined) plt.set(p.address, `${IFUNC_PREFIX}${p.resolver}`);
  }
  const data = new DataImage(elf);
  return {
    code: (codeAt) => codeInputFromElf(elf, bytes, { codeAt }),
    plt,
    symbols: readSymbols(elf),
    data,
    privateTables: new PrivateTables(elf, (fn) => data.forEachAbsoluteWord(fn)),
  };
}
