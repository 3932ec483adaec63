import * as fs from 'fs';
import { analyzeBinary } from '../../system/host/analyze-programs';
import { SummarySource } from '../../system/host/summary-source';
import { syscallName, syscallNumber } from '../syscalls/table';
import { compile, straceNames, tempDir } from '../x86/test-fixtures';
import { exportIndex, matchExport, resolveProgram, type ProgramResolution } from './link';
import type { ObjectSummary } from '../summary/object-summary';

// Each way a C program reaches the kernel: a function pointer (fp_target is only ever
// called through `fp`), stdio (write through glibc's _IO_file_jumps / musl's
// f->write), syscall(SYS_getppid), and inline asm (getegid).
const PROGRAM = String.raw`
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
__attribute__((noinline)) static void fp_target(void) { sched_yield(); }
void (*volatile fp)(void) = fp_target;
int main(int argc, char **argv) {
  long r = syscall(SYS_getppid);
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_getegid) : "rcx", "r11", "memory");
  fp();
  printf("hello %ld %ld %d\n", r, ret, argc);
  return 0;
}
`;

const DANGEROUS = ['reboot', 'mount', 'umount2', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'bpf', 'ptrace', 'swapon', 'pivot_root', 'acct', 'settimeofday'];
const nr = (name: string) => syscallNumber(name)!;
const names = (s: Iterable<number>) => new Set([...s].map((n) => syscallName(n)!));

let dir: string;
const source = new SummarySource();
const built: Record<string, { bin: string; res: ProgramResolution; exe: ObjectSummary; traced: Set<string> }> = {};

const VARIANTS: [string, string[], string][] = [
  ['dynamic', ['-O2'], 'gcc'],
  ['static', ['-O2', '-static'], 'gcc'],
  ['static-pie', ['-O2', '-static-pie'], 'gcc'],
  ['musl-static', ['-O2', '-static'], 'musl-gcc'],
  // musl's libc.so is also the loader and has neither symbols nor FDEs for its static functions.
  ['musl-dynamic', ['-O2'], 'musl-gcc'],
];

