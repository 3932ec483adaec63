import * as fs from 'fs';
import { parseElf } from '../elf';
import { analyzeCode, isResolved } from './analyze-object';
import { codeInputFromElf } from './from-elf';
import { resolveParamSyscalls } from './param-syscalls';
import { fdeFunctions, inputFromBinutils, nmFunctions } from './test-fixtures';
import type { CodeAnalysis } from './code-analysis';

// The host's own glibc (bookworm 2.36) and dynamic loader: stripped, so function
// starts come from .eh_frame FDEs plus the exported symbols.
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LD = '/lib64/ld-linux-x86-64.so.2';

function viaBinutils(file: string): CodeAnalysis {
  const starts = [...fdeFunctions(file), ...nmFunctions(file, true)];
  return analyzeCode(inputFromBinutils(file, starts));
}

/** Reasons per unresolved site, for the report printed by the test. */
function summary(name: string, a: CodeAnalysis): string {
  const r = resolveParamSyscalls(a);
  const lines = [
    `${name}: ${a.instructionCount} instructions, ${a.functions.size} functions, decode ${a.timing.decodeMs.toFixed(0)} ms, ` +
      `syscall flow ${a.timing.syscallFlowMs.toFixed(0)} ms, ${a.syscalls.length} syscall sites, ` +
      `${a.syscalls.filter(isResolved).length} resolved locally, ${new Set(r.unresolved.map((u) => u.site)).size} unresolved, ${r.open.length} open parameters`,
  ];
  for (const u of r.unresolved) lines.push(`  unresolved 0x${u.site.toString(16)} in ${u.fnName ?? '0x' + u.fn.toString(16)}: ${u.reason} at 0x${u.at.toString(16)}`);
  for (const o of r.open) lines.push(`  open 0x${o.site.toString(16)}: ${o.loc} of ${o.entryName ?? o.entry.toString(16)} (${o.why})`);
  return lines.join('\n');
}

describe('host libc.so.6', () => {
  let a: CodeAnalysis;
  beforeAll(() => {
    a = viaBinutils(LIBC);
    console.log(summary('libc.so.6', a));
  });

  test('finds the syscall sites of the wrappers we know', () => {
    const byName = (n: string) => [...a.functions.values()].find((f) => f.name === n)!;
    const nums = (n: string) => byName(n).syscalls.flatMap((s) => a.syscalls.find((x) => x.addr === s)!.numbers);
    expect(new Set(nums('read'))).toEqual(new Set([0]));
    expect(new Set(nums('write'))).toEqual(new Set([1]));
    expect(new Set(nums('openat'))).toEqual(new Set([257]));
    expect(a.syscalls.length).toBeGreaterThan(400);
  });

  test('syscall() is the one parametric site and stays open for importers', () => {
    const r = resolveParamSyscalls(a);
    const sys = [...a.functions.values()].find((f) => f.name === 'syscall')!;
    expect(r.open).toEqual([expect.objectContaining({ site: sys.syscalls[0], loc: 'rdi', why: 'exported' })]);
  });

  test('everything else is resolved except the setxid broadcast, whose number is loaded from a struct', () => {
    const r = resolveParamSyscalls(a);
    expect(r.unresolved.length).toBeLessThanOrEqual(2);
    for (const u of r.unresolved) expect(u.reason).toBe('rax written by mov from memory');
  });

  test('the ELF reader adapter gives the same syscall sites as binutils', () => {
    const buf = fs.readFileSync(LIBC);
    const b = analyzeCode(codeInputFromElf(parseElf(buf, LIBC), buf)!);
    expect(b.syscalls.map((s) => s.addr)).toEqual(a.syscalls.map((s) => s.addr));
    const key = (x: CodeAnalysis) => x.syscalls.map((s) => `${s.addr}:${s.numbers.join(',')}`);
    expect(key(b)).toEqual(key(a));
  });
});

describe('host ld-linux-x86-64.so.2', () => {
  test('every syscall site resolved', () => {
    const a = viaBinutils(LD);
    console.log(summary('ld-linux-x86-64.so.2', a));
    const r = resolveParamSyscalls(a);
    expect(a.syscalls.length).toBeGreaterThan(30);
    expect(r.unresolved).toEqual([]);
    const all = new Set(a.syscalls.flatMap((s) => s.numbers));
    // what the loader is known to do at start-up: openat, mmap, mprotect, pread64, newfstatat, arch_prctl
    for (const n of [257, 9, 10, 17, 262, 158]) expect(all).toContain(n);
  });
});
