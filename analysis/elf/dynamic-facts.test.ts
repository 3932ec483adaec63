import { readFileSync } from 'node:fs';
import { badShoff, sstrip } from '../../tools/fuzz/corpus';
import { rng } from '../../tools/fuzz/mutate';
import { hostileVariants } from '../../test/robustness/hostile-elf';
import { DynamicInfo, readDynamicInfo } from './dynamic-info';
import { ElfFile, parseElf } from './elf-file';
import { Fixtures, HOST_LDSO, HOST_LIBC, buildFixtures } from './test-fixtures';

/**
 * The two entry points to an object's dynamic facts — readDynamicInfo (the cheap one
 * the image closure and analyze use) and parseElf (the scan) — must say the same about
 * every object both accept: an executable whose dependencies differ between the closure
 * and the scan would be profiled from the wrong set of libraries.
 */
let fx: Fixtures;
beforeAll(() => { fx = buildFixtures(); });
afterAll(() => fx?.cleanup());

/** The DynamicInfo that a full parse implies. */
function fromFullParse(e: ElfFile): Omit<DynamicInfo, 'isStatic'> {
  return {
    elfClass: e.header.elfClass,
    machine: e.header.machine,
    type: e.type,
    isPie: e.isPie,
    ...(e.interp !== undefined ? { interp: e.interp } : {}),
    needed: e.needed,
    runpath: e.runpath,
    rpath: e.rpath,
    ...(e.soname !== undefined ? { soname: e.soname } : {}),
  };
}

function cheap(d: DynamicInfo): Omit<DynamicInfo, 'isStatic'> {
  const { isStatic: _, ...rest } = d;
  return rest;
}

type Outcome = { ok: true; value: unknown } | { ok: false };
const attempt = (f: () => unknown): Outcome => {
  try { return { ok: true, value: f() }; } catch { return { ok: false }; }
};

/** When both entry points accept the bytes, their facts are equal; returns whether both accepted. */
function agree(bytes: Uint8Array, label: string): boolean {
  const d = attempt(() => cheap(readDynamicInfo(bytes, label)));
  const e = attempt(() => fromFullParse(parseElf(bytes, label)));
  if (!d.ok || !e.ok) return false;
  expect({ label, facts: e.value }).toEqual({ label, facts: d.value });
  return true;
}

const FIXTURES = ['pie', 'nopie', 'static', 'staticPie', 'musl', 'lib', 'libRpath', 'withLib', 'pieStripped', 'libStripped', 'staticStripped'] as const;
const path = (n: (typeof FIXTURES)[number] | 'libc' | 'ldso') => (n === 'libc' ? HOST_LIBC : n === 'ldso' ? HOST_LDSO : fx[n]);

describe('readDynamicInfo and parseElf give the same dynamic facts', () => {
  test.each([...FIXTURES, 'libc', 'ldso'] as const)('%s, as built, sstrip\'d and with a bad e_shoff', (n) => {
    const bytes = readFileSync(path(n));
    expect(agree(bytes, n)).toBe(true);
    // parseElf may reject a section-less copy (an sstrip'd non-PIE's .dynsym size is not
    // recoverable from an empty DT_GNU_HASH); when both read it, they agree.
    agree(sstrip(bytes), `${n} sstrip`);
    agree(badShoff(bytes), `${n} bad e_shoff`);
  });

  test('the fixtures cover what the facts distinguish', () => {
    const facts = FIXTURES.map((n) => readDynamicInfo(readFileSync(path(n)), n));
    const seen = (f: (d: DynamicInfo) => unknown) => new Set(facts.map((d) => JSON.stringify(f(d)))).size;
    expect(seen((d) => d.type)).toBe(2);
    expect(seen((d) => [d.isPie, d.isStatic])).toBe(4);
    expect(facts.some((d) => d.runpath.length > 1 && d.soname)).toBe(true);
    expect(facts.some((d) => d.rpath.length > 0)).toBe(true);
  });

  test.each(['withLib', 'lib', 'staticPie'] as const)('hostile variants of %s', (n) => {
    const variants = hostileVariants(readFileSync(path(n)));
    let both = 0;
    for (const [v, b] of Object.entries(variants)) if (agree(b, `${n}:${v}`)) both++;
    expect(both).toBeGreaterThan(5);
  });

  test('random mutations of the dynamic segment and the headers', () => {
    const orig = readFileSync(fx.withLib);
    const e = parseElf(orig, 'withLib');
    const dyn = e.sectionByName('.dynamic')!;
    const dynstr = e.sectionByName('.dynstr')!;
    const hot: Array<[number, number]> = [[0, 64], [e.header.phoff, e.header.phnum * 56], [dyn.offset, dyn.size], [dynstr.offset, dynstr.size]];
    const next = rng(0xd1ff);
    let both = 0;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(orig);
      for (let k = 1 + Math.floor(next() * 3); k > 0; k--) {
        const [off, len] = hot[Math.floor(next() * hot.length)];
        b[off + Math.floor(next() * len)] = Math.floor(next() * 256);
      }
      if (agree(b, `withLib#${i}`)) both++;
    }
    expect(both).toBeGreaterThan(100);
  });
});
