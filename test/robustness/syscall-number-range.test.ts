import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanFile } from '../../analysis/scan/scan-file';
import { validateArtifact } from '../../schemas/validate';
import { syscallNumbers } from '../../analysis/summary/object-summary';

/**
 * Found by tools/fuzz/elf-fuzz.ts (seed 3, cases 2286, 7991): a `syscall` reached with a
 * negative constant in %rax put a negative number into the scan artifact, which the
 * elf-scan schema refuses, so the content store refused to write it and the whole
 * image failed in symbol-scan. The kernel reads the number as a 32-bit int.
 */
let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'confine-nr-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('syscallNumbers keeps what the kernel acts on: low 32 bits, non-negative', () => {
  expect(syscallNumbers([-1, 0, 39, 0x100000027, 0xffffffff, 0x80000000, 2 ** 31 - 1, 1.5])).toEqual([0, 39, 39, 2 ** 31 - 1]);
});

test('a binary doing syscall with -1 and with 2^32+39 in %rax scans to a storable artifact', () => {
  const src = join(dir, 'neg.c');
  writeFileSync(
    src,
    `void neg(void) { __asm__ volatile("mov $-1, %%rax\\n syscall" ::: "rax", "rcx", "r11", "memory"); }
void big(void) { __asm__ volatile("movabs $0x100000027, %%rax\\n syscall" ::: "rax", "rcx", "r11", "memory"); }
void _start(void) { neg(); big(); __asm__ volatile("mov $60, %%eax\\n xor %%edi, %%edi\\n syscall" ::: "memory"); }
`,
  );
  const bin = join(dir, 'neg');
  execFileSync('gcc', ['-O1', '-static', '-nostdlib', '-fno-pie', '-no-pie', '-o', bin, src]);
  const v = scanFile(readFileSync(bin), `sha256:${'1'.repeat(64)}`, bin);
  expect(validateArtifact('confine/elf-scan/v1', v)).toBeUndefined();
  const nrs = new Set((v.analysis?.functions ?? []).flatMap((f) => (f.s ?? []).flatMap((s) => s.nr)));
  expect([...nrs].sort((a, b) => a - b)).toEqual([39, 60]);
});
