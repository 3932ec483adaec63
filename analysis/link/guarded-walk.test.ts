import { nameHash } from '../summary/name-hashes';
import type { ObjectSummary } from '../summary/object-summary';
import { syscallNumber } from '../syscalls/table';
import { resolveWithLayerFigure, type ProgramInput, type ProgramObject } from './link';

/*
 * The value layer (issue 26) on hand-made summaries: a function `work` reaches alarm
 * only when its flags (rdi) have 0x800 set (glob64 → getlogin_r's shape), and read
 * whatever the flags. Each test varies how work can be entered; every rule that keeps
 * the guarded edge has a test that fails if the rule is dropped.
 */

const nr = (n: string) => syscallNumber(n)!;
const READ = nr('read');
const ALARM = nr('alarm');
const SCHED = nr('sched_setscheduler');
const base = (): ObjectSummary => ({ functions: [], imports: [], exports: [], inits: [], addressTaken: [], importsAddressTaken: [], paramWrappers: [], importArgs: [], unresolved: [], stats: { instructions: 0, syscallSites: 0, unknownTargets: 0 } });
type Fn = ObjectSummary['functions'][number];

/** work: read always, alarm only if rdi & 0x800. */
const work = (extra: Partial<Fn> = {}): Fn => ({ a: 0x100, n: 'work', s: [{ at: 0x110, nr: [READ] }, { at: 0x120, nr: [ALARM] }], g: [{ v: { p: 'rdi' }, c: { op: 'and-nz', k: 0x800 }, s: [0x120] }], ...extra });

/** An executable: main (entry, function 0) and the given functions after it; main calls `calls`. */
function exe(mainExtra: Partial<Fn>, fns: Fn[], extra: Partial<ObjectSummary> = {}): ProgramObject {
  return { path: '/bin/p', summary: { ...base(), entry: 0, functions: [{ a: 0x10, n: 'main', ...mainExtra }, ...fns], ...extra } };
}
const run = (input: ProgramInput) => resolveWithLayerFigure(input);
const only = (o: ProgramObject, libraries: ProgramObject[] = []) => run({ executable: o, libraries });

