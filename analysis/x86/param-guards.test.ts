import * as fs from 'fs';
import { scanFile } from '../scan/scan-file';
import type { ObjectSummary } from '../../schemas/types';
import { compile, tempDir } from './test-fixtures';

// One shape per function; noipa keeps gcc from specialising callees for their callers'
// constants (the callers must pass them at run time for gv/ia to mean anything).
const C = String.raw`
#include <unistd.h>
#define NOIPA __attribute__((noipa))
static inline __attribute__((always_inline)) long sys0(long n) { long r; __asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory"); return r; }
NOIPA void f(void) { sys0(39); }
NOIPA void g1(void) { sys0(102); }
NOIPA void g2(void) { sys0(104); }
NOIPA void a0(void) { sys0(0); }
NOIPA void a1(void) { sys0(1); }
NOIPA void a2(void) { sys0(2); }
NOIPA void a3(void) { sys0(3); }
NOIPA void a4(void) { sys0(4); }
NOIPA void a5(void) { sys0(5); }

/* the syscall runs only when flags & 4 */
NOIPA void guarded_sys(int flags) { if (flags & 4) sys0(39); }
/* f is also called unconditionally */
NOIPA void also_unguarded(int flags) { if (flags & 4) f(); f(); }
/* g1 after the paths join: reached with and without the condition */
NOIPA void merged(int flags, int *p) { if (flags & 4) g2(); p[0] = 1; p[1] = 2; p[2] = 3; g1(); p[3] = 4; }
/* the tested value is no longer the entry value */
NOIPA void modified(int flags, int x) { flags ^= x; if (flags & 4) g1(); }
/* a 64-bit mask with the upper half set: the low 32 bits alone say nothing of "!= 0" */
NOIPA void upper(unsigned long x) { (void)x; __asm__ goto("and $-16, %%rdi\n\tje %l0" : : : "rdi", "cc" : skip); sys0(40); skip:; }
/* compares with a constant: equal, unequal, a negative constant, and a 64-bit unequal */
NOIPA void kind_eq(int kind) { if (kind == 3) g1(); }
NOIPA void kind_ne(int kind) { if (kind != 3) g2(); }
NOIPA void fd_eq_neg(int fd) { if (fd == -1) g1(); }
NOIPA void long_ne(long x) { if (x != 3) g2(); }
/* a call guarded by the entry value */
NOIPA void guarded_call(int flags) { if (flags & 4) g1(); }
/* -O0: flags spilled to the frame and reloaded */
__attribute__((noipa, optimize("O0"))) void spilled(int flags) { int t = flags; if (t & 4) g1(); }
struct S { int pad[4]; int kind; };
NOIPA void field(struct S *p) { if (p->kind & 0x17c) g2(); }
/* a store through memory before the load: the word read may not be the caller's */
NOIPA void field_after_store(struct S *p, int *q) { *q = 1; if (p->kind & 0x7c) g2(); }
/* a jump table: case 1 is entered from the table, and by a jump under the test */
NOIPA void table(int k, int flags) {
  if (k == 100 && (flags & 4)) goto one;
  switch (k) {
  case 0: a0(); break;
  case 1: one: a1(); break;
  case 2: a2(); break; case 3: a3(); break; case 4: a4(); break; case 5: a5(); break; case 6: a4(); break;
  }
}
/* callers of guarded_call: constants, a run-time value, pass-through */
NOIPA void pass_const(void) { guarded_call(4); guarded_call(8); }
NOIPA void pass_runtime(int *p) { guarded_call(*p); }
NOIPA void pass_through(int flags) { guarded_call(flags); }
/* a pointer handed on to a callee that tests a word through it (glibc's unlock tail-jumps so) */
NOIPA void field_through(struct S *p) { field(p); }
/* a call two branches share: the jump to it brings %edi = 1, the fall-through %edi = 2 */
__asm__(".text\n.globl shared_call\n.type shared_call,@function\nshared_call:\n"
        "  mov $1, %edi\n  test %esi, %esi\n  jne 1f\n  mov $2, %edi\n1: call guarded_call\n  ret\n.size shared_call, .-shared_call\n");
/* loop counts %rcx down: after it, %ecx is no longer the fourth argument */
__asm__(".text\n.globl loop_clobbers\n.type loop_clobbers,@function\nloop_clobbers:\n"
        "  xor %eax, %eax\n1: loop 1b\n  test %ecx, %ecx\n  jne 2f\n  call g1\n2: ret\n.size loop_clobbers, .-loop_clobbers\n");
/* imports with constant arguments, and with a run-time one */
NOIPA void imp_const(void) { write(1, "ab", 2); }
NOIPA void imp_runtime(int fd) { write(fd, "ab", 2); }
NOIPA void imp_mixed(int fd) { write(1, "a", 1); write(fd, "b", 1); }
/* a jump table: case 1 enters between case 0's constant and the call */
NOIPA void imp_table(int k, int fd) {
  int n = 1;
  switch (k) { case 0: n = 7; /* fall through */ case 1: write(n, "x", 1); break; case 2: write(2, "y", 2); break; case 3: write(3, "z", 3); break; case 4: write(4, "w", 4); break; case 5: write(5, "v", 5); break; }
  (void)fd;
}

#ifdef MODELLED
/* Exporting a name a library value model reads a word through makes words read through
   arguments guards in this object (summary/field-model-exports.ts); never called. */
int pthread_mutex_lock(void *m) { return m == 0; }
#endif

int main(int argc, char **argv) {
  struct S s = { { 0 }, argc };
  int v = argc;
  guarded_sys(argc); also_unguarded(argc); modified(argc, argc); spilled(argc);
  field(&s); field_after_store(&s, &v); table(argc, argc);
  pass_const(); pass_runtime(&v); pass_through(argc); field_through(&s);
  upper(argc); imp_table(argc, argc);
  kind_eq(argc); kind_ne(argc); fd_eq_neg(argc); long_ne(argc);
  imp_const(); imp_runtime(argc); imp_mixed(argc); merged(argc, &s.pad[0]);
  return 0;
}
`;

