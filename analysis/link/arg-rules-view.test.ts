import { argRules, ArgWalkView } from './arg-rules';
import type { ObjectSummary } from '../summary/object-summary';
import type { ProgramObject } from './link';

// Two objects: a program calling libc's socket() (import 0) from main (function 0) and
// from helper (function 1); libc's socket (function 0) makes the syscall with the
// domain from its %rdi, an exported wrapper. Reach, entries and records are set per test.
const SOCKET = 41;
const base = (): ObjectSummary => ({ functions: [], imports: [], exports: [], inits: [], addressTaken: [], importsAddressTaken: [], paramWrappers: [], importArgs: [], unresolved: [], stats: { instructions: 0, syscallSites: 0, unknownTargets: 0 } });

function program(records: ObjectSummary['args']): ProgramObject {
  return { path: '/bin/p', summary: { ...base(), functions: [{ a: 0x100, n: 'main', i: [0] }, { a: 0x200, n: 'helper', i: [0] }], imports: ['socket@GLIBC_2.2.5'], args: records } };
}
const libc: ProgramObject = {
  path: '/lib/libc.so.6',
  summary: { ...base(), functions: [{ a: 0x1000, n: 'socket', s: [{ at: 0x1005, nr: [SOCKET] }] }], exports: [{ name: 'socket@@GLIBC_2.2.5', fn: 0 }], args: [{ nr: SOCKET, arg: 0, site: 0x1005, fn: 0, f: [], w: [{ fn: 0, loc: 'rdi' }], p: [0] }] },
};
const importRecord = (f: { fn: number; v: number[]; why?: string }[]) => [{ nr: SOCKET, arg: 0, import: 0, f }];

function view(objects: ProgramObject[], reached: Set<string>, other: Map<string, string> = new Map()): ArgWalkView {
  return {
    objects,
    reached: (o, f) => reached.has(`${o}:${f}`),
    enteredOtherwise: (o, f) => other.get(`${o}:${f}`),
    boundTo: (o, i) => (o === 0 && i === 0 ? [{ o: 1, f: 0 }] : []),
    chain: (o, f) => [{ object: objects[o].path, function: objects[o].summary.functions[f].n ?? '?' }],
  };
}
const all = new Set(['0:0', '0:1', '1:0']);

test("values come from the importer's calls, only from reached functions", () => {
  const objs = [program(importRecord([{ fn: 0, v: [2] }, { fn: 1, v: [10] }])), libc];
  expect(argRules(view(objs, all), new Set([SOCKET])).get(SOCKET)).toMatchObject({ values: [2, 10] });
  const r = argRules(view(objs, new Set(['0:0', '1:0'])), new Set([SOCKET])).get(SOCKET)!;
  expect(r.unconditional).toBeUndefined();
  expect(r.values).toEqual([2]);
  expect(r.origins.get(2)).toMatchObject({ object: '/bin/p', function: 'main' });
});

test('an importer without a record of its calls forces unconditional', () => {
  const r = argRules(view([program([]), libc], all), new Set([SOCKET])).get(SOCKET)!;
  expect(r.unconditional).toMatchObject({ object: '/bin/p', function: 'main' });
  expect(r.unconditional!.reason).toMatch(/calls socket@GLIBC_2.2.5/);
  // A summary without argument facts at all (a Go binary's) too.
  const go = program(undefined);
  expect(argRules(view([go, libc], all), new Set([SOCKET])).get(SOCKET)!.unconditional).toBeDefined();
});

test('a failure in a reached function forces unconditional; in an unreached one it does not', () => {
  const objs = [program(importRecord([{ fn: 0, v: [2] }, { fn: 1, v: [], why: 'rdi written by mov from memory' }])), libc];
  expect(argRules(view(objs, all), new Set([SOCKET])).get(SOCKET)!.unconditional).toMatchObject({ function: 'helper', reason: 'rdi written by mov from memory' });
  expect(argRules(view(objs, new Set(['0:0', '1:0'])), new Set([SOCKET])).get(SOCKET)!.unconditional).toBeUndefined();
});

test('a wrapper also entered by dlsym or through a pointer forces unconditional', () => {
  const objs = [program(importRecord([{ fn: 0, v: [2] }])), libc];
  const r = argRules(view(objs, all, new Map([['1:0', 'is found by dlsym']])), new Set([SOCKET])).get(SOCKET)!;
  expect(r.unconditional).toMatchObject({ object: '/lib/libc.so.6', function: 'socket' });
  expect(r.unconditional!.reason).toMatch(/is found by dlsym/);
});

test('syscall(SYS_socket, …) through a number wrapper forces unconditional', () => {
  const p = program(importRecord([{ fn: 0, v: [2] }]));
  p.summary.imports.push('syscall@GLIBC_2.2.5');
  p.summary.importArgs = [{ import: 1, loc: 'rdi', uses: [{ fn: 1, nr: [SOCKET] }] }];
  expect(argRules(view([p, libc], all), new Set([SOCKET])).get(SOCKET)!.unconditional?.reason).toMatch(/syscall@GLIBC_2.2.5\(socket/);
});

test('a site whose record belongs to another function (the number came from a caller) forces unconditional', () => {
  const lib: ProgramObject = { path: '/lib/x.so', summary: { ...base(), functions: [{ a: 0x10, n: 'w' }, { a: 0x40, n: 'caller', s: [{ at: 0x15, nr: [SOCKET] }] }], args: [{ nr: SOCKET, arg: 0, site: 0x15, fn: 0, f: [{ fn: 0, v: [1] }] }] } };
  const v = { ...view([lib], new Set(['0:0', '0:1'])), boundTo: () => [] };
  expect(argRules(v, new Set([SOCKET])).get(SOCKET)!.unconditional?.reason).toMatch(/no argument record/);
});
