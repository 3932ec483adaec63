import { readFileSync } from 'node:fs';
import { ConfineError } from '../../pipeline/errors';
import { ElfFile, parseElf } from './elf-file';
import { DT } from './dynamic';
import { oracleFdes, oraclePltJumpSlots, oraclePltLabels, oracleRelocs, oracleSections, oracleSegments, oracleSymbols } from './readelf-oracle';
import { Fixtures, HOST_LDSO, HOST_LIBC, bracketed, buildFixtures, readelfDynamic } from './test-fixtures';

let fx: Fixtures;
const parsed = new Map<string, ElfFile>();
beforeAll(() => { fx = buildFixtures(); });
afterAll(() => fx?.cleanup());

function elf(path: string): ElfFile {
  let e = parsed.get(path);
  if (!e) { e = parseElf(readFileSync(path), path); parsed.set(path, e); }
  return e;
}

const FIXTURES = ['pie', 'nopie', 'static', 'staticPie', 'musl', 'lib', 'libRpath', 'withLib', 'pieStripped', 'libStripped', 'staticStripped'] as const;
const file = (n: (typeof FIXTURES)[number] | 'libc' | 'ldso') => (n === 'libc' ? HOST_LIBC : n === 'ldso' ? HOST_LDSO : fx[n]);
const ALL = [...FIXTURES, 'libc', 'ldso'] as const;

describe('headers and tables agree with readelf', () => {
  test.each(ALL)('sections and segments: %s', (n) => {
    const e = elf(file(n));
    const want = oracleSections(file(n));
    expect(e.sections.map((s) => [s.index, s.name, s.addr, s.offset, s.size])).toEqual(want.map((s) => [s.index, s.name, s.addr, s.offset, s.size]));
    const segs = oracleSegments(file(n));
    expect(e.programHeaders.map((p) => [p.offset, p.vaddr, p.filesz, p.memsz])).toEqual(segs.map((p) => [p.offset, p.vaddr, p.filesz, p.memsz]));
  });

  test.each(ALL)('symbols with versions: %s', (n) => {
    const e = elf(file(n));
    for (const [table, mine] of [['.dynsym', e.dynsym], ['.symtab', e.symtab]] as const) {
      const want = oracleSymbols(file(n), table);
      expect(mine.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        const s = mine[i];
        const w = want[i];
        const ndx = s.shndx === 0 ? 'UND' : s.shndx === 0xfff1 ? 'ABS' : s.shndx === 0xfff2 ? 'COM' : String(s.shndx);
        // readelf prints section symbols (st_name 0) with their section's name since 2.40 in some modes; compare only named ones.
        const name = s.type === 'section' && s.fullName === '' ? w.name : s.fullName;
        expect([i, s.value, s.size, s.type, s.bind, s.visibility, ndx, name]).toEqual([w.index, w.value, w.size, w.type, w.bind, w.vis, w.ndx, w.name]);
        expect(s.defined).toBe(ndx !== 'UND');
      }
    }
  });

  test.each(ALL)('dynamic entries: %s', (n) => {
    const e = elf(file(n));
    const want = readelfDynamic(file(n));
    expect(e.dynamic.map((d) => d.tagName)).toEqual(want.map(([t]) => t).filter((t) => t !== 'NULL'));
    for (const [tag, key] of [['NEEDED', 'needed'], ['SONAME', 'soname']] as const) {
      const w = want.filter(([t]) => t === tag).map(([, v]) => bracketed(v));
      expect(key === 'needed' ? e.needed : e.soname ? [e.soname] : []).toEqual(w);
    }
    for (const tag of ['INIT', 'FINI', 'INIT_ARRAY', 'FINI_ARRAY', 'INIT_ARRAYSZ', 'FINI_ARRAYSZ', 'PREINIT_ARRAY'] as const) {
      const w = want.find(([t]) => t === tag);
      const v = e.dynamicValue(DT[tag]);
      if (!w) expect(v).toBeUndefined();
      else expect(v).toBe(w[1].startsWith('0x') ? parseInt(w[1], 16) : parseInt(w[1], 10));
    }
  });

  test.each(ALL)('relocations: %s', (n) => {
    const e = elf(file(n));
    const want = oracleRelocs(file(n));
    const mine = e.relocations.filter((r) => !r.section.startsWith('.relr'));
    expect(mine.map((r) => [r.section, r.offset, r.symIndex, r.type, r.typeName, r.addend])).toEqual(
      want.map((r) => [r.section, r.offset, r.symIndex, r.type, r.typeName, r.addend]),
    );
  });

  test.each(ALL)('PLT stub → imported symbol, as objdump labels them: %s', (n) => {
    const e = elf(file(n));
    const labels = oraclePltLabels(file(n));
    // objdump only labels stubs of dynamic relocations; static binaries' IRELATIVE stubs are unlabelled.
    if (e.needed.length > 0 || e.soname !== undefined) {
      const named = e.pltStubs.filter((s) => s.name !== undefined || s.resolver !== undefined);
      expect(named.length).toBe(labels.size);
    }
    // Every `jmp *slot(%rip)` in the PLT sections, except PLT0's jump through GOT+16, is a stub we found.
    const slots = new Set(e.pltStubs.map((s) => s.gotSlot));
    const want = oraclePltJumpSlots(file(n));
    const got = e.sectionByName('.got.plt')?.addr;
    for (const s of want) if (s !== (got ?? -1) + 16) expect(slots.has(s)).toBe(true);
    for (const s of e.pltStubs) expect(want.has(s.gotSlot)).toBe(true);
    for (const s of e.pltStubs) if (e.relocationAt(s.gotSlot)) expect(s.name !== undefined || s.resolver !== undefined).toBe(true);
    for (const [addr, label] of labels) {
      const stub = e.pltStubAt(addr);
      expect(stub).toBeDefined();
      const abs = /^\*ABS\*\+0x([0-9a-f]+)$/.exec(label);
      if (abs) expect(stub!.resolver).toBe(parseInt(abs[1], 16));
      else expect(stub!.name).toBe(label.split('@')[0]);
    }
  });

  test.each(ALL)('FDE ranges: %s', (n) => {
    const e = elf(file(n));
    const want = new Map<number, number>();
    for (const f of oracleFdes(file(n))) if (!want.has(f.start) || want.get(f.start)! < f.end - f.start) want.set(f.start, f.end - f.start);
    expect(e.fdes.map((f) => [f.start, f.size])).toEqual([...want].sort((a, b) => a[0] - b[0]));
  });
});