beforeAll(async () => {
  dir = tempDir('confine-link-');
  for (const [name, flags, cc] of VARIANTS) {
    const bin = compile(dir, `${name}.c`, PROGRAM, name, flags, cc);
    const a = await analyzeBinary('/', bin, source);
    if (!a.resolution) throw new Error(`${bin}: ${a.error}`);
    const exe = (await source.get(fs.readFileSync(bin), bin)).analysis!;
    built[name] = { bin, res: a.resolution, exe, traced: straceNames([bin], dir) };
  }
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each(VARIANTS.map((v) => v[0]))('%s program', (name) => {
  test('every syscall strace sees is reported', () => {
    const { res, traced } = built[name];
    expect(traced.size).toBeGreaterThan(3);
    const reported = names(res.syscalls);
    expect([...traced].filter((s) => !reported.has(s))).toEqual([]);
  });

  test('dangerous syscalls the program never reaches are not reported', () => {
    const reported = names(built[name].res.syscalls);
    expect(DANGEROUS.filter((s) => reported.has(s))).toEqual([]);
  });

  test('the function-pointer-only syscall comes from the indirect-call rule', () => {
    const { res } = built[name];
    expect(res.syscalls.has(nr('sched_yield'))).toBe(true);
    expect(res.withoutIndirectRule.has(nr('sched_yield'))).toBe(false);
    expect(res.indirectRuleFired).toBe(true);
    const chain = res.provenance.get(nr('sched_yield'))!.steps;
    expect(chain.some((s) => s.via === 'indirect' && s.function === 'fp_target')).toBe(true);
  });

  test('inline asm and syscall(SYS_getppid) are attributed to the executable', () => {
    const { res, bin, exe } = built[name];
    const own = res.perObject.find((o) => o.path === bin)!;
    expect(own.syscalls).toContain(nr('getegid'));
    expect(res.syscalls.has(nr('getppid'))).toBe(true);
    if (name === 'dynamic') {
      // The number passed to libc's syscall() is recovered at the executable's PLT call.
      const sys = exe.imports.findIndex((i) => i === 'syscall' || i.startsWith('syscall@'));
      const args = exe.importArgs.find((x) => x.import === sys)!;
      expect(args.uses.flatMap((u) => u.nr)).toContain(nr('getppid'));
    } else {
      expect(own.syscalls).toContain(nr('getppid'));
    }
  });
});

test('stdio reaches write only through the I/O vtables (static musl)', () => {
  const { res } = built['musl-static'];
  expect(res.syscalls.has(nr('writev'))).toBe(true);
  expect(res.withoutIndirectRule.has(nr('writev'))).toBe(false);
});

test('indirect steps say what holds the target address: a data word of libc for some chain', () => {
  // (Chains start at the program's entry and are shortest from there, so which syscall's
  // chain passes a vtable word depends on libc's layout; at least one does.)
  const { res } = built.dynamic;
  const reasons = [...res.provenance.values()].flatMap((p) => p.steps).filter((s) => s.via === 'indirect').map((s) => s.takenBy);
  expect(reasons.every((r) => typeof r === 'string' && r.length > 0)).toBe(true);
  expect(reasons.some((r) => /data word 0x[0-9a-f]+ of .*libc\.so\.6/.test(r!))).toBe(true);
  // And every chain starts at the executable's entry when the entry reaches the syscall.
  expect(res.provenance.get(nr('getegid'))!.steps[0].object).toBe(built.dynamic.bin);
});

test('the dynamic program loads libc and ld.so, and ld.so contributes its own syscalls', () => {
  const { res } = built.dynamic;
  const paths = res.perObject.map((o) => o.path);
  expect(paths.some((p) => /libc\.so\.6$/.test(p))).toBe(true);
  const ld = res.perObject.find((o) => /ld-linux-x86-64\.so\.2$/.test(o.path))!;
  expect(ld.reachedFunctions).toBeGreaterThan(0);
  expect(ld.syscalls).toContain(nr('arch_prctl'));
  expect(res.unresolvedImports.filter((u) => !/^(__gmon_start__|_ITM_|__cxa_finalize)/.test(u.import))).toEqual([]);
});

describe('import binding', () => {
  const empty = (over: Partial<ObjectSummary>): ObjectSummary => ({
    functions: [], imports: [], exports: [], inits: [], addressTaken: [], importsAddressTaken: [], paramWrappers: [], importArgs: [], unresolved: [],
    stats: { instructions: 0, syscallSites: 0, unknownTargets: 0 }, ...over,
  });
  test('versioned imports bind to that version; unversioned ones to the default', () => {
    const exports = ['memcpy@GLIBC_2.2.5', 'memcpy@@GLIBC_2.14', 'open'].map((name, fn) => ({ name, fn }));
    const index = exportIndex(empty({ exports }));
    expect(matchExport(index, 'memcpy@GLIBC_2.2.5')).toEqual([0]);
    expect(matchExport(index, 'memcpy@GLIBC_2.14')).toEqual([1]);
    expect(matchExport(index, 'memcpy')).toEqual([1]);
    expect(matchExport(index, 'open@GLIBC_2.2.5')).toEqual([2]);
    expect(matchExport(index, 'close')).toEqual([]);
  });

  test('a program binds each import to the first object in load order, and its numbers flow through syscall()', () => {
    const fnSum = empty;
    const exe = fnSum({ functions: [{ a: 0, n: '_start', e: [1] }, { a: 16, n: 'main', i: [0, 1] }], imports: ['syscall@GLIBC_2.2.5', 'getpid'], entry: 0,
      importArgs: [{ import: 0, loc: 'rdi', uses: [{ fn: 1, nr: [nr('getppid')] }] }] });
    const first = fnSum({ functions: [{ a: 0, n: 'getpid', s: [{ at: 4, nr: [nr('getpid')] }] }], exports: [{ name: 'getpid@@V1', fn: 0 }] });
    const second = fnSum({ functions: [{ a: 0, n: 'getpid', s: [{ at: 4, nr: [nr('reboot')] }] }, { a: 32, n: 'syscall' }],
      exports: [{ name: 'getpid@@V1', fn: 0 }, { name: 'syscall@@GLIBC_2.2.5', fn: 1 }], paramWrappers: [{ fn: 1, loc: 'rdi', site: 40 }] });
    const r = resolveProgram({ executable: { path: '/exe', summary: exe }, libraries: [{ path: '/a.so', summary: first }, { path: '/b.so', summary: second }] });
    expect([...r.syscalls].sort()).toEqual([nr('getpid'), nr('getppid')].sort());
    expect(r.unresolvedSites).toEqual([]);
    expect(r.provenance.get(nr('getpid'))!.steps.map((s) => `${s.object}:${s.function}`)).toEqual(['/exe:_start', '/exe:main', '/a.so:getpid']);
    // Without the recovered argument, the wrapper call is an unresolved site, not silence.
    const bare = resolveProgram({ executable: { path: '/exe', summary: { ...exe, importArgs: [] } }, libraries: [{ path: '/b.so', summary: second }] });
    expect(bare.unresolvedSites.map((u) => u.object)).toEqual(['/b.so']);
  });
});
