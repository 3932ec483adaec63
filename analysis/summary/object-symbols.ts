import type { ElfFile } from '../elf';
import { DT, R_X86_64 } from '../elf';
import { exportName, importKey } from './import-table';

/**
 * What an object's symbols, relocations and dynamic section tell the summary, read from
 * the parsed ELF once (analysis/summary/object-image.ts): its imports, the names of its
 * functions, what it exports, which code addresses its data holds and which functions
 * the loader runs.
 */
export interface ObjectSymbols {
  entry: number;
  /** Every undefined dynamic symbol with a name, as an import key, in symbol order (functions and data both: a GLOB_DAT on an imported function is how its address gets taken). */
  importKeys: string[];
  /** Function names by address: symtab functions first, then any defined dynamic symbol. */
  names: Map<number, string>;
  /** IFUNC resolvers: IRELATIVE addends and defined ifunc symbols. */
  ifuncResolvers: Set<number>;
  /** Code addresses the file stores in data: RELATIVE targets, init/fini arrays, IFUNC resolvers. */
  storedCode: number[];
  /** GLOB_DAT and R64 relocations naming a symbol, in order: a defined one stores an address, an undefined function or notype one takes the import's. */
  relocated: ({ addr: number } | { importKey: string })[];
  /** What the loader runs: preinit/init/fini arrays, DT_INIT, DT_FINI. */
  inits: number[];
  /** Exported dynamic symbols (global or weak, default or protected visibility): functions, and data. */
  exports: { name: string; addr: number }[];
  dataExports: { name: string; addr: number }[];
}

export function readSymbols(elf: ElfFile): ObjectSymbols {
  const importKeys: string[] = [];
  for (const s of elf.dynsym) if (!s.defined && s.name) importKeys.push(importKey(s.name, s.version));

  const names = new Map<number, string>();
  for (const s of elf.symtab) if (s.defined && s.type === 'func' && s.name && !names.has(s.value)) names.set(s.value, s.name);
  for (const s of elf.dynsym) if (s.defined && s.name && !names.has(s.value)) names.set(s.value, s.name);

  const ifuncResolvers = new Set<number>(elf.irelativeResolvers);
  for (const s of elf.dynsym) if (s.defined && s.type === 'ifunc') ifuncResolvers.add(s.value);

  const relocated: ObjectSymbols['relocated'] = [];
  for (const r of elf.relocations) {
    if (r.type !== R_X86_64.GLOB_DAT && r.type !== R_X86_64.R64) continue;
    const s = r.symbol;
    if (!s || !s.name) continue;
    if (s.defined) relocated.push({ addr: s.value + (r.type === R_X86_64.R64 ? r.addend : 0) });
    else if (s.type !== 'object' && s.type !== 'tls') relocated.push({ importKey: importKey(s.name, s.version) });
  }

  const inits: number[] = [];
  for (const x of [...elf.preinitArray, ...elf.initArray, ...elf.finiArray, elf.dynamicValue(DT.INIT), elf.dynamicValue(DT.FINI)]) if (x !== undefined) inits.push(x);

  const exports: ObjectSymbols['exports'] = [];
  const dataExports: ObjectSymbols['dataExports'] = [];
  for (const s of elf.dynsym) {
    if (!s.defined || !s.name || s.bind === 'local' || s.visibility === 'hidden' || s.visibility === 'internal') continue;
    if (s.type === 'func' || s.type === 'ifunc' || s.type === 'notype') exports.push({ name: exportName(s), addr: s.value });
    if (s.type === 'object' || s.type === 'tls' || s.type === 'notype') dataExports.push({ name: exportName(s), addr: s.value });
  }

  return {
    entry: elf.entry,
    importKeys,
    names,
    ifuncResolvers,
    storedCode: [...elf.relativeTargets, ...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers],
    relocated,
    inits,
    exports,
    dataExports,
  };
}
