import type { ElfFile } from '../elf';
import { SHT } from '../elf';
import type { CodeInput, FunctionStart } from './types';

const SHF_EXECINSTR = 0x4;

/**
 * Builds analyzeCode's input from a parsed ELF file: the executable sections'
 * bytes (from the first to the last executable section, gaps included, since
 * PLT stubs sit between them), function starts from FDEs and function symbols,
 * PLT stubs, and every code address the file stores in data (RELATIVE targets,
 * init/fini arrays, IFUNC resolvers, entry) as address-taken.
 */
export function codeInputFromElf(elf: ElfFile, buf: Uint8Array): CodeInput | undefined {
  const exec = elf.sections.filter((s) => (s.flags & SHF_EXECINSTR) !== 0 && s.type === SHT.PROGBITS && s.size > 0);
  const text = elf.sectionByName('.text') ?? exec[0];
  if (!text) return undefined;
  // Analyse .text only: PLT sections are stubs we map to names, not functions.
  const code = buf.subarray(text.offset, text.offset + text.size);
  const lo = text.addr;
  const hi = text.addr + text.size;
  const starts: FunctionStart[] = [];
  for (const f of elf.fdes) if (f.start >= lo && f.start < hi) starts.push({ addr: f.start, size: f.size });
  const exported = new Set<number>();
  for (const s of elf.dynsym) {
    if (s.defined && (s.type === 'func' || s.type === 'notype') && s.value >= lo && s.value < hi) {
      starts.push({ addr: s.value, size: s.size || undefined, name: s.name, exported: s.bind !== 'local' && s.visibility !== 'hidden' });
      exported.add(s.value);
    }
  }
  for (const s of elf.symtab) {
    if (s.defined && s.type === 'func' && s.value >= lo && s.value < hi) {
      starts.push({ addr: s.value, size: s.size || undefined, name: s.name, exported: exported.has(s.value) });
    }
  }
  if (elf.entry >= lo && elf.entry < hi) starts.push({ addr: elf.entry, name: starts.find((s) => s.addr === elf.entry)?.name ?? '_start' });
  const pltTargets = new Map<number, string>();
  for (const p of elf.pltStubs) if (p.name) pltTargets.set(p.address, p.name);
  const extra = new Set<number>();
  for (const a of [...elf.relativeTargets, ...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers]) {
    if (a >= lo && a < hi) extra.add(a);
  }
  // Data-referenced code addresses that no FDE or symbol names still begin a function.
  const named = new Set(starts.map((s) => s.addr));
  for (const a of extra) if (!named.has(a)) starts.push({ addr: a, fromData: true });
  return { code, codeVaddr: text.addr, functionStarts: starts, pltTargets, extraAddressTaken: extra };
}
