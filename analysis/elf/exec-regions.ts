import { malformed } from './byte-view';
import type { ElfFile } from './elf-file';
import { PT, SHT } from './header';

/** A run of file bytes the loader maps executable, at its virtual address. */
export interface ExecRegion {
  addr: number;
  /** File offset of the byte at `addr`. */
  offset: number;
  size: number;
}

const PF_X = 1;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;
/** The granularity the kernel maps segments with (x86-64's base page). */
const PAGE = 4096;
/** x86-64's user address space ends below 2^47 (TASK_SIZE). */
const USER_END = 2 ** 47;

/**
 * Every byte a process can execute from this file: the file-backed part of each PT_LOAD
 * segment with PF_X, widened to the whole pages the kernel maps (a segment that does not
 * end on a page boundary makes the rest of its last page executable too), sorted by
 * address (where two overlap, the bytes of the one mapped last), touching runs of the
 * same file bytes merged. Section headers are not consulted: the
 * loader ignores them, so code a section table renames, relabels or omits is still here.
 * A file without any executable PT_LOAD (never loaded by the kernel, e.g. a relocatable
 * object) gets its executable sections instead.
 */
export function executableRegions(elf: ElfFile, fileSize: number): ExecRegion[] {
  const raw: ExecRegion[] = [];
  for (const p of elf.programHeaders) {
    // (A segment with no memory size maps nothing.)
    if (p.type !== PT.LOAD || (p.flags & PF_X) === 0 || p.filesz <= 0 || p.memsz <= 0) continue;
    // The kernel refuses a segment past the user address space (and a number that large
    // is not exact here); it cannot be told what such a file would run.
    if (!(p.vaddr + p.memsz <= USER_END) || !(p.offset + p.filesz <= Number.MAX_SAFE_INTEGER)) {
      throw malformed(elf.fileName, `executable segment at 0x${p.vaddr.toString(16)} (+0x${p.memsz.toString(16)}) lies outside the user address space`);
    }
    // mmap maps from the page holding p_vaddr, at the file offset congruent to it.
    const lead = Math.min(p.vaddr % PAGE, p.offset);
    const addr = p.vaddr - lead;
    const offset = p.offset - lead;
    // Past p_filesz the kernel zero-fills a segment that has a memory-only tail; else the
    // file's next bytes up to the page end are mapped with the segment's permissions.
    const end = p.memsz > p.filesz ? p.vaddr + p.filesz : Math.ceil((p.vaddr + p.filesz) / PAGE) * PAGE;
    const size = Math.min(end - addr, fileSize - offset);
    if (offset < fileSize && size > 0) raw.push({ addr, offset, size });
  }
  if (!raw.length) {
    for (const s of elf.sections) {
      if ((s.flags & SHF_EXECINSTR) !== 0 && s.type === SHT.PROGBITS && s.size > 0 && s.offset + s.size <= fileSize) raw.push({ addr: s.addr, offset: s.offset, size: s.size });
    }
  }
  // The kernel maps segments in program-header order, each over whatever an earlier one
  // mapped at the same addresses (MAP_FIXED): where two overlap, the later one's bytes
  // are what runs.
  let painted: ExecRegion[] = [];
  for (const r of raw) {
    const rEnd = r.addr + r.size;
    const kept: ExecRegion[] = [];
    for (const q of painted) {
      const qEnd = q.addr + q.size;
      if (qEnd <= r.addr || q.addr >= rEnd) kept.push(q);
      else {
        if (q.addr < r.addr) kept.push({ addr: q.addr, offset: q.offset, size: r.addr - q.addr });
        if (qEnd > rEnd) kept.push({ addr: rEnd, offset: q.offset + (rEnd - q.addr), size: qEnd - rEnd });
      }
    }
    kept.push({ ...r });
    painted = kept;
  }
  painted.sort((a, b) => a.addr - b.addr);
  const out: ExecRegion[] = [];
  for (const r of painted) {
    const last = out[out.length - 1];
    // Touching runs of the same file bytes (one segment's page shared with the next) are one region.
    if (last && r.addr === last.addr + last.size && r.offset === last.offset + last.size) last.size += r.size;
    else out.push(r);
  }
  return out;
}

/**
 * The parts of executable regions that the section table says are data: allocated
 * sections without SHF_EXECINSTR (`.rodata`, `.eh_frame`, `.dynsym`, ... where one
 * segment holds code and read-only data, as `ld -z noseparate-code`, gold and older
 * binutils lay files out), and the ELF and program headers when a region maps them.
 * Empty when the sections were rebuilt from the segments (nothing to say otherwise).
 * A section table can lie: callers decode these bytes too once code is seen to go there.
 */
export function dataInRegions(elf: ElfFile, regions: readonly ExecRegion[]): ExecRegion[] {
  if (elf.sectionSource.synthesized) return [];
  const runs: { addr: number; end: number }[] = [];
  for (const s of elf.sections) {
    if ((s.flags & SHF_ALLOC) === 0 || (s.flags & SHF_EXECINSTR) !== 0 || s.type === SHT.NOBITS || s.size <= 0) continue;
    runs.push({ addr: s.addr, end: s.addr + s.size });
  }
  for (const r of regions) {
    if (r.offset !== 0) continue;
    const h = elf.header;
    runs.push({ addr: r.addr, end: r.addr + h.ehsize });
    if (h.phnum > 0) runs.push({ addr: r.addr + h.phoff, end: r.addr + h.phoff + h.phnum * h.phentsize });
  }
  const pieces: ExecRegion[] = [];
  for (const run of runs) {
    for (const r of regions) {
      const a = Math.max(run.addr, r.addr);
      const e = Math.min(run.end, r.addr + r.size);
      if (a < e) pieces.push({ addr: a, offset: r.offset + (a - r.addr), size: e - a });
    }
  }
  pieces.sort((a, b) => a.addr - b.addr);
  const out: ExecRegion[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    // Overlapping runs inside one region are one run (its offsets follow the region's);
    // touching ones stay apart, so that code found in one section releases that one only.
    if (last && p.addr < last.addr + last.size && p.offset - p.addr === last.offset - last.addr) last.size = Math.max(last.size, p.addr + p.size - last.addr);
    else out.push(p);
  }
  return out;
}

/** `regions` without the byte runs `cut` (both sorted, `cut` inside `regions`). */
export function withoutRuns(regions: readonly ExecRegion[], cut: readonly ExecRegion[]): ExecRegion[] {
  const out: ExecRegion[] = [];
  for (const r of regions) {
    let at = r.addr;
    const end = r.addr + r.size;
    for (const c of cut) {
      if (c.addr + c.size <= at || c.addr >= end) continue;
      if (c.addr > at) out.push({ addr: at, offset: r.offset + (at - r.addr), size: c.addr - at });
      at = Math.max(at, c.addr + c.size);
    }
    if (at < end) out.push({ addr: at, offset: r.offset + (at - r.addr), size: end - at });
  }
  return out;
}