describe('a local guarded syscall', () => {
  test('callers passing only values that falsify the guard: the syscall is absent', () => {
    const r = only(exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [0, 0x400] }] }, [work()]));
    expect(r.syscalls.has(READ)).toBe(true);
    expect(r.syscalls.has(ALARM)).toBe(false);
    // The layer's effect, and today's walk beside it.
    expect(r.withoutValueLayer.has(ALARM)).toBe(true);
    expect(r.withoutIndirectRule.has(ALARM)).toBe(false);
  });

  test('one more reached caller passing a satisfying constant: present, and explain says who passes it', () => {
    const r = only(exe({ e: [1, 2], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [work(), { a: 0x200, n: 'other', e: [1], gv: [{ f: 1, p: 'rdi', v: [0xc00] }] }]));
    expect(r.syscalls.has(ALARM)).toBe(true);
    expect(r.provenance.get(ALARM)!.kept).toMatch(/rdi & 0x800 != 0 may hold: rdi may be 0xc00, passed by p:other/);
  });

  test('a caller passing a satisfying constant but never reached does not count', () => {
    const r = only(exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [work(), { a: 0x200, n: 'unreached', e: [1], gv: [{ f: 1, p: 'rdi', v: [0x800] }] }]));
    expect(r.syscalls.has(ALARM)).toBe(false);
  });

  test('a reached caller without gv for the param: unknown, present', () => {
    const r = only(exe({ e: [1, 2], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [work(), { a: 0x200, n: 'other', e: [1] }]));
    expect(r.syscalls.has(ALARM)).toBe(true);
    expect(r.provenance.get(ALARM)!.kept).toMatch(/p:other calls it with rdi not known/);
    // gv for another param of the same callee says nothing about rdi.
    const r2 = only(exe({ e: [1, 2], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [work(), { a: 0x200, n: 'other', e: [1], gv: [{ f: 1, p: 'rsi', v: [0] }] }]));
    expect(r2.syscalls.has(ALARM)).toBe(true);
  });

  test('more than 8 constants widen to unknown', () => {
    const many = [1, 2, 3, 4, 5, 6, 7, 8];
    expect(only(exe({ e: [1, 2], gv: [{ f: 1, p: 'rdi', v: many }] }, [work(), { a: 0x200, n: 'other', e: [1], gv: [{ f: 1, p: 'rdi', v: [9] }] }])).syscalls.has(ALARM)).toBe(true);
    expect(only(exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: many }] }, [work()])).syscalls.has(ALARM)).toBe(false);
  });

  test('the function is the entry (a root): unknown, present', () => {
    expect(only(exe({}, [work()], { entry: 1 })).syscalls.has(ALARM)).toBe(true);
    expect(only(exe({}, [work()], { inits: [1] })).syscalls.has(ALARM)).toBe(true);
  });

  test('address-taken: present once INDIRECT is reached, not before', () => {
    const taken = (ic: boolean) => only(exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [0] }], t: [1], ...(ic ? { ic: true } : {}) }, [work()], { addressTaken: [1] }));
    expect(taken(true).syscalls.has(ALARM)).toBe(true);
    expect(taken(false).syscalls.has(ALARM)).toBe(false);
  });

  test('a guarded callee and a guarded import: followed only when the guard can hold', () => {
    const lib: ProgramObject = { path: '/lib/libx.so', summary: { ...base(), functions: [{ a: 0x1000, n: 'imp', s: [{ at: 0x1004, nr: [SCHED] }] }], exports: [{ name: 'imp', fn: 0 }] } };
    const w = (v: number) =>
      exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [v] }] }, [{ a: 0x100, n: 'work', e: [2], i: [0], g: [{ v: { p: 'rdi' }, c: { op: 'eq', k: 3 }, e: [2], i: [0] }] }, { a: 0x300, n: 'callee', s: [{ at: 0x304, nr: [ALARM] }] }], { imports: ['imp'] });
    const no = only(w(4), [lib]);
    expect(no.syscalls.has(ALARM) || no.syscalls.has(SCHED)).toBe(false);
    const yes = only(w(3), [lib]);
    expect(yes.syscalls.has(ALARM) && yes.syscalls.has(SCHED)).toBe(true);
    const step = yes.provenance.get(ALARM)!.steps.find((s) => s.function === 'callee')!;
    expect(step.kept).toMatch(/p:work: rdi == 0x3 may hold: rdi may be 0x3, passed by p:main/);
  });

  test('valueLayer: false gives the walk without the layer', () => {
    const input = { executable: exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [work()]), libraries: [] };
    const off = run({ ...input, valueLayer: false });
    expect(off.syscalls.has(ALARM)).toBe(true);
    expect([...off.syscalls].sort()).toEqual([...run(input).withoutValueLayer].sort());
    // Without any guard in the summaries the layer changes nothing.
    const noGuards = exe({ e: [1] }, [{ ...work(), g: undefined }]);
    expect([...only(noGuards).syscalls].sort()).toEqual([...run({ executable: noGuards, libraries: [], valueLayer: false }).syscalls].sort());
  });
});

describe('values through `from` chains', () => {
  // main → mid(rdi) → work(rdi from mid's rdi)
  const chain = (mainV: number[], midExtra: Partial<Fn> = {}) =>
    exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: mainV }] }, [{ a: 0x80, n: 'mid', e: [2], gv: [{ f: 2, p: 'rdi', from: 'rdi' }], ...midExtra }, work()]);

  test('the value flows from the caller of the caller', () => {
    expect(only(chain([0])).syscalls.has(ALARM)).toBe(false);
    const r = only(chain([0x800]));
    expect(r.syscalls.has(ALARM)).toBe(true);
    expect(r.provenance.get(ALARM)!.kept).toMatch(/passed by p:main/);
  });

  test('a chain reaching an unknown entry is unknown', () => {
    expect(only(chain([0]), []).syscalls.has(ALARM)).toBe(false);
    const rooted = exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [{ a: 0x80, n: 'mid', e: [2], gv: [{ f: 2, p: 'rdi', from: 'rdi' }] }, work()], { inits: [1] });
    expect(only(rooted).syscalls.has(ALARM)).toBe(true);
  });

  test('from and constants together: both count', () => {
    expect(only(chain([0], { gv: [{ f: 2, p: 'rdi', from: 'rdi', v: [0x800] }] })).syscalls.has(ALARM)).toBe(true);
    expect(only(chain([0], { gv: [{ f: 2, p: 'rdi', from: 'rdi', v: [1] }] })).syscalls.has(ALARM)).toBe(false);
  });

  test('a recursive pass-through reaches a fixpoint', () => {
    // mid calls itself passing its own rdi, and work.
    const rec = exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [{ a: 0x80, n: 'mid', e: [1, 2], gv: [{ f: 1, p: 'rdi', from: 'rdi' }, { f: 2, p: 'rdi', from: 'rdi' }] }, work()]);
    expect(only(rec).syscalls.has(ALARM)).toBe(false);
  });
});