type Fn = ObjectSummary['functions'][number];
let sum: ObjectSummary;
/** The same code without the modelled export: no field guards. */
let unmodelled: ObjectSummary;
const fnNamed = (n: string): Fn => {
  const f = sum.functions.find((x) => x.n === n);
  if (!f) throw new Error(`no function ${n}`);
  return f;
};
const idx = (n: string): number => sum.functions.findIndex((x) => x.n === n);
const imp = (n: string): number => sum.imports.findIndex((k) => k === n || k.startsWith(`${n}@`));

beforeAll(() => {
  const dir = tempDir('confine-guards-');
  const flags = ['-O2', '-fno-inline', '-fcf-protection=none'];
  const bin = compile(dir, 'guards.c', C, 'guards', [...flags, '-DMODELLED', '-Wl,--export-dynamic-symbol=pthread_mutex_lock']);
  sum = scanFile(new Uint8Array(fs.readFileSync(bin)), 'fixture', bin).analysis!;
  const plain = compile(dir, 'guards.c', C, 'guards-plain', flags);
  unmodelled = scanFile(new Uint8Array(fs.readFileSync(plain)), 'fixture', plain).analysis!;
});

describe('guards (g)', () => {
  test('a syscall reached only when flags & 4 is guarded by {rdi, and-nz 4}', () => {
    const f = fnNamed('guarded_sys');
    expect(f.s).toHaveLength(1);
    expect(f.g).toEqual([{ v: { p: 'rdi' }, c: { op: 'and-nz', k: 4 }, s: [f.s![0].at] }]);
  });

  test('a call guarded by the entry value is listed under the guard', () => {
    expect(fnNamed('guarded_call').g).toEqual([{ v: { p: 'rdi' }, c: { op: 'and-nz', k: 4 }, e: [idx('g1')] }]);
  });

  test('a callee also reached unconditionally is not guarded', () => {
    const f = fnNamed('also_unguarded');
    expect(f.e).toContain(idx('f'));
    expect(f.g ?? []).toEqual([]);
  });

  test('a callee after the paths join is not guarded; the one before is', () => {
    expect(fnNamed('merged').g).toEqual([{ v: { p: 'rdi' }, c: { op: 'and-nz', k: 4 }, e: [idx('g2')] }]);
  });

  test('a 64-bit and with the upper half of the mask set: no and-nz on the low 32 bits', () => {
    const f = fnNamed('upper');
    expect(f.s).toHaveLength(1);
    expect((f.g ?? []).filter((x) => x.c.op === 'and-nz')).toEqual([]);
  });

  test('a 32-bit compare with a constant guards by eq on the equal edge and by ne on the other', () => {
    expect(fnNamed('kind_eq').g).toEqual([{ v: { p: 'rdi' }, c: { op: 'eq', k: 3 }, e: [idx('g1')] }]);
    expect(fnNamed('kind_ne').g).toEqual([{ v: { p: 'rdi' }, c: { op: 'ne', k: 3 }, e: [idx('g2')] }]);
    expect(fnNamed('fd_eq_neg').g).toEqual([{ v: { p: 'rdi' }, c: { op: 'eq', k: 0xffffffff }, e: [idx('g1')] }]);
  });

  test('a 64-bit unequal says nothing of the low 32 bits (the upper halves may differ): no ne guard', () => {
    expect(fnNamed('long_ne').e).toContain(idx('g2'));
    expect(fnNamed('long_ne').g ?? []).toEqual([]);
  });

  test('a value changed before the test guards nothing', () => {
    expect(fnNamed('modified').g ?? []).toEqual([]);
  });

  test('-O0: the argument spilled to the frame and reloaded still guards', () => {
    expect(fnNamed('spilled').g).toEqual([{ v: { p: 'rdi' }, c: { op: 'and-nz', k: 4 }, e: [idx('g1')] }]);
  });

  test('a field read through an argument: {rdi, off 16, w}', () => {
    // gcc tests the word in memory (testw/testl): w is the width tested.
    const g = fnNamed('field').g;
    expect(g).toEqual([{ v: { p: 'rdi', off: 16, w: expect.any(Number) }, c: { op: 'and-nz', k: 0x17c }, e: [idx('g2')] }]);
    expect(g![0].v.w).toBeGreaterThanOrEqual(2);
  });

  test('an object no library value model applies to gets no field guards (nothing could give the word a value); register guards stay', () => {
    expect(sum.exports.some((e) => e.name.startsWith('pthread_mutex_lock'))).toBe(true);
    const named = (n: string) => unmodelled.functions.find((x) => x.n === n)!;
    expect(named('field').g ?? []).toEqual([]);
    expect(named('guarded_call').g).toHaveLength(1);
  });

  test('a store through memory before the load: no field guard', () => {
    const f = fnNamed('field_after_store');
    expect(f.e).toContain(idx('g2'));
    expect(f.g ?? []).toEqual([]);
  });

  test('a branch that writes a register (loop): the entry value is gone after it', () => {
    const f = fnNamed('loop_clobbers');
    expect(f.e).toContain(idx('g1'));
    expect(f.g ?? []).toEqual([]);
  });

  test('a jump table: no guard', () => {
    const f = fnNamed('table');
    expect(f.ij).toBe(true);
    expect(f.e).toContain(idx('a1'));
    expect(f.g ?? []).toEqual([]);
  });
});

