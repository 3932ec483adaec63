import { readFileSync } from 'node:fs';
import { ConfineError } from '../../pipeline/errors';
import { readDynamicInfo } from './dynamic-info';
import { parseElf } from './elf-file';
import { Fixtures, HOST_LDSO, buildFixtures } from './test-fixtures';
// The fuzzer's seeded PRNG, so a failing case here replays the same way there.
import { rng } from '../../tools/fuzz/mutate';

let fx: Fixtures;
beforeAll(() => { fx = buildFixtures(); });
afterAll(() => fx?.cleanup());

/** Runs both entry points; anything thrown must be a ConfineError of an expected kind. */
function survives(buf: Uint8Array, label: string): 'ok' | 'rejected' {
  let outcome: 'ok' | 'rejected' = 'ok';
  for (const f of [() => parseElf(buf, label), () => readDynamicInfo(buf, label)]) {
    try { f(); } catch (e) {
      if (!(e instanceof ConfineError) || (e.kind !== 'elf-malformed' && e.kind !== 'analysis-failed')) {
        throw new Error(`${label}: unexpected ${e instanceof Error ? e.stack : String(e)}`);
      }
      expect(e.where.file).toBe(label);
      outcome = 'rejected';
    }
  }
  return outcome;
}

test('truncation at many offsets is rejected cleanly, never a crash', () => {
  const bin = readFileSync(fx.withLib);
  const started = Date.now();
  let rejected = 0;
  for (let n = 0; n < bin.length; n += n < 4096 ? 13 : 211) if (survives(bin.subarray(0, n), `trunc@${n}`) === 'rejected') rejected++;
  expect(rejected).toBeGreaterThan(100);
  expect(Date.now() - started).toBeLessThan(20000);
});

test.each([
  ['withLib', 400],
  ['staticPie', 150],
  ['ldso', 150],
  ['bare', 200], // withLib with its section headers removed: tables come from the dynamic array
] as const)('random byte mutations of %s never crash or hang', (name, rounds) => {
  const path = name === 'ldso' ? HOST_LDSO : name === 'bare' ? fx.withLib : fx[name];
  const orig = Buffer.from(readFileSync(path));
  if (name === 'bare') { orig.writeBigUInt64LE(0n, 40); orig.writeUInt32LE(0, 60); }
  const next = rng(0xc0ffee + rounds);
  // Aim most mutations at the parts a parser trusts: headers, header tables, and the metadata sections.
  const hot: Array<[number, number]> = [[0, 64]];
  const parsed = parseElf(orig, path);
  hot.push([parsed.header.phoff, parsed.header.phnum * parsed.header.phentsize]);
  hot.push([parsed.header.shoff, parsed.header.shnum * parsed.header.shentsize]);
  for (const s of parsed.sections) {
    if (/^\.(dynamic|dynsym|dynstr|symtab|strtab|shstrtab|gnu\.version.*|rela\..*|eh_frame.*|plt.*|init_array|fini_array|interp)$/.test(s.name) && s.size > 0) {
      hot.push([s.offset, s.size]);
    }
  }
  const started = Date.now();
  let rejected = 0;
  for (let i = 0; i < rounds; i++) {
    const b = Buffer.from(orig);
    const flips = 1 + Math.floor(next() * 6);
    for (let k = 0; k < flips; k++) {
      const [off, len] = next() < 0.85 ? hot[Math.floor(next() * hot.length)] : [0, b.length];
      const at = off + Math.floor(next() * Math.max(1, Math.min(len, b.length - off)));
      const r = next();
      // Random bytes, all-ones (huge counts/offsets), or zero.
      b[at] = r < 0.6 ? Math.floor(next() * 256) : r < 0.8 ? 0xff : 0;
    }
    const t = Date.now();
    if (survives(b, `${name}#${i}`) === 'rejected') rejected++;
    expect(Date.now() - t).toBeLessThan(2000);
  }
  expect(rejected).toBeGreaterThan(0); // the mutations do reach the checks
  expect(Date.now() - started).toBeLessThan(60000);
});

test('crafted absurd tables: huge counts, bad string indexes, a CIE pointer to itself', () => {
  const orig = readFileSync(fx.pie);
  const e = parseElf(orig, 'pie');
  const cases: Array<(b: Buffer) => void> = [
    (b) => b.writeUInt16LE(0xfffe, 60), // e_shnum
    (b) => b.writeUInt16LE(0xfff0, 56), // e_phnum far beyond the file
    (b) => b.writeUInt16LE(e.sections.length + 5, 62), // e_shstrndx past the table
    (b) => b.writeUInt32LE(0x7fffffff, e.header.shoff + 64 * 1), // first real section's name offset
    (b) => { const s = e.sectionByName('.dynsym')!; b.writeBigUInt64LE(0xffffffffffffn, e.header.shoff + 64 * s.index + 32); },
    (b) => { const s = e.sectionByName('.eh_frame')!; b.writeUInt32LE(0xfffffff0, s.offset); },
    (b) => b.writeUInt32LE(4, e.fdes[0].offset + 4), // an FDE whose CIE pointer points at itself
    (b) => { const s = e.sectionByName('.rela.plt')!; b.writeUInt32LE(0xffffff, s.offset + 12); }, // symbol index past .dynsym
    (b) => { const s = e.sectionByName('.gnu.version_r')!; b.writeUInt32LE(0xffffff, s.offset + 8); }, // vn_aux far away
    (b) => { const s = e.sectionByName('.dynamic')!; b.writeBigUInt64LE(0xfffffffn, s.offset + 8); }, // NEEDED string offset
  ];
  // Linux runs a program whose section headers alone are broken: those are read from the
  // program headers and dynamic segment instead; a broken segment's content is still an error.
  const onlySections = new Set([0, 2, 3, 4]);
  for (const [i, mutate] of cases.entries()) {
    const b = Buffer.from(orig);
    mutate(b);
    expect([i, survives(b, `crafted#${i}`)]).toEqual([i, onlySections.has(i) ? 'ok' : 'rejected']);
    if (onlySections.has(i)) expect([i, parseElf(b, 'x').sectionSource.synthesized]).toEqual([i, true]);
  }
});
