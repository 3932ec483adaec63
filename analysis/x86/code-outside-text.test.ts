import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeJson } from '../../test/analyze-json';
import { parseElf } from '../elf';
import { dataInRegions, executableRegions } from '../elf/exec-regions';
import { sstrip } from '../../tools/fuzz/corpus';
import { codeInputFromElf } from './from-elf';
import { compile, sh, tempDir } from './test-fixtures';

/**
 * Code the loader maps executable but `.text` does not hold: a `.text` renamed by
 * objcopy, a function in its own section (glibc's `__libc_freeres_fn`, tcmalloc's
 * `google_malloc`, node's `lpstub`), a section in a segment of its own with the section
 * headers gone, a code section relabelled as data. Each one's syscalls must be found;
 * getppid is made only by the function in `.hidcode`, through an inline `syscall`.
 */
const PROGRAM = String.raw`
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/resource.h>
__attribute__((noinline, section(".hidcode"))) long hidden(void) {
  long r;
  __asm__ volatile ("syscall" : "=a"(r) : "a"(SYS_getppid) : "rcx", "r11", "memory");
  return r;
}
int main(int argc, char **argv) {
  flock(0, LOCK_SH);
  getpriority(PRIO_PROCESS, 0);
  if (argc > 5) return 3;
  printf("%ld\n", hidden());
  return 0;
}
`;

let dir: string;
const built: Record<string, string> = {};
const derive = (name: string, from: string, f: (src: string, dst: string) => void) => {
  const dst = path.join(dir, name);
  f(built[from], dst);
  built[name] = dst;
};
beforeAll(() => {
  dir = tempDir('confine-outside-text-');
  for (const [cc, tag] of [['gcc', 'glibc'], ['musl-gcc', 'musl']] as const) {
    built[`${tag}`] = compile(dir, `${tag}.c`, PROGRAM, tag, ['-O1', '-static'], cc);
    derive(`${tag}.code`, tag, (s, d) => sh('objcopy', ['--rename-section', '.text=.code', s, d]));
    // .hidcode 32 MiB away: a PT_LOAD of its own; sstrip'd, only the segments say it is code.
    built[`${tag}.far`] = compile(dir, `${tag}.c`, PROGRAM, `${tag}.far`, ['-O1', '-static', '-Wl,--section-start=.hidcode=0x2000000'], cc);
    derive(`${tag}.far.sstrip`, `${tag}.far`, (s, d) => fs.writeFileSync(d, sstrip(fs.readFileSync(s)), { mode: 0o755 }));
    // Code and read-only data in one segment (ld -z noseparate-code, gold, binutils < 2.31).
    built[`${tag}.nosep`] = compile(dir, `${tag}.c`, PROGRAM, `${tag}.nosep`, ['-O1', '-static', '-Wl,-z,noseparate-code', '-fno-asynchronous-unwind-tables'], cc);
    // ... with .hidcode relabelled as read-only data and no symbols: only the call from main says it is code.
    derive(`${tag}.nosep.relabelled`, `${tag}.nosep`, (s, d) => sh('objcopy', ['--strip-all', '--set-section-flags', '.hidcode=alloc,load,readonly,data', s, d]));
  }
  built.dynamic = compile(dir, 'dynamic.c', PROGRAM, 'dynamic', ['-O1'], 'gcc');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const analyze = analyzeJson;

const VARIANTS = ['dynamic', ...['glibc', 'musl'].flatMap((t) => [t, `${t}.code`, `${t}.far.sstrip`, `${t}.nosep`, `${t}.nosep.relabelled`])];

test.each(VARIANTS)('%s: the syscalls of code outside .text are found', async (name) => {
  const got = await analyze(built[name]);
  expect({ name, missing: ['getppid', 'flock', 'getpriority'].filter((s) => !got.syscalls.includes(s)) }).toEqual({ name, missing: [] });
});

test.each(['glibc', 'musl'])('%s: renaming .text changes nothing: the same syscalls as the original', async (tag) => {
  const original = await analyze(built[tag]);
  const renamed = await analyze(built[`${tag}.code`]);
  expect(renamed.syscalls).toEqual(original.syscalls);
  expect(renamed.unresolvedSites).toBe(original.unresolvedSites);
});

test.each(['glibc', 'musl'])('%s: read-only data sharing a segment with code is not decoded as code (no garbage sites)', async (tag) => {
  const bytes = fs.readFileSync(built[`${tag}.nosep`]);
  const elf = parseElf(bytes, 'nosep');
  const regions = executableRegions(elf, bytes.length);
  const rodata = elf.sectionByName('.rodata')!;
  expect(regions.some((r) => rodata.addr >= r.addr && rodata.addr < r.addr + r.size)).toBe(true);
  expect(dataInRegions(elf, regions).some((w) => w.addr === rodata.addr)).toBe(true);
  const input = codeInputFromElf(elf, bytes)!;
  expect(input.withheld!.some((w) => w.addr === rodata.addr)).toBe(true);
  // The separate-code build of the same program is the reference: no more syscalls, no unresolved site.
  const nosep = await analyze(built[`${tag}.nosep`]);
  const sep = await analyze(built[tag]);
  expect(nosep.unresolvedSites).toBe(sep.unresolvedSites);
  expect(nosep.syscalls.filter((s) => !sep.syscalls.includes(s))).toEqual([]);
});

test('every executable segment is one region, with int3 for the unmapped bytes between and no function there', () => {
  const bytes = fs.readFileSync(built['glibc.far.sstrip']);
  const elf = parseElf(bytes, 'far');
  expect(elf.sectionSource.synthesized).toBe(true);
  const regions = executableRegions(elf, bytes.length);
  expect(regions.length).toBe(2);
  expect(regions[1].addr).toBe(0x2000000);
  const input = codeInputFromElf(elf, bytes)!;
  expect(input.codeVaddr).toBe(regions[0].addr);
  expect(input.code.length).toBe(0x2000000 + regions[1].size - regions[0].addr);
  const holeAt = regions[0].addr + regions[0].size - input.codeVaddr;
  expect(input.code[holeAt]).toBe(0xcc);
  expect(input.code[0x2000000 - input.codeVaddr]).toBe(bytes[regions[1].offset]);
  const inHole = input.functionStarts.filter((s) => s.addr >= regions[0].addr + regions[0].size && s.addr < 0x2000000);
  expect(inHole).toEqual([{ addr: regions[0].addr + regions[0].size, size: 1 }]);
});
