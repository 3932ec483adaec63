import { consts, join, NONE, satisfiable, unknown, type AbsValue } from './value-domain';
import { GLIBC_MUTEX_KIND, zerosFor } from './value-models';

const zeros = (z: number): AbsValue => ({ kind: 'zeros', z, why: 'model' });
const reg = { p: 'rdi' as const };
const word = { p: 'rdi' as const, off: 16, w: 4 as const };

test('known-zero bits decide and-nz and eq only on those bits', () => {
  expect(satisfiable({ op: 'and-nz', k: 0x7c }, word, zeros(0x7c))).toBe(false);
  expect(satisfiable({ op: 'and-nz', k: 0x10 }, word, zeros(0x7c))).toBe(false);
  // The pshared bit (0x80) is not known: a test of it can hold.
  expect(satisfiable({ op: 'and-nz', k: 0xfc }, word, zeros(0x7c))).toBe(true);
  expect(satisfiable({ op: 'eq', k: 0x40 }, word, zeros(0x7c))).toBe(false);
  expect(satisfiable({ op: 'eq', k: 3 }, word, zeros(0x7c))).toBe(true);
  expect(satisfiable({ op: 'and-z', k: 0x7c }, word, zeros(0x7c))).toBe(true);
  expect(satisfiable({ op: 'ne', k: 0 }, word, zeros(0x7c))).toBe(true);
});

test('unknown and none satisfy everything', () => {
  for (const op of ['and-nz', 'and-z', 'eq', 'ne'] as const) {
    expect(satisfiable({ op, k: 5 }, reg, unknown('x'))).toBe(true);
    expect(satisfiable({ op, k: 5 }, reg, NONE)).toBe(true);
  }
});

test('64-bit masks: a bit above 32 is tested exactly', () => {
  expect(satisfiable({ op: 'and-nz', k: 2 ** 40 }, reg, consts([2 ** 40 + 1], 'a'))).toBe(true);
  expect(satisfiable({ op: 'and-nz', k: 2 ** 40 }, reg, consts([2 ** 32], 'a'))).toBe(false);
  expect(satisfiable({ op: 'and-z', k: 0xffffffff }, reg, consts([2 ** 33], 'a'))).toBe(true);
});

test('joins go up: constants clear known-zero bits they set; nine constants are unknown', () => {
  expect(join(zeros(0x7c), consts([0x10], 'a'))).toMatchObject({ kind: 'zeros', z: 0x6c });
  expect(join(consts([1, 2, 3, 4], 'a'), consts([5, 6, 7, 8, 9], 'b')).kind).toBe('unknown');
  expect(join(zeros(0x7c), zeros(0x0c))).toMatchObject({ z: 0x0c });
});

test("a read inside the model's word sees its slice", () => {
  expect(zerosFor(GLIBC_MUTEX_KIND, { p: 'rdi', off: 16, w: 4 })).toBe(0x7c);
  expect(zerosFor(GLIBC_MUTEX_KIND, { p: 'rdi', off: 16, w: 1 })).toBe(0x7c);
  expect(zerosFor(GLIBC_MUTEX_KIND, { p: 'rdi', off: 16, w: 8 })).toBe(0x7c);
  expect(zerosFor(GLIBC_MUTEX_KIND, { p: 'rdi', off: 17, w: 1 })).toBe(0);
  expect(zerosFor(GLIBC_MUTEX_KIND, { p: 'rdi', off: 12, w: 8 })).toBeUndefined();
  expect(zerosFor(GLIBC_MUTEX_KIND, { p: 'rsi', off: 16, w: 4 })).toBeUndefined();
  expect(zerosFor(GLIBC_MUTEX_KIND, { p: 'rdi' })).toBeUndefined();
});
