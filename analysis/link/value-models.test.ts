import { nameHash } from '../summary/name-hashes';
import type { ObjectSummary } from '../summary/object-summary';
import { syscallNumber } from '../syscalls/table';
import { resolveProgram, resolveWithLayerFigure, type ProgramObject } from './link';
import { VALUE_MODELS } from './value-models';
import { FIELD_MODEL_EXPORTS } from '../summary/field-model-exports';

/*
 * glibc's mutex-kind model (value-models.ts) on a hand-made libc shaped like Debian 12's
 * 2.36: pthread_mutex_lock tests [rdi+16] & 0x7c and only then goes to the "full" lock
 * (PI/PP/robust), which makes sched_setscheduler; pthread_mutex_unlock tail-jumps to an
 * internal unlock that tests the same word and only then goes to the full unlock.
 */

const SCHED = syscallNumber('sched_setscheduler')!;
const SCHED_GETPARAM = syscallNumber('sched_getparam')!;
const FUTEX = syscallNumber('futex')!;
const base = (): ObjectSummary => ({ functions: [], imports: [], exports: [], inits: [], addressTaken: [], importsAddressTaken: [], paramWrappers: [], importArgs: [], unresolved: [], stats: { instructions: 0, syscallSites: 0, unknownTargets: 0 } });
const kindGuard = (callee: number) => [{ v: { p: 'rdi' as const, off: 16, w: 4 as const }, c: { op: 'and-nz' as const, k: 0x7c }, e: [callee] }];

// libc functions: 0 lock, 1 lock_full, 2 setprotocol, 3 gnu_get_libc_version, 4 unlock, 5 unlock_usercnt, 6 unlock_full, 7 cond_wait.
function libc(opts: { path?: string; newest?: string; unlockFrom?: boolean } = {}): ProgramObject {
  const v = opts.newest ?? 'GLIBC_2.36';
  return {
    path: opts.path ?? '/lib/x86_64-linux-gnu/libc.so.6',
    summary: {
      ...base(),
      functions: [
        { a: 0x8c370, n: 'pthread_mutex_lock', e: [1], s: [{ at: 0x8c3b8, nr: [FUTEX] }], g: kindGuard(1) },
        { a: 0x8bc70, s: [{ at: 0x8bd00, nr: [SCHED] }] },
        { a: 0x8dec0, n: 'pthread_mutexattr_setprotocol' },
        { a: 0x10000, n: 'gnu_get_libc_version' },
        { a: 0x8dd50, n: 'pthread_mutex_unlock', e: [5], ...(opts.unlockFrom !== false ? { gv: [{ f: 5, p: 'rdi', from: 'rdi' }] } : {}) },
        { a: 0x8dc50, e: [6], g: kindGuard(6) },
        { a: 0x8dcb0, s: [{ at: 0x8dd00, nr: [SCHED_GETPARAM] }] },
        { a: 0x90000, n: 'pthread_cond_wait', e: [5], gv: [{ f: 5, p: 'rdi', from: 'rsi' }] },
      ],
      exports: [
        { name: 'pthread_mutex_lock@@GLIBC_2.2.5', fn: 0 },
        { name: '__pthread_mutex_lock@GLIBC_2.2.5', fn: 0 },
        { name: 'pthread_mutexattr_setprotocol@@GLIBC_2.34', fn: 2 },
        { name: 'pthread_mutexattr_setprotocol@GLIBC_2.4', fn: 2 },
        { name: `gnu_get_libc_version@@${v}`, fn: 3 },
        { name: 'pthread_mutex_unlock@@GLIBC_2.2.5', fn: 4 },
        { name: 'pthread_cond_wait@@GLIBC_2.3.2', fn: 7 },
      ],
    },
  };
}

