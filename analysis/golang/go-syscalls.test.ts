import { readFileSync } from 'node:fs';
import { parseElf } from '../elf';
import { scanFile } from '../scan/scan-file';
import { syscallName, syscallNumber } from '../syscalls/table';
import { analyzeGoBinary, GoSyscallAnalysis, isGoBinary } from './go-syscalls';
import { isMethodName } from './reachability';
import { buildGoFixtures, GoFixtures, straceSyscalls } from './test-fixtures';

let fx: GoFixtures;
const results = new Map<string, GoSyscallAnalysis>();
beforeAll(() => {
  fx = buildGoFixtures();
});
afterAll(() => fx?.cleanup());

function analyse(bin: string): GoSyscallAnalysis {
  let r = results.get(bin);
  if (!r) {
    const buf = readFileSync(bin);
    r = analyzeGoBinary(parseElf(buf, bin), buf)!;
    results.set(bin, r);
  }
  return r;
}
const names = (r: GoSyscallAnalysis) => new Set([...r.syscalls].map((n) => syscallName(n) ?? String(n)));

// Reached through: syscall pkg (getpriority, getrusage), x/sys-style asm JMP stub (mincore),
// a Go wrapper taking the number (getitimer), RawSyscall stub (sysinfo), ABI0 stack-frame
// number (getcpu), a package variable (times).
const RARE = ['getpriority', 'getrusage', 'mincore', 'getitimer', 'sysinfo', 'getcpu', 'times'];
const NEVER = ['reboot', 'mount', 'umount2', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'bpf', 'ptrace', 'swapon', 'pivot_root', 'setns', 'unshare', 'perf_event_open'];

describe('analyzeGoBinary', () => {
  test.each(['rare', 'rareStripped', 'rarePie'] as const)('%s: rare syscalls found, every site resolved, dangerous ones absent', (k) => {
    const r = analyse(fx[k]!);
    expect(r.goVersion).toMatch(/^go1\.\d+/);
    expect(r.modulePath).toBe('example.com/rare');
    expect(r.functions).toBeGreaterThan(1000);
    const got = names(r);
    for (const n of RARE) expect([n, got.has(n)]).toEqual([n, true]);
    for (const n of NEVER) expect([n, got.has(n)]).toEqual([n, false]);
    expect(r.sites.unresolved).toEqual([]);
    expect(r.sites.resolved).toBe(r.sites.reachable);
    expect(r.goImports).toEqual([]);
  });

  test('attributes each number to the function that chooses it', () => {
    const r = analyse(fx.rare);
    const nr = (n: string) => syscallNumber(n)!;
    expect(r.perFunction.get('syscall.Getpriority')).toContain(nr('getpriority'));
    expect(r.perFunction.get('example.com/unixlike.Mincore')).toContain(nr('mincore'));
    // Getitimer is inlined into main.main, which passes the constant to the non-inlined call3.
    expect(r.perFunction.get('main.main')).toContain(nr('getitimer'));
    expect(r.perFunction.get('example.com/unixlike.Getcpu')).toContain(nr('getcpu'));
    // The wrappers themselves choose nothing: their number is a parameter.
    expect(r.perFunction.get('syscall.Syscall')).toBeUndefined();
    expect(r.perFunction.get('example.com/unixlike.call3')).toBeUndefined();
  });

  test('every syscall strace sees the program make is reported (minus execve)', () => {
    const seen = straceSyscalls(fx.rare, fx.dir);
    for (const n of RARE) expect(seen.has(n)).toBe(true); // the fixture really exercises them
    seen.delete('execve');
    const got = names(analyse(fx.rare));
    expect([...seen].filter((n) => !got.has(n))).toEqual([]);
  });

  test('cgo: Go side analysed, libc imports exposed for the whole-program linker', () => {
    if (!fx.cgo) throw new Error('cgo fixture did not build (gcc missing?)');
    const r = analyse(fx.cgo);
    expect(r.needed).toContain('libc.so.6');
    expect(r.interp).toMatch(/ld-linux/);
    expect(r.goImports).toEqual(expect.arrayContaining(['getppid', 'pthread_create', 'malloc']));
    expect(r.sites.unresolved).toEqual([]);
    const got = names(r);
    for (const n of ['futex', 'mmap', 'rt_sigaction', 'clone']) expect(got.has(n)).toBe(true);
    const seen = straceSyscalls(fx.cgo, fx.dir);
    // Syscalls the program makes that the Go side does not are the libc/loader part's to cover.
    expect(seen.has('getppid')).toBe(true);
    expect(got.has('getppid')).toBe(false);
  });

  test("Go's own functions get no value facts (guards, values passed, import arguments); the C of a cgo binary does", () => {
    if (!fx.cgo) throw new Error('cgo fixture did not build (gcc missing?)');
    for (const bin of [fx.rare, fx.cgo]) {
      const goStarts = analyse(bin).goFunctionStarts;
      expect(goStarts.size).toBeGreaterThan(1000);
      const fns = scanFile(new Uint8Array(readFileSync(bin)), 'fixture', bin).analysis!.functions;
      const withFacts = fns.filter((f) => goStarts.has(f.a) && (f.g || f.gv || f.ia)).map((f) => f.n ?? f.a);
      expect([bin, withFacts]).toEqual([bin, []]);
      if (bin === fx.cgo) expect(fns.filter((f) => !goStarts.has(f.a) && (f.g || f.gv || f.ia)).length).toBeGreaterThan(0);
    }
  });

  test('reachability counts the sound indirect-call rule separately (for measuring it)', () => {
    const r = analyse(fx.rare);
    const t = r.reachability.takenBy;
    expect(t.dataPointer + t.textOffset + t.code).toBe(r.addressTakenFunctions);
    expect(r.reachableFunctions).toBeLessThanOrEqual(r.codeFunctions);
    const rt = r.code.functions;
    const byName = new Map([...rt.values()].map((f) => [f.name, f.addr]));
    expect(r.reachability.reachable.has(byName.get('main.main')!)).toBe(true);
    expect(r.reachability.reachable.has(byName.get('runtime.main')!)).toBe(true);
  });

  test('not a Go binary', () => {
    const buf = readFileSync('/bin/true');
    expect(isGoBinary(parseElf(buf), buf)).toBe(false);
    expect(analyzeGoBinary(parseElf(buf), buf)).toBeUndefined();
  });
});

test('isMethodName', () => {
  expect(isMethodName('net/http.(*Server).Serve')).toBe(true);
  expect(isMethodName('os.File.Name')).toBe(true);
  expect(isMethodName('example.com/x.T[...].M')).toBe(true);
  expect(isMethodName('syscall.Syscall6')).toBe(false);
  expect(isMethodName('runtime/internal/syscall.Syscall6')).toBe(false);
  expect(isMethodName('example.com/a.b/c.F[go.shape.int]')).toBe(false);
});