describe('an exported guarded function', () => {
  const lib = (extra: Partial<ObjectSummary> = {}): ProgramObject => ({ path: '/lib/libw.so', summary: { ...base(), functions: [work()], exports: [{ name: 'work', fn: 0 }], ...extra } });
  const importer = (ia: Fn['ia'], mainExtra: Partial<Fn> = {}, extra: Partial<ObjectSummary> = {}) => exe({ i: [0], ...(ia ? { ia } : {}), ...mainExtra }, [], { imports: ['work'], ...extra });

  test('importers passing only falsifying constants: absent', () => {
    expect(only(importer([{ i: 0, p: 'rdi', v: [0] }]), [lib()]).syscalls.has(ALARM)).toBe(false);
  });

  test('an importer whose reached caller has no ia for the param: present', () => {
    expect(only(importer(undefined), [lib()]).syscalls.has(ALARM)).toBe(true);
    expect(only(importer([{ i: 0, p: 'rsi', v: [0] }]), [lib()]).syscalls.has(ALARM)).toBe(true);
  });

  test('an importer passing a satisfying constant: present', () => {
    expect(only(importer([{ i: 0, p: 'rdi', v: [0x800] }]), [lib()]).syscalls.has(ALARM)).toBe(true);
  });

  test('looked up by dlsym (its name in reached code): present', () => {
    const dl: ProgramObject = { path: '/lib/libdl.so', summary: { ...base(), functions: [{ a: 0x10, n: 'dlsym' }], exports: [{ name: 'dlsym', fn: 0 }] } };
    const p = importer([{ i: 0, p: 'rdi', v: [0] }], { i: [0, 1], h: [nameHash('work')] }, { imports: ['work', 'dlsym'] });
    expect(only(p, [lib(), dl]).syscalls.has(ALARM)).toBe(true);
    // The name alone, without a dlsym reached, opens nothing.
    const noDlsym = importer([{ i: 0, p: 'rdi', v: [0] }], { h: [nameHash('work')] });
    expect(only(noDlsym, [lib(), dl]).syscalls.has(ALARM)).toBe(false);
  });

  test("a dlopen'd module's exports are roots: present", () => {
    expect(only(importer([{ i: 0, p: 'rdi', v: [0] }]), [{ ...lib(), exportsAreRoots: true }]).syscalls.has(ALARM)).toBe(true);
  });

  test('its address held by a reached import reference (GOT) once INDIRECT is reached: present', () => {
    const p = importer([{ i: 0, p: 'rdi', v: [0] }], { ti: [0], ic: true });
    expect(only(p, [lib()]).syscalls.has(ALARM)).toBe(true);
  });
});

test('a word guard (off/w) without a model is unknown, whatever constant pointer callers pass', () => {
  const field = { ...work(), g: [{ v: { p: 'rdi' as const, off: 8, w: 4 as const }, c: { op: 'eq' as const, k: 7 }, s: [0x120] }] };
  const r = only(exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [0] }] }, [field]));
  expect(r.syscalls.has(ALARM)).toBe(true);
  expect(r.provenance.get(ALARM)!.kept).toMatch(/passes a constant pointer/);
});

describe('register widths the contract leaves open', () => {
  const eq = (k: number, v: number) => only(exe({ e: [1], gv: [{ f: 1, p: 'rdi', v: [v] }] }, [{ ...work(), g: [{ v: { p: 'rdi' }, c: { op: 'eq', k }, s: [0x120] }] }])).syscalls.has(ALARM);

  test('eq holds if the value equals k at a width k fits in (a 32-bit compare of a 64-bit constant)', () => {
    expect(eq(0xffffffff, 0x1ffffffff)).toBe(true);
    expect(eq(0xff, 0x1ff)).toBe(true);
    expect(eq(5, 6)).toBe(false);
  });

  test('values past 2^53 are unknown', () => {
    expect(eq(5, 2 ** 60)).toBe(true);
  });
});