/** A program calling the given libc imports from main. */
function program(imports: string[], mainExtra: Partial<ObjectSummary['functions'][number]> = {}): ProgramObject {
  return { path: '/bin/p', summary: { ...base(), entry: 0, functions: [{ a: 0x10, n: 'main', i: imports.map((_, k) => k), ...mainExtra }], imports } };
}
const has = (p: ProgramObject, l: ProgramObject, nr: number) => resolveProgram({ executable: p, libraries: [l] }).syscalls.has(nr);

test('the full lock is not reached while no enabler is', () => {
  const r = resolveWithLayerFigure({ executable: program(['pthread_mutex_lock@GLIBC_2.2.5']), libraries: [libc()] });
  expect(r.syscalls.has(FUTEX)).toBe(true);
  expect(r.syscalls.has(SCHED)).toBe(false);
  expect(r.withoutValueLayer.has(SCHED)).toBe(true);
});

test('pthread_mutexattr_setprotocol reached: the kind is unknown and explain says why', () => {
  const r = resolveProgram({ executable: program(['pthread_mutex_lock@GLIBC_2.2.5', 'pthread_mutexattr_setprotocol@GLIBC_2.4']), libraries: [libc()] });
  expect(r.syscalls.has(SCHED)).toBe(true);
  const step = r.provenance.get(SCHED)!.steps.find((s) => s.function === '0x8bc70')!;
  expect(step.kept).toMatch(/libc\.so\.6:pthread_mutex_lock: \[rdi\+16\] & 0x7c != 0 may hold: the mutex kind is unknown because libc\.so\.6:pthread_mutexattr_setprotocol is reached/);
});

test('an enabler found only by dlsym counts', () => {
  const dl: ProgramObject = { path: '/lib/libdl.so', summary: { ...base(), functions: [{ a: 0x10, n: 'dlsym' }], exports: [{ name: 'dlsym', fn: 0 }] } };
  const p = program(['pthread_mutex_lock@GLIBC_2.2.5', 'dlsym'], { h: [nameHash('pthread_mutexattr_setprotocol')] });
  expect(resolveProgram({ executable: p, libraries: [libc(), dl] }).syscalls.has(SCHED)).toBe(true);
});

test('an interposed enabler (another object defines it) counts', () => {
  const pre: ProgramObject = { path: '/lib/libpre.so', summary: { ...base(), functions: [{ a: 0x10, n: 'pthread_mutexattr_setrobust' }], exports: [{ name: 'pthread_mutexattr_setrobust', fn: 0 }] } };
  const p = program(['pthread_mutex_lock@GLIBC_2.2.5', 'pthread_mutexattr_setrobust']);
  expect(resolveProgram({ executable: p, libraries: [pre, libc()] }).syscalls.has(SCHED)).toBe(true);
});

test('the model holds only for the glibc it was checked against', () => {
  const lock = program(['pthread_mutex_lock@GLIBC_2.2.5']);
  expect(has(lock, libc({ newest: 'GLIBC_2.38' }), SCHED)).toBe(true);
  // A libc without the attribute setters (glibc before 2.34 keeps them in libpthread).
  const old = libc();
  old.summary.exports = old.summary.exports.filter((e) => !e.name.startsWith('pthread_mutexattr_setprotocol'));
  expect(has(lock, old, SCHED)).toBe(true);
  expect(has(lock, libc({ path: '/lib/libc.musl-x86_64.so.1' }), SCHED)).toBe(true);
});

test('the word passed on unchanged (gv from) keeps the fact: the internal unlock', () => {
  const unlock = program(['pthread_mutex_unlock@GLIBC_2.2.5']);
  expect(has(unlock, libc(), SCHED_GETPARAM)).toBe(false);
  // Without the pass-through fact, the internal function's word is unknown.
  expect(has(unlock, libc({ unlockFrom: false }), SCHED_GETPARAM)).toBe(true);
  // Another caller passing a pointer the model knows nothing about (cond_wait's rsi).
  expect(has(program(['pthread_mutex_unlock@GLIBC_2.2.5', 'pthread_cond_wait@GLIBC_2.3.2']), libc(), SCHED_GETPARAM)).toBe(true);
});

