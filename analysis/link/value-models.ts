import type { ProgramObject } from './types';
import { bareName } from '../elf';
import type { ValueLoc } from './value-domain';

/**
 * Library value models (issue 26): facts about a word a library's exported functions
 * read through a parameter, true of every object of the library's type that the
 * program can hold, until the program reaches one of the library's functions that can
 * make it false (an enabler). Keyed on the exported names of the object that defines
 * the function (never on addresses, which change per build), and only applied to an
 * object identified as the library the model was checked against.
 *
 * Such a fact is an invariant of the pointed-to object, not a value at one moment: it
 * holds whoever calls and whatever was stored before, so it also holds for the same
 * word read by a callee the pointer is passed on to unchanged (gv `from`).
 *
 * Limits (docs/limits.md, "Library value models"): a program that writes the word raw
 * instead of through the library's API, or shares the object with a process outside the
 * analysed program that set it up, defeats the model.
 */
export interface ValueModel {
  /** Names the model in explanations. */
  subject: string;
  /** Whether this object is the library (version) the model was checked against. */
  applies(ob: ProgramObject): boolean;
  /** The exports whose parameter `p` points to such an object (their aliases share the address). */
  exports: string[];
  p: 'rdi' | 'rsi' | 'rdx' | 'rcx' | 'r8' | 'r9';
  /** The word: off, w; and the bits (of its low 32) clear in every such object. */
  off: number;
  w: 4 | 8;
  zeros: number;
  /** Exports (of any loaded object: an interposer counts) whose being reached makes the word unknown. */
  enablers: string[];
}

/**
 * glibc's mutex kind (struct __pthread_mutex_s.__kind, offset 16 on x86-64, 4 bytes).
 * PTHREAD_MUTEX_LOCK (nptl/pthread_mutex_lock.c, 2.36) tests kind & 0x7c (`and $0x7c`
 * at libc.so.6 0x8c370 on Debian 12) and only then goes to __pthread_mutex_lock_full —
 * robust (0x10), priority-inheritance (0x20) and priority-protect (0x40) mutexes, whose
 * paths make the sched_* and futex-PI syscalls; 0x4 and 0x8 are no kind at all. A kind
 * gets those bits only in pthread_mutex_init, from an attribute whose protocol or
 * robustness was set by pthread_mutexattr_setprotocol / setrobust(_np):
 * pthread_mutexattr_settype (= setkind_np) rejects kinds above 3, mtx_init uses settype
 * with 0 or 1, the static initialisers are 0..3, and glibc's own locks (the loader's
 * recursive lock) are plain or recursive. setprioceiling and consistent only act on
 * mutexes that already are PP or robust; they are enablers anyway, so the model never
 * depends on that reasoning.
 */
export const GLIBC_MUTEX_KIND: ValueModel = {
  subject: 'the mutex kind',
  applies: isCheckedGlibc,
  exports: ['pthread_mutex_lock', 'pthread_mutex_trylock', 'pthread_mutex_timedlock', 'pthread_mutex_clocklock', 'pthread_mutex_unlock', '__pthread_mutex_lock', '__pthread_mutex_trylock', '__pthread_mutex_unlock'],
  p: 'rdi',
  off: 16,
  w: 4,
  zeros: 0x7c,
  enablers: ['pthread_mutexattr_setprotocol', 'pthread_mutexattr_setrobust', 'pthread_mutexattr_setrobust_np', 'pthread_mutexattr_setprioceiling', 'pthread_mutex_setprioceiling', 'pthread_mutex_consistent', 'pthread_mutex_consistent_np'],
};

export const VALUE_MODELS: readonly ValueModel[] = [GLIBC_MUTEX_KIND];

/**
 * glibc's libc.so.6 from 2.34 (where libpthread merged into libc: the mutex functions
 * and the attribute setters are in the one object) up to 2.36, the version the model
 * was checked against: it exports gnu_get_libc_version and pthread_mutexattr_setprotocol,
 * and its newest GLIBC_x.y version is within that range. A newer glibc gets no model
 * until it is checked (the lead widens MAX_CHECKED).
 */
const MIN_CHECKED = [2, 34];
const MAX_CHECKED = [2, 36];

export function isCheckedGlibc(ob: ProgramObject): boolean {
  const base = ob.path.slice(ob.path.lastIndexOf('/') + 1);
  if (base !== 'libc.so.6') return false;
  let newest: number[] | undefined;
  let hasVersion = false;
  let hasSetProtocol = false;
  for (const e of ob.summary.exports) {
    const bare = bareName(e.name);
    if (bare === 'gnu_get_libc_version') hasVersion = true;
    if (bare === 'pthread_mutexattr_setprotocol') hasSetProtocol = true;
    const m = /@@?GLIBC_(\d+)\.(\d+)/.exec(e.name);
    if (m) {
      const v = [Number(m[1]), Number(m[2])];
      if (!newest || cmp(v, newest) > 0) newest = v;
    }
  }
  return hasVersion && hasSetProtocol && newest !== undefined && cmp(newest, MIN_CHECKED) >= 0 && cmp(newest, MAX_CHECKED) <= 0;
}

const cmp = (a: number[], b: number[]) => (a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1]);

/**
 * The bits known clear in the word a guard reads, if it lies inside the model's word:
 * a narrower read at an offset within it sees the matching slice; a read of 8 bytes at
 * the word's start sees it as its low half.
 */
export function zerosFor(m: ValueModel, loc: ValueLoc): number | undefined {
  if (loc.off === undefined || loc.p !== m.p) return undefined;
  const w = loc.w ?? 8;
  if (loc.off === m.off && w >= m.w) return m.zeros;
  if (loc.off >= m.off && loc.off + w <= m.off + m.w) {
    const shifted = Math.floor(m.zeros / 2 ** (8 * (loc.off - m.off)));
    return (shifted % 2 ** (8 * w)) >>> 0;
  }
  return undefined;
}