describe('values at calls (gv, ia)', () => {
  const gvFor = (caller: string) => (fnNamed(caller).gv ?? []).filter((x) => x.f === idx('guarded_call'));

  test('constants passed to a guarded callee', () => {
    expect(gvFor('pass_const')).toEqual([{ f: idx('guarded_call'), p: 'rdi', v: [4, 8] }]);
  });

  test('a call that is a jump target: the value the fall-through sets is not all it gets', () => {
    expect(gvFor('shared_call').filter((x) => !(x.v?.includes(1) && x.v?.includes(2)))).toEqual([]);
  });

  test('a run-time value: no entry', () => {
    expect(gvFor('pass_runtime')).toEqual([]);
  });

  test('the caller own entry value passed through: from', () => {
    expect(gvFor('pass_through')).toEqual([{ f: idx('guarded_call'), p: 'rdi', from: 'rdi' }]);
  });

  test('a pointer handed on to a callee guarded on a word read through it: from', () => {
    // The link gives that word values only from a library model, whose fact is about every such object.
    expect((fnNamed('field_through').gv ?? []).filter((x) => x.f === idx('field'))).toEqual([{ f: idx('field'), p: 'rdi', from: 'rdi' }]);
  });

  test('constant arguments at import calls', () => {
    const w = imp('write');
    expect(w).toBeGreaterThanOrEqual(0);
    const ia = (fnNamed('imp_const').ia ?? []).filter((x) => x.i === w);
    expect(ia).toEqual(expect.arrayContaining([{ i: w, p: 'rdi', v: [1] }, { i: w, p: 'rdx', v: [2] }]));
    const rt = (fnNamed('imp_runtime').ia ?? []).filter((x) => x.i === w);
    expect(rt.find((x) => x.p === 'rdi')).toBeUndefined();
    expect(rt).toEqual(expect.arrayContaining([{ i: w, p: 'rdx', v: [2] }]));
    // One call with a constant, one with a run-time value: unknown for that register.
    const mixed = (fnNamed('imp_mixed').ia ?? []).filter((x) => x.i === w);
    expect(mixed.find((x) => x.p === 'rdi')).toBeUndefined();
    expect(mixed).toEqual(expect.arrayContaining([{ i: w, p: 'rdx', v: [1] }]));
    // Calls after a jump table: nothing recorded (any instruction may be a way in).
    expect((fnNamed('imp_table').ia ?? []).filter((x) => x.i === w && x.p === 'rdi')).toEqual([]);
  });
});

