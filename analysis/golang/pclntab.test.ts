import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseElf } from '../elf';
import { ConfineError } from '../../pipeline/errors';
import { readBuildInfo } from './buildinfo';
import { decodePclntab, readPclntab } from './pclntab';
import { buildGoFixtures, GoFixtures } from './test-fixtures';

let fx: GoFixtures;
beforeAll(() => {
  fx = buildGoFixtures();
});
afterAll(() => fx?.cleanup());

/** Entry addresses of text symbols per `go tool nm` (the toolchain's own reader). */
function nmTextEntries(bin: string): Map<number, string> {
  const out = execFileSync('go', ['tool', 'nm', bin], { env: fx.env, maxBuffer: 1 << 28 }).toString();
  const m = new Map<number, string>();
  for (const line of out.split('\n')) {
    const f = /^\s*([0-9a-f]+) ([Tt]) (.*)$/.exec(line);
    if (!f || f[3] === 'runtime.text' || f[3] === 'runtime.etext') continue;
    m.set(parseInt(f[1], 16), f[3].replace(/\.abi0$/, ''));
  }
  return m;
}

describe('readPclntab', () => {
  test.each(['rare', 'rarePie', 'cgo'] as const)('%s: every function go tool nm lists, same names and addresses', (k) => {
    const bin = fx[k]!; // nm needs .symtab: the stripped build is compared with its twin below
    const buf = readFileSync(bin);
    const t = readPclntab(parseElf(buf, bin), buf)!;
    expect(t).toBeDefined();
    const nm = nmTextEntries(bin);
    // The linker abbreviates array types in pclntab names (`type..eq.[...]T` vs nm's `[5]T`).
    const norm = (n: string) => (n.includes('[') ? n.replace(/\[.*$/, '[') : n);
    const mismatched = t.functions.filter((f) => norm(nm.get(f.entry) ?? '<absent>') !== norm(f.name));
    expect(mismatched).toEqual([]);
    // nm also lists a cgo binary's C functions, outside the Go text range.
    const inGoRange = [...nm.keys()].filter((a) => a >= t.functions[0].entry && a < t.functions.at(-1)!.end);
    expect(t.functions.length).toBe(inGoRange.length);
    for (let i = 0; i + 1 < t.functions.length; i++) expect(t.functions[i].end).toBe(t.functions[i + 1].entry);
  });

  test('stripped binary (no .symtab): the same table as its unstripped twin', () => {
    const a = readFileSync(fx.rare);
    const b = readFileSync(fx.rareStripped);
    const eb = parseElf(b);
    expect(eb.symtab.length).toBe(0);
    const ta = readPclntab(parseElf(a), a)!;
    const tb = readPclntab(eb, b)!;
    expect(tb.functions.map((f) => f.name)).toEqual(ta.functions.map((f) => f.name));
    expect(tb.layout).toBe(ta.layout);
  });

  test('found by magic when the section headers are gone', () => {
    const buf = Buffer.from(readFileSync(fx.rareStripped));
    const ref = readPclntab(parseElf(buf), buf)!;
    // Zero e_shoff/e_shnum: the loader does not need section headers.
    buf.writeBigUInt64LE(0n, 0x28);
    buf.writeUInt16LE(0, 0x3c);
    buf.writeUInt16LE(0, 0x3e);
    const elf = parseElf(buf);
    expect(elf.sectionByName('.gopclntab')).toBeUndefined();
    const t = readPclntab(elf, buf)!;
    expect(t.functions.length).toBe(ref.functions.length);
    expect(t.functions[100]).toEqual(ref.functions[100]);
  });

  test('truncated or corrupted tables are elf-malformed, never another exception', () => {
    const buf = readFileSync(fx.rare);
    const elf = parseElf(buf);
    const sec = elf.sectionByName('.gopclntab')!;
    const table = Buffer.from(buf.subarray(sec.offset, sec.offset + sec.size));
    for (const cut of [4, 16, 64, 4096, table.length >> 1]) {
      expect(() => decodePclntab(table.subarray(0, cut), sec.addr, elf)).toThrow(ConfineError);
    }
    const bad = Buffer.from(table);
    bad.writeUInt32LE(0x7fffffff, 8); // nfunc
    expect(() => decodePclntab(bad, sec.addr, elf)).toThrow(/nfunc/);
    const magic = Buffer.from(table);
    magic.writeUInt32LE(0x12345678, 0);
    try {
      decodePclntab(magic, sec.addr, elf);
      throw new Error('accepted a bad magic');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfineError);
      expect((e as ConfineError).kind).toBe('elf-malformed');
    }
  });

  test('a non-Go ELF has no table', () => {
    const buf = readFileSync('/bin/true');
    expect(readPclntab(parseElf(buf), buf)).toBeUndefined();
    expect(readBuildInfo(parseElf(buf), buf)).toBeUndefined();
  });
});

describe('readBuildInfo', () => {
  test.each(['rare', 'rareStripped', 'cgo'] as const)('%s: Go version and module as go version -m prints them', (k) => {
    const bin = fx[k]!;
    const buf = readFileSync(bin);
    const bi = readBuildInfo(parseElf(buf), buf)!;
    const m = execFileSync('go', ['version', '-m', bin], { env: fx.env }).toString();
    const [, version] = /^\S+: (\S+)/.exec(m)!;
    expect(bi.goVersion).toBe(version);
    const mod = /^\tmod\t(\S+)\t(\S+)/m.exec(m)!;
    expect(bi.mainModule).toEqual({ path: mod[1], version: mod[2] });
    expect(bi.path).toBe(/^\tpath\t(\S+)/m.exec(m)![1]);
  });
});
