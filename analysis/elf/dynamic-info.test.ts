import { readFileSync } from 'node:fs';
import { ConfineError } from '../../pipeline/errors';
import { isElf, readDynamicInfo } from './dynamic-info';
import { Fixtures, HOST_LDSO, HOST_LIBC, bracketed, buildFixtures, readelf, readelfDynamic } from './test-fixtures';

let fx: Fixtures;
beforeAll(() => { fx = buildFixtures(); });
afterAll(() => fx?.cleanup());

function oracle(file: string) {
  const dyn = readelfDynamic(file);
  const pick = (tag: string) => dyn.filter(([t]) => t === tag).map(([, v]) => bracketed(v));
  const hdr = readelf(['-h', '-l'], file);
  const interp = /\[Requesting program interpreter: (.*)\]/.exec(hdr)?.[1];
  const type = /Type:\s+(\w+)/.exec(hdr)![1];
  const flags1 = dyn.find(([t]) => t === 'FLAGS_1')?.[1] ?? '';
  return {
    needed: pick('NEEDED'),
    runpath: pick('RUNPATH').flatMap((s) => s.split(':')),
    rpath: pick('RPATH').flatMap((s) => s.split(':')),
    soname: pick('SONAME')[0],
    interp,
    type,
    hasDynamic: /\bDYNAMIC\b/.test(hdr.split('Program Headers:')[1] ?? ''),
    pieFlag: /\bPIE\b/.test(flags1),
  };
}

const names = ['pie', 'nopie', 'static', 'staticPie', 'musl', 'lib', 'libRpath', 'withLib', 'pieStripped', 'libStripped'] as const;

describe('readDynamicInfo agrees with readelf', () => {
  test.each(names)('%s', (n) => {
    const file = fx[n];
    const info = readDynamicInfo(readFileSync(file), file);
    const o = oracle(file);
    expect(info.elfClass).toBe(64);
    expect(info.machine).toBe(62);
    expect(info.needed).toEqual(o.needed);
    expect(info.runpath).toEqual(o.runpath);
    expect(info.rpath).toEqual(o.rpath);
    expect(info.soname).toBe(o.soname);
    expect(info.interp).toBe(o.interp);
    expect(info.type).toBe(o.type === 'EXEC' ? 'exec' : o.type === 'DYN' ? 'dyn' : 'other');
    expect(info.isStatic).toBe(!o.interp && (!o.hasDynamic || o.needed.length === 0));
    expect(info.isPie).toBe(o.type === 'DYN' && (!!o.interp || o.pieFlag));
  });

  test('the kinds of executable come out as expected', () => {
    const get = (f: string) => readDynamicInfo(readFileSync(f), f);
    expect(get(fx.pie)).toMatchObject({ type: 'dyn', isPie: true, isStatic: false, interp: '/lib64/ld-linux-x86-64.so.2' });
    expect(get(fx.pie).needed).toContain('libc.so.6');
    expect(get(fx.nopie)).toMatchObject({ type: 'exec', isPie: false, isStatic: false });
    expect(get(fx.static)).toMatchObject({ type: 'exec', isPie: false, isStatic: true, needed: [] });
    expect(get(fx.staticPie)).toMatchObject({ type: 'dyn', isPie: true, isStatic: true, needed: [] });
    expect(get(fx.musl)).toMatchObject({ isStatic: true, needed: [] });
    expect(get(fx.lib)).toMatchObject({ type: 'dyn', isPie: false, isStatic: false, soname: 'libfoo.so.1', runpath: ['$ORIGIN/lib', '/opt/x'], rpath: [] });
    expect(get(fx.libRpath)).toMatchObject({ rpath: ['$ORIGIN/lib'], runpath: [] });
    expect(get(fx.withLib).needed).toEqual(expect.arrayContaining(['libfoo.so.1', 'libc.so.6']));
  });

  test('host libc and loader', () => {
    const libc = readDynamicInfo(readFileSync(HOST_LIBC), HOST_LIBC);
    expect(libc.soname).toBe('libc.so.6');
    expect(libc.needed).toEqual(oracle(HOST_LIBC).needed);
    const ld = readDynamicInfo(readFileSync(HOST_LDSO), HOST_LDSO);
    expect(ld.soname).toBe('ld-linux-x86-64.so.2');
    expect(ld.needed).toEqual([]);
  });
});

describe('bad input', () => {
  test('isElf', () => {
    expect(isElf(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2]))).toBe(true);
    expect(isElf(Buffer.from('#!/bin/sh\n'))).toBe(false);
    expect(isElf(new Uint8Array(0))).toBe(false);
  });

  test('non-ELF and truncated files give elf-malformed naming the file', () => {
    const bin = readFileSync(fx.pie);
    for (const b of [Buffer.from('#!/bin/sh\n'), bin.subarray(0, 10), bin.subarray(0, 63), bin.subarray(0, 200), bin.subarray(0, 1000)]) {
      let caught: unknown;
      try { readDynamicInfo(b, 'x/y'); } catch (e) { caught = e; }
      expect(caught).toBeInstanceOf(ConfineError);
      expect((caught as ConfineError).kind).toBe('elf-malformed');
      expect((caught as ConfineError).where.file).toBe('x/y');
    }
  });

  test('any truncation either parses or gives elf-malformed', () => {
    const bin = readFileSync(fx.withLib);
    for (let n = 0; n < bin.length; n += 97) {
      try { readDynamicInfo(bin.subarray(0, n), 'f'); } catch (e) {
        expect(e).toBeInstanceOf(ConfineError);
        expect((e as ConfineError).kind).toBe('elf-malformed');
      }
    }
  });
});
