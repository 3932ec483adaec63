import * as fs from 'fs';
import { syscallNumber } from '../syscalls/table';
import { analyzeCode, isResolved } from './analyze-object';
import { resolveImportArgs, resolveParamSyscalls } from './param-syscalls';
import { compile, hasTool, inputFromBinutils, nmFunctions, straceNames, tempDir } from './test-fixtures';
import type { CodeAnalysis } from './code-analysis';

// A program using each way C code reaches the kernel: libc wrappers, syscall(),
// a wrapper of syscall() and a wrapper of that, and inline asm.
const PROGRAM = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) long my_sys(long n) { return syscall(n); }
__attribute__((noinline)) long my_sys2(long n) { return my_sys(n) + 1; }

int main(int argc, char **argv) {
  long r = syscall(SYS_getpid);
  r += my_sys(SYS_gettid);
  r += my_sys2(SYS_getppid);
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_getuid) : "rcx", "r11", "memory");
  int fd = open("/dev/null", O_RDONLY);
  char b[4];
  if (read(fd, b, sizeof b) < 0) r++;
  close(fd);
  printf("%ld\n", r + ret + argc);
  return 0;
}
`;

const NR = { getpid: 39, gettid: 186, getppid: 110, getuid: 102 };

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function build(out: string, flags: string[], cc = 'gcc'): string {
  return compile(dir, `${out}.c`, PROGRAM, out, flags, cc);
}

function analyse(bin: string): CodeAnalysis {
  return analyzeCode(inputFromBinutils(bin, nmFunctions(bin)));
}

/** Every number the object's sites can use: own constants and values recovered at wrapper call sites. */
function allNumbers(a: CodeAnalysis): Set<number> {
  const r = resolveParamSyscalls(a, { maxDepth: 4 });
  const out = new Set<number>();
  for (const v of r.numbersBySite.values()) v.forEach((n) => out.add(n));
  return out;
}

describe.each([
  ['-O2', ['-O2']],
  ['-O0', ['-O0']],
])('dynamically linked, gcc %s', (_label, flags) => {
  let a: CodeAnalysis;
  beforeAll(() => {
    a = analyse(build(`dyn${flags[0]}`, flags));
  });

  test('inline asm syscall in main is resolved', () => {
    const main = a.functions.get([...a.functions.values()].find((f) => f.name === 'main')!.addr)!;
    expect(main.syscalls).toHaveLength(1);
    const s = a.syscalls.find((x) => x.addr === main.syscalls[0])!;
    expect(s.numbers).toEqual([NR.getuid]);
    expect(isResolved(s)).toBe(true);
  });

  test("libc's syscall() numbers recovered at the PLT call sites, through two wrapper levels", () => {
    const r = resolveImportArgs(a, 'syscall', 'rdi');
    expect(r.numbers).toEqual([NR.getpid, NR.getppid, NR.gettid].sort((x, y) => x - y));
    expect(r.unresolved).toEqual([]);
    // my_sys is exported from the executable? no: it is a local helper, so nothing stays open
    expect(r.open.filter((o) => o.why !== 'exported')).toEqual([]);
  });

  test('imports called through the PLT are call-graph facts', () => {
    const main = [...a.functions.values()].find((f) => f.name === 'main')!;
    expect(main.imports).toEqual(expect.arrayContaining(['open', 'read', 'close']));
  });
});

describe.each([
  ['gcc -static -O2', 'gcc', ['-static', '-O2']],
  ['gcc -static -O0', 'gcc', ['-static', '-O0']],
  ['musl-gcc -static -O2', 'musl-gcc', ['-static', '-O2']],
])('%s', (label, cc, flags) => {
  const usable = cc === 'gcc' || hasTool(cc);
  let bin: string;
  let a: CodeAnalysis;
  let nums: Set<number>;
  beforeAll(() => {
    if (!usable) throw new Error(`${cc} is not installed`);
    bin = build(label.replace(/[^a-z0-9]+/gi, '_'), flags, cc);
    a = analyse(bin);
    nums = allNumbers(a);
  });

  test('syscall() and its wrappers resolved inside the object', () => {
    for (const n of Object.values(NR)) expect(nums).toContain(n);
  });

  test('every syscall strace sees (except the initial execve) is in the resolved set', () => {
    const seen = straceNames([bin], dir);
    expect(seen.size).toBeGreaterThan(3);
    const missing = [...seen].filter((n) => !nums.has(syscallNumber(n)!));
    expect(missing).toEqual([]);
  });

  test('unresolved sites are few and each has a reason and a function', () => {
    const r = resolveParamSyscalls(a);
    for (const u of r.unresolved) {
      expect(u.reason).toMatch(/\S/);
      expect(typeof u.fn).toBe('number');
    }
    const sites = new Set(r.unresolved.map((u) => u.site));
    expect(sites.size).toBeLessThanOrEqual(Math.ceil(a.syscalls.length * 0.02) + 2);
  });
});