test('a test of bits the model does not know (pshared, 0x80) is followed', () => {
  const l = libc();
  l.summary.functions[0].g = [{ v: { p: 'rdi', off: 16, w: 4 }, c: { op: 'and-nz', k: 0x80 }, e: [1] }];
  const r = resolveProgram({ executable: program(['pthread_mutex_lock@GLIBC_2.2.5']), libraries: [l] });
  expect(r.syscalls.has(SCHED)).toBe(true);
  expect(r.provenance.get(SCHED)!.steps.at(-1)!.kept).toMatch(/the mutex kind \(libc\.so\.6:pthread_mutex_lock's rdi\+16:4\) has only bits 0x7c known clear/);
});

test('with the layer off the model is not used', () => {
  const r = resolveProgram({ executable: program(['pthread_mutex_lock@GLIBC_2.2.5']), libraries: [libc()], valueLayer: false });
  expect(r.syscalls.has(SCHED)).toBe(true);
});

test('every export a value model reads a word through gets field guards in the scan (summary/field-model-exports.ts)', () => {
  const listed = [...FIELD_MODEL_EXPORTS];
  for (const m of VALUE_MODELS) expect(m.exports.filter((e) => !listed.includes(e))).toEqual([]);
});

/*
 * glibc's RPC cleanup (library-models.ts svcCleanupGate): the thread-exit cleanup calls
 * svc_unregister, which makes a UDP RPC client's syscalls; only svc_register puts work on
 * its list.
 */
const SOCKET = syscallNumber('socket')!;
function rpcLibc(opts: { path?: string; secondCaller?: boolean } = {}): ProgramObject {
  const l = libc({ path: opts.path });
  const fs = l.summary.functions;
  const cleanup = fs.length; // called at thread exit: from start_thread, an export here for the fixture
  fs.push(
    { a: 0x145a00, n: 'start_thread', e: [cleanup + 1] },
    { a: 0x1459e0, e: [cleanup + 2] },
    { a: 0x1450d0, n: 'svc_unregister', s: [{ at: 0x1450f0, nr: [SOCKET] }] },
    { a: 0x144fd0, n: 'svc_register' },
    { a: 0x146000, n: 'other_rpc', ...(opts.secondCaller ? { e: [cleanup + 2] } : {}) },
  );
  l.summary.exports.push(
    { name: 'start_thread', fn: cleanup },
    { name: 'svc_unregister@@GLIBC_2.2.5', fn: cleanup + 2 },
    { name: 'svc_register@@GLIBC_2.2.5', fn: cleanup + 3 },
    { name: 'other_rpc', fn: cleanup + 4 },
  );
  return l;
}

test('thread exit reaches the RPC cleanup, whose svc_unregister waits for svc_register', () => {
  const threads = program(['start_thread']);
  const r = resolveWithLayerFigure({ executable: threads, libraries: [rpcLibc()] });
  expect(r.syscalls.has(SOCKET)).toBe(false);
  expect(r.withoutValueLayer.has(SOCKET)).toBe(true);
  expect(resolveProgram({ executable: threads, libraries: [rpcLibc()] }).withoutIndirectRule.has(SOCKET)).toBe(false);
  // svc_register reached: the list may hold callouts.
  expect(has(program(['start_thread', 'svc_register@GLIBC_2.2.5']), rpcLibc(), SOCKET)).toBe(true);
  // The program's own svc_unregister call never waits.
  expect(has(program(['svc_unregister@GLIBC_2.2.5']), rpcLibc(), SOCKET)).toBe(true);
});

test('the RPC cleanup model: only a checked glibc where one function calls svc_unregister', () => {
  const threads = program(['start_thread', 'other_rpc']);
  expect(has(threads, rpcLibc({ secondCaller: true }), SOCKET)).toBe(true);
  expect(has(threads, rpcLibc({ path: '/lib/libc.musl-x86_64.so.1' }), SOCKET)).toBe(true);
});
