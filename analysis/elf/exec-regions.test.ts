import type { ElfFile } from './elf-file';
import { dataInRegions, executableRegions, withoutRuns } from './exec-regions';
import { PT, SHT } from './header';

/** Just what exec-regions reads of a parsed file. */
function elfWith(phdrs: { vaddr: number; offset: number; filesz: number; memsz?: number; flags?: number }[], sections: { addr: number; size: number; flags: number; name?: string }[] = [], synthesized = false): ElfFile {
  return {
    programHeaders: phdrs.map((p) => ({ type: PT.LOAD, flags: p.flags ?? 5, offset: p.offset, vaddr: p.vaddr, paddr: p.vaddr, filesz: p.filesz, memsz: p.memsz ?? p.filesz, align: 0x1000 })),
    sections: sections.map((s, i) => ({ index: i + 1, name: s.name ?? `s${i}`, type: SHT.PROGBITS, flags: s.flags, addr: s.addr, offset: s.addr & 0xfffff, size: s.size, nameOffset: 0, link: 0, info: 0, addralign: 1, entsize: 0 })),
    sectionSource: synthesized ? { synthesized: true, reason: 'test' } : { synthesized: false },
    header: { ehsize: 64, phoff: 64, phnum: phdrs.length, phentsize: 56 },
  } as unknown as ElfFile;
}

test('a segment is widened to the pages the kernel maps, within the file; a memory-only tail is not file bytes', () => {
  expect(executableRegions(elfWith([{ vaddr: 0x401234, offset: 0x1234, filesz: 0x100 }]), 0x3000)).toEqual([{ addr: 0x401000, offset: 0x1000, size: 0x1000 }]);
  expect(executableRegions(elfWith([{ vaddr: 0x401234, offset: 0x1234, filesz: 0x100 }]), 0x1400)).toEqual([{ addr: 0x401000, offset: 0x1000, size: 0x400 }]);
  expect(executableRegions(elfWith([{ vaddr: 0x401000, offset: 0x1000, filesz: 0x100, memsz: 0x2000 }]), 0x3000)).toEqual([{ addr: 0x401000, offset: 0x1000, size: 0x100 }]);
  // Not executable, or mapping nothing: no region.
  expect(executableRegions(elfWith([{ vaddr: 0x401000, offset: 0x1000, filesz: 0x100, flags: 4 }, { vaddr: 0x500000, offset: 0x1000, filesz: 0x100, memsz: 0 }]), 0x3000)).toEqual([]);
});

test('overlapping segments: the bytes of the one mapped last stand where they overlap', () => {
  const r = executableRegions(elfWith([{ vaddr: 0x400000, offset: 0, filesz: 0x3000 }, { vaddr: 0x401000, offset: 0x8000, filesz: 0x1000 }]), 0x10000);
  expect(r).toEqual([
    { addr: 0x400000, offset: 0, size: 0x1000 },
    { addr: 0x401000, offset: 0x8000, size: 0x1000 },
    { addr: 0x402000, offset: 0x2000, size: 0x1000 },
  ]);
});

test('without an executable segment, the executable sections', () => {
  expect(executableRegions(elfWith([], [{ addr: 0x1000, size: 0x20, flags: 6 }, { addr: 0x2000, size: 0x20, flags: 2 }]), 0x10000)).toEqual([{ addr: 0x1000, offset: 0x1000, size: 0x20 }]);
});

test('data sections and headers inside an executable segment are data runs, unless the sections were rebuilt from the segments', () => {
  const phdrs = [{ vaddr: 0x400000, offset: 0, filesz: 0x3000 }];
  const sections = [
    { addr: 0x400200, size: 0x100, flags: 2, name: '.dynsym' },
    { addr: 0x401000, size: 0x800, flags: 6, name: '.text' },
    { addr: 0x402000, size: 0x100, flags: 2, name: '.rodata' },
    { addr: 0x402100, size: 0x100, flags: 2, name: '.eh_frame' },
  ];
  const elf = elfWith(phdrs, sections);
  const regions = executableRegions(elf, 0x3000);
  const runs = dataInRegions(elf, regions);
  expect(runs.map((r) => [r.addr, r.size])).toEqual([[0x400000, 64], [0x400040, 56], [0x400200, 0x100], [0x402000, 0x100], [0x402100, 0x100]]);
  expect(withoutRuns(regions, runs).map((r) => [r.addr, r.size])).toEqual([[0x400078, 0x200 - 0x78], [0x400300, 0x1d00], [0x402200, 0xe00]]);
  expect(dataInRegions(elfWith(phdrs, sections, true), regions)).toEqual([]);
});
