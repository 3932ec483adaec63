import { analyzeCode } from './analyze-object';
import { resolveParamSyscalls } from './param-syscalls';
import type { CodeInput } from './types';

/**
 * Hand-written code, the shape of musl's __syscall_cp_asm: an entry with no symbol of its
 * own inside another function's extent, reached by a direct call, taking the syscall
 * number from a stack argument.
 *   a:      ret                       (sized 9: the entry below is inside it)
 *   a+1:    mov 8(%rsp),%rax ; syscall ; ret
 *   c:      push $41 ; call a+1 ; add $8,%rsp ; ret
 *   d:      lea a+1(%rip),%rax ; then either `cmp %rax,%rdi; xor %eax,%eax; ret` (compared
 *           only) or `call *%rax; ret` (called through the address)
 */
const A = 0x2000;
const ENTRY = A + 1;
const C = A + 9;
const D = C + 12;
function input(calledThrough: boolean): CodeInput {
  const rel = (from: number, to: number) => { const r = to - from; return [r & 0xff, (r >> 8) & 0xff, (r >> 16) & 0xff, (r >>> 24) & 0xff]; };
  const tail = calledThrough ? [0xff, 0xd0, 0xc3] : [0x48, 0x39, 0xc7, 0x31, 0xc0, 0xc3];
  const code = Uint8Array.from([
    0xc3,
    0x48, 0x8b, 0x44, 0x24, 0x08, 0x0f, 0x05, 0xc3,
    0x6a, 41, 0xe8, ...rel(C + 7, ENTRY), 0x48, 0x83, 0xc4, 0x08, 0xc3,
    0x48, 0x8d, 0x05, ...rel(D + 7, ENTRY), ...tail,
  ]);
  return {
    code, codeVaddr: A, pltTargets: new Map(),
    functionStarts: [{ addr: A, size: 9, name: 'a' }, { addr: C, size: 12, name: 'c' }, { addr: D, size: 7 + tail.length, name: 'd' }],
  };
}

test("a direct call's target inside another function is an entry: the number (a stack argument) climbs to the caller's constant", () => {
  const a = analyzeCode(input(false));
  const site = a.syscalls.find((s) => s.addr === A + 6)!;
  expect(site.unresolved).toEqual([]);
  expect(site.fromParams).toEqual([{ fn: ENTRY, loc: { stack: 8 } }]);
  const pr = resolveParamSyscalls(a);
  expect(pr.unresolved).toEqual([]);
  expect(pr.open).toEqual([]);
  expect(pr.uses.map((u) => [u.caller, u.numbers])).toEqual([[C, [41]]]);
});

test('an entry whose address is only compared stays resolved; one called through its address is open to any number', () => {
  expect(analyzeCode(input(false)).addressTaken.has(ENTRY)).toBe(false);
  const a = analyzeCode(input(true));
  expect(a.addressTaken.has(ENTRY)).toBe(true);
  expect(a.innerEntries.get(ENTRY)).toBe(A);
  const pr = resolveParamSyscalls(a);
  expect(pr.uses.map((u) => [u.caller, u.numbers])).toEqual([[C, [41]]]);
  expect(pr.open.map((o) => [o.entry, o.why])).toEqual([[ENTRY, 'address-taken']]);
});