describe('what the analysis relies on', () => {
  test('PLT stubs name the imports of a dynamically linked program, also through .plt.sec', () => {
    const names = (n: 'pie' | 'nopie' | 'withLib') => elf(fx[n]).pltStubs.map((s) => s.name).filter(Boolean);
    for (const n of ['pie', 'nopie', 'withLib'] as const) expect(names(n)).toEqual(expect.arrayContaining(['qsort', 'printf', 'write']));
    expect(names('withLib')).toContain('foo_value');
    expect(elf(fx.withLib).pltStubs.some((s) => s.section === '.plt.sec' && s.name === 'qsort')).toBe(true);
    expect(elf(fx.pie).pltStubs.some((s) => s.section === '.plt.got' && s.name === '__cxa_finalize')).toBe(true);
  });

  test('versions: default and non-default definitions in libc, requirements in programs', () => {
    const libc = elf(HOST_LIBC);
    const memcpy = libc.dynsym.filter((s) => s.name === 'memcpy').map((s) => s.fullName).sort();
    expect(memcpy).toEqual(['memcpy@@GLIBC_2.14', 'memcpy@GLIBC_2.2.5']);
    const printf = elf(fx.pie).dynsym.find((s) => s.name === 'printf')!;
    expect(printf).toMatchObject({ defined: false, version: 'GLIBC_2.2.5', versionFile: 'libc.so.6', type: 'func' });
    const foo = elf(fx.withLib).dynsym.find((s) => s.name === 'foo_value')!;
    expect(foo.defined).toBe(false);
    expect(elf(fx.lib).dynsym.find((s) => s.name === 'foo_value')).toMatchObject({ defined: true, type: 'func', bind: 'global' });
  });

  test.each(['pie', 'nopie', 'static', 'staticPie', 'musl', 'withLib'] as const)('init/fini arrays hold the constructor and destructor: %s', (n) => {
    const e = elf(fx[n]);
    const at = (name: string) => e.symtab.find((s) => s.name === name && s.type === 'func')!.value;
    expect(e.initArray).toContain(at('init_me'));
    expect(e.finiArray).toContain(at('fini_me'));
    for (const p of [...e.initArray, ...e.finiArray]) expect(e.fdes.some((f) => f.start === p) || e.symtab.some((s) => s.value === p && s.type === 'func')).toBe(true);
  });

  test('RELATIVE targets include an address-taken function; GLOB_DAT gives GOT entries', () => {
    const e = elf(fx.pie);
    const cmp = e.symtab.find((s) => s.name === 'cmp')!.value;
    expect(e.relativeTargets).toContain(cmp);
    expect(e.gotEntries.map((g) => g.symbol?.name)).toContain('__libc_start_main');
    for (const g of e.gotEntries) expect(e.relocationAt(g.slot)?.typeName).toBe('R_X86_64_GLOB_DAT');
  });

  test('static binaries: IRELATIVE resolvers are found and are functions', () => {
    for (const n of ['static', 'staticPie'] as const) {
      const e = elf(fx[n]);
      expect(e.irelativeResolvers.length).toBeGreaterThan(5);
      const funcs = new Set(e.symtab.filter((s) => s.type === 'func').map((s) => s.value));
      for (const r of e.irelativeResolvers) expect(funcs.has(r)).toBe(true);
      expect(elf(fx.staticStripped).irelativeResolvers).toEqual(elf(fx.static).irelativeResolvers);
    }
  });

  test('stripped libc and ld.so: every exported function with an FDE has its start found', () => {
    for (const f of [HOST_LIBC, HOST_LDSO]) {
      const e = elf(f);
      expect(e.symtab).toEqual([]);
      const readelfStarts = new Set(oracleFdes(f).map((x) => x.start));
      const mine = new Set(e.fdes.map((x) => x.start));
      const funcs = e.dynsym.filter((s) => s.defined && s.type === 'func');
      expect(funcs.length).toBeGreaterThan(f === HOST_LIBC ? 1000 : 5);
      const missing = funcs.filter((s) => !mine.has(s.value));
      for (const s of missing) expect(readelfStarts.has(s.value)).toBe(false);
      // Functions without their own FDE are rare (hand-written asm aliases); a jump would mean a parsing bug.
      expect(missing.length).toBeLessThan(funcs.length / 20);
    }
  });

  test('readAt and vaddrToOffset follow the segments', () => {
    const e = elf(fx.pie);
    const text = e.sectionByName('.text')!;
    const buf = readFileSync(fx.pie);
    expect(e.vaddrToOffset(text.addr)).toBe(text.offset);
    expect(Buffer.from(e.readAt(text.addr, 16)!)).toEqual(buf.subarray(text.offset, text.offset + 16));
    const bss = e.sectionByName('.bss')!;
    expect(e.readAt(bss.addr + bss.size - 1, 1)).toBeUndefined();
    expect(e.readAt(0x7fff_ffff_0000, 4)).toBeUndefined();
    expect(e.interp).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(e.entry).toBe(e.symtab.find((s) => s.name === '_start')!.value);
  });

  test('without section headers, dynamic symbols, versions and relocations come from the dynamic array', () => {
    for (const f of [fx.withLib, fx.lib, HOST_LIBC]) {
      const full = elf(f);
      const b = Buffer.from(readFileSync(f));
      b.writeBigUInt64LE(0n, 40); // e_shoff
      b.writeUInt16LE(0, 60); // e_shnum
      b.writeUInt16LE(0, 62); // e_shstrndx
      const bare = parseElf(b, f);
      expect(bare.sections.filter((s) => s.type !== 0).length).toBeGreaterThan(2);
      expect(bare.dynsym.map((s) => s.fullName)).toEqual(full.dynsym.map((s) => s.fullName));
      expect(bare.needed).toEqual(full.needed);
      const key = (r: { offset: number; type: number; addend: number; symbol?: { fullName: string } }) => `${r.offset}:${r.type}:${r.addend}:${r.symbol?.fullName}`;
      expect(bare.relocations.map(key).sort()).toEqual(full.relocations.map(key).sort());
      expect(bare.initArray).toEqual(full.initArray);
      expect(bare.fdes).toEqual(full.fdes);
    }
  });

  test('unsupported classes and machines are a typed error, not a crash', () => {
    const b = Buffer.from(readFileSync(fx.pie));
    b[4] = 1; // ELFCLASS32
    expect(() => parseElf(b, 'x')).toThrow(ConfineError);
    const c = Buffer.from(readFileSync(fx.pie));
    c.writeUInt16LE(183, 18); // aarch64
    try { parseElf(c, 'y'); throw new Error('no throw'); } catch (e) {
      expect(e).toBeInstanceOf(ConfineError);
      expect((e as ConfineError).kind).toBe('analysis-failed');
      expect((e as ConfineError).where.file).toBe('y');
    }
  });
});
