import { analyzeCode } from './analyze-object';
import { resolveParamSyscalls } from './param-syscalls';
import { settleDataStarts } from './data-starts';
import type { CodeInput } from './types';

/**
 * Two functions at 0x1000 (FDE-sized):
 *   a: mov $0x050f,%eax (b8 0f 05 00 00) ; call b ; ret      — its bytes at a+1 read `syscall`
 *   b: mov $39,%eax ; syscall ; ret
 * and one address from data, a+1: one byte inside a's first instruction.
 */
const A = 0x1000;
const B = A + 11;
function input(dataStart: number): CodeInput {
  const rel = B - (A + 10);
  const code = Uint8Array.from([
    0xb8, 0x0f, 0x05, 0x00, 0x00, // mov $0x50f,%eax
    0xe8, rel & 0xff, (rel >> 8) & 0xff, 0, 0, // call b
    0xc3, // ret
    0xb8, 39, 0, 0, 0, // b: mov $39,%eax
    0x0f, 0x05, // syscall
    0xc3,
  ]);
  return {
    code,
    codeVaddr: A,
    functionStarts: [{ addr: A, size: 11, name: 'a' }, { addr: B, size: 8, name: 'b' }, { addr: dataStart, fromData: true }],
    pltTargets: new Map(),
    extraAddressTaken: [dataStart],
  };
}

test('an address from data inside a sized function does not cut it: the function keeps its call', () => {
  const a = analyzeCode(input(A + 1));
  expect([...a.functions.keys()].sort()).toEqual([A, B]);
  expect(a.functions.get(A)!.calls).toEqual([B]);
  expect(a.functions.get(A)!.end).toBe(A + 11);
  expect(a.innerEntries.get(A + 1)).toBe(A);
  // b's own site is untouched.
  expect(a.syscalls.find((s) => s.addr === B + 5)?.numbers).toEqual([39]);
});

test('both decodings are kept: the `syscall` the bytes at a+1 decode to is a site, reported with why its number is unknown', () => {
  const a = analyzeCode(input(A + 1));
  const site = a.syscalls.find((s) => s.addr === A + 1);
  expect(site).toBeDefined();
  expect(site!.fn).toBe(A);
  expect(site!.numbers).toEqual([]);
  expect(site!.unresolved.map((u) => u.reason).join()).toMatch(/second decoding/);
  expect(a.functions.get(A)!.syscalls).toContain(A + 1);
  const pr = resolveParamSyscalls(a);
  expect(pr.unresolved.some((u) => u.site === A + 1)).toBe(true);
});

test('an address from data on an instruction boundary inside a function is an entry of it, not a cut', () => {
  const a = analyzeCode(input(A + 5));
  expect([...a.functions.keys()].sort()).toEqual([A, B]);
  expect(a.functions.get(A)!.calls).toEqual([B]);
  expect(a.innerEntries.get(A + 5)).toBe(A);
  expect(a.addressTaken.has(A + 5)).toBe(true);
  expect(a.syscalls.map((s) => s.addr)).toEqual([B + 5]);
});

test('settleDataStarts: only data-derived starts inside a sized extent are settled; others still begin functions', () => {
  const r = settleDataStarts([
    { addr: 0x100, size: 0x40 },
    { addr: 0x200 }, // no size: its extent is a guess, a data start after it still cuts
    { addr: 0x120, fromData: true },
    { addr: 0x180, fromData: true },
    { addr: 0x210, fromData: true },
    { addr: 0x100, fromData: true },
  ]);
  expect(r.starts.map((s) => s.addr).sort()).toEqual([0x100, 0x180, 0x200, 0x210]);
  expect([...r.inside]).toEqual([[0x120, 0x100]]);
});
