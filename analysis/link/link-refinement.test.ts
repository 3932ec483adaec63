import * as fs from 'fs';
import * as path from 'path';
import { analyzeBinary } from '../../system/host/analyze-programs';
import { SummarySource } from '../../system/host/summary-source';
import { syscallNumber } from '../syscalls/table';
import { compile, straceNames, tempDir } from '../x86/test-fixtures';
import type { ProgramResolution } from './link';

/*
 * The refined indirect-call rule (analysis/link/link.ts, analysis/summary/data-regions.ts): a function
 * is a target only when reached code or live data holds its address. These programs
 * pin down what it removes, what it must keep, and the one corner it gets wrong.
 */

const nr = (name: string) => syscallNumber(name)!;
let dir: string;
const source = new SummarySource();

async function analyze(name: string, program: string, flags: string[] = ['-O2']): Promise<{ res: ProgramResolution; traced: Set<string> }> {
  const bin = compile(dir, `${name}.c`, program, name, flags);
  const a = await analyzeBinary('/', bin, source);
  if (!a.resolution) throw new Error(`${bin}: ${a.error}`);
  return { res: a.resolution, traced: straceNames([bin], dir) };
}

beforeAll(() => {
  dir = tempDir('confine-refine-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// A handler only code that never runs installs: not a target. One that reached code
// installs, and one that a callback table reached code passes around holds: targets.
const CALLBACKS = String.raw`
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/mman.h>
static void never_handler(int s) { (void)s; sync(); }
static void live_handler(int s) { (void)s; syscall(SYS_getppid); }
static void table_a(void) { syscall(SYS_sched_yield); }
static void table_b(void) { syscall(SYS_munlockall); }
struct ops { void (*a)(void); void (*b)(void); };
static const struct ops OPS = { table_a, table_b };
__attribute__((noinline, used)) void never_called(void) { signal(SIGUSR2, never_handler); }
__attribute__((noinline)) static void run(const struct ops *volatile o, int which) { (which ? o->b : o->a)(); }
int main(int argc, char **argv) {
  (void)argv;
  signal(SIGUSR1, live_handler);
  raise(SIGUSR1);
  run(&OPS, argc > 1);
  return 0;
}
`;

test('a callback only unreached code installs is not a target; reached code and live tables keep theirs', async () => {
  const { res, traced } = await analyze('callbacks', CALLBACKS);
  expect([...traced].filter((s) => !res.syscalls.has(nr(s)))).toEqual([]);
  expect(res.syscalls.has(nr('getppid'))).toBe(true);
  expect(res.syscalls.has(nr('sched_yield'))).toBe(true);
  // table_b is never called at run time, but it sits in a table reached code passes on.
  expect(res.syscalls.has(nr('munlockall'))).toBe(true);
  expect(res.syscalls.has(nr('sync'))).toBe(false);
  // Under sysfilter's whole-program rule every address-taken function is a target.
  expect(res.wholeProgramAT.has(nr('sync'))).toBe(true);
  expect(res.targets.reachable).toBeLessThan(res.targets.wholeProgram);
}, 60_000);

// The documented corner (docs/limits.md, "Region boundaries in stripped objects"): in a stripped object a
// data object's extent is guessed from the addresses code materialises. Unreached code
// that takes the address of a field far inside a table cuts the table in two; reached
// code that reads the far field through the table's base then holds a pointer the walk
// does not see.
const corner = (withCut: boolean) => String.raw`
#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
static void near_fn(void) { syscall(SYS_getppid); }
static void far_fn(void) { syscall(SYS_munlockall); }
struct table { void (*near)(void); long pad[8]; void (*far)(void); };
struct table T = { near_fn, {0}, far_fn };
${withCut ? '__attribute__((noinline, used)) void *unreached(void) { return (void *)&T.far; }' : ''}
struct table *volatile G;
__attribute__((noinline)) static void call_far(void) { G->far(); }
int main(void) { G = &T; call_far(); return 0; }
`;

test('the corner: an unreached address-of inside a stripped table hides the pointers past it', async () => {
  const control = await analyze('corner-control', corner(false), ['-O2', '-s']);
  expect(control.traced.has('munlockall')).toBe(true);
  expect(control.res.syscalls.has(nr('munlockall'))).toBe(true);
  const cut = await analyze('corner-cut', corner(true), ['-O2', '-s']);
  expect(cut.traced.has('munlockall')).toBe(true);
  // Documented false negative: if this starts passing, docs/limits.md's corner is gone — update both.
  expect(cut.res.syscalls.has(nr('munlockall'))).toBe(false);
  // With its symbol table the object's extent is known and nothing is cut.
  const unstripped = await analyze('corner-unstripped', corner(true), ['-O2']);
  expect(unstripped.res.syscalls.has(nr('munlockall'))).toBe(true);
}, 60_000);

// dlopen by a constant name: the library joins the walk only when reached code passes
// that name; its exports are reached through the names reached code gives dlsym.
test('a library dlopened by a constant name joins the program; one only named by unreached code does not', async () => {
  compile(dir, 'cand.c', String.raw`
#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
__attribute__((constructor)) static void init(void) { syscall(SYS_getppid); }
void cand_fn(void) { syscall(SYS_munlockall); }
void cand_unused(void) { syscall(SYS_sync); }
`, 'libcand.so', ['-O2', '-shared', '-fPIC']);
  compile(dir, 'other.c', String.raw`
#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
__attribute__((constructor)) static void init(void) { syscall(SYS_syncfs, 0); }
`, 'libother.so', ['-O2', '-shared', '-fPIC']);
  const { res, traced } = await analyze('opener', String.raw`
#include <dlfcn.h>
__attribute__((noinline, used)) void never(void) { dlopen("libother.so", RTLD_NOW); }
int main(void) {
  void *h = dlopen("libcand.so", RTLD_NOW);
  if (!h) return 1;
  void (*f)(void) = (void (*)(void))dlsym(h, "cand_fn");
  f();
  return 0;
}
`, ['-O2', `-Wl,-rpath,${dir}`]);
  expect(traced.has('munlockall')).toBe(true);
  expect([...traced].filter((s) => !res.syscalls.has(nr(s)))).toEqual([]);
  expect(res.syscalls.has(nr('getppid'))).toBe(true);
  expect(res.syscalls.has(nr('munlockall'))).toBe(true);
  expect(res.syscalls.has(nr('sync'))).toBe(false);
  expect(res.syscalls.has(nr('syncfs'))).toBe(false);
}, 60_000);

// Position-dependent code takes an imported function's address as its PLT stub (the
// canonical address), in code (`mov $sync@plt`) or in a data initialiser.
test('a non-PIE program calling imported functions through pointers to their PLT stubs reaches them', async () => {
  const { res, traced } = await analyze('nopie-plt', String.raw`
#include <unistd.h>
void (*volatile from_data)(void) = sync;
pid_t (*volatile from_code)(void);
int main(void) { from_code = getppid; from_data(); from_code(); return 0; }
`, ['-O2', '-no-pie', '-fno-pic']);
  expect(traced.has('sync')).toBe(true);
  expect(traced.has('getppid')).toBe(true);
  expect([...traced].filter((s) => !res.syscalls.has(nr(s)))).toEqual([]);
  // The whole-program figure bounds the refined one, even where the legacy address-taken
  // list misses a pointer (the stubs are no function of the program's own).
  expect([...res.syscalls].filter((n) => !res.wholeProgramAT.has(n))).toEqual([]);
}, 60_000);

// A plugin opened by a directory known only at run time, under a constant file name
// (libjli's "<java.home>/lib/server/" + "libjvm.so"): found in the root by that name.
test('a plugin whose directory is built at run time is found by its constant file name', async () => {
  const root = path.join(dir, 'root');
  const libdir = path.join(root, 'usr/lib/x86_64-linux-gnu');
  fs.mkdirSync(libdir, { recursive: true });
  fs.mkdirSync(path.join(root, 'lib64'), { recursive: true });
  fs.mkdirSync(path.join(root, 'opt/app/plugins'), { recursive: true });
  fs.mkdirSync(path.join(root, 'app'), { recursive: true });
  fs.copyFileSync('/usr/lib/x86_64-linux-gnu/libc.so.6', path.join(libdir, 'libc.so.6'));
  fs.copyFileSync('/lib64/ld-linux-x86-64.so.2', path.join(root, 'lib64/ld-linux-x86-64.so.2'));
  compile(dir, 'plug.c', String.raw`
#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
__attribute__((constructor)) static void init(void) { syscall(SYS_munlockall); }
`, 'opt/app/plugins/libplug.so'.replace(/\//g, '_'), ['-O2', '-shared', '-fPIC']);
  fs.renameSync(path.join(dir, 'opt_app_plugins_libplug.so'), path.join(root, 'opt/app/plugins/libplug.so'));
  compile(dir, 'host.c', String.raw`
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
static const char PLUGIN[] = "libplug.so";
int main(int argc, char **argv) {
  char path[512];
  snprintf(path, sizeof path, "%s/plugins/%s", argc > 1 ? argv[1] : "/opt/app", PLUGIN);
  return dlopen(path, RTLD_NOW) ? 0 : 1;
}
`, 'host', ['-O2']);
  fs.renameSync(path.join(dir, 'host'), path.join(root, 'app/host'));
  const a = await analyzeBinary(root, '/app/host', source);
  expect(a.resolution?.syscalls.has(nr('munlockall'))).toBe(true);
}, 60_000);

// .tbss has an address range but no place in memory: in a static program the sections
// after it overlap that range, and must not be taken for malformed (busybox's applet
// table sits in .data.rel.ro just after its .tbss).
test('a static program whose .tbss range overlaps its data keeps the data tables', async () => {
  const { res, traced } = await analyze('tbss-overlap', String.raw`
#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
__thread char small[48];
static void fa(void) { syscall(SYS_getppid); }
static void fb(void) { syscall(SYS_munlockall); }
__attribute__((section(".data.rel.ro"))) void (*volatile table[2])(void) = { fa, fb };
int main(int argc, char **argv) { (void)argv; small[argc] = 1; table[argc & 1](); table[(argc + 1) & 1](); return small[1] - 1; }
`, ['-O2', '-static', '-no-pie']);
  expect(traced.has('munlockall')).toBe(true);
  expect([...traced].filter((s) => !res.syscalls.has(nr(s)))).toEqual([]);
}, 60_000);