// The host's glibc (Debian 12, 2.36): pthread_mutex_lock sends PI/PP/robust kinds to
// __pthread_mutex_lock_full only when mutex->__kind & 0x7c; glob looks up home
// directories (getlogin_r, getpwnam_r) only under GLOB_TILDE|GLOB_TILDE_CHECK.
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
(fs.existsSync(LIBC) ? describe : describe.skip)('host libc', () => {
  let libc: ObjectSummary;
  beforeAll(() => {
    libc = scanFile(new Uint8Array(fs.readFileSync(LIBC)), 'libc', LIBC).analysis!;
  }, 120_000);
  const named = (n: string) => libc.functions.find((x) => x.n === n);

  test('pthread_mutex_lock: the kind field guards the full lock', () => {
    const f = named('pthread_mutex_lock') ?? named('__pthread_mutex_lock');
    expect(f).toBeDefined();
    const g = (f!.g ?? []).find((x) => x.c.op === 'and-nz' && x.c.k === 0x7c);
    expect(g?.v).toEqual({ p: 'rdi', off: 16, w: 4 });
    // The target is an internal function (no dynamic symbol): the tail jump's only target under the guard.
    expect(g?.e).toHaveLength(1);
    expect(libc.functions[g!.e![0]].n).toBeUndefined();
  });

  test('glob: getlogin_r and getpwnam_r only under GLOB_TILDE|GLOB_TILDE_CHECK', () => {
    const f = named('glob64') ?? named('glob');
    const gl = libc.functions.findIndex((x) => x.n === 'getlogin_r');
    const pw = libc.functions.findIndex((x) => x.n === 'getpwnam_r');
    expect(f!.e).toEqual(expect.arrayContaining([gl, pw]));
    const g = (f!.g ?? []).find((x) => x.e?.includes(gl));
    expect(g).toEqual(expect.objectContaining({ v: { p: 'rsi' }, c: { op: 'and-nz', k: 0x5000 } }));
    expect(g!.e).toContain(pw);
  });
});
