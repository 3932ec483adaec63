import * as fs from 'fs';
import { analyzeCode, isResolved } from './analyze-object';
import { resolveParamSyscalls } from './param-syscalls';
import { compile, inputFromBinutils, nmFunctions, tempDir } from './test-fixtures';
import type { SyscallSite } from './types';
import type { CodeAnalysis } from './code-analysis';

// Hand-written functions, one data-flow shape each. Linked without libc so the
// object holds exactly these functions.
const ASM = String.raw`
  .text
  .globl _start
  .type _start,@function
_start:
  call caller
  mov $60, %eax
  xor %edi, %edi
  syscall
  hlt
  .size _start, .-_start

  .type f_imm,@function
f_imm:
  mov $39, %eax
  syscall
  ret
  .size f_imm, .-f_imm

  .type f_xor,@function
f_xor:
  xor %eax, %eax
  syscall
  ret
  .size f_xor, .-f_xor

  .type f_viareg,@function
f_viareg:
  mov $102, %ecx
  mov %ecx, %r9d
  mov %r9, %rax
  syscall
  ret
  .size f_viareg, .-f_viareg

  .type f_param,@function
f_param:
  mov %edi, %eax
  syscall
  ret
  .size f_param, .-f_param

  .type f_stackparam,@function
f_stackparam:
  mov 8(%rsp), %rax
  syscall
  ret
  .size f_stackparam, .-f_stackparam

  .type f_branches,@function
f_branches:
  test %edi, %edi
  je 1f
  mov $1, %eax
  jmp 2f
1:
  cmp $3, %esi
  jne 3f
  mov $3, %eax
  jmp 2f
3:
  mov $2, %eax
2:
  syscall
  ret
  .size f_branches, .-f_branches

  .type f_spill,@function
f_spill:
  push %rbx
  sub $0x18, %rsp
  mov %edi, 0x8(%rsp)
  call f_imm
  mov 0x8(%rsp), %eax
  add $0x18, %rsp
  pop %rbx
  syscall
  ret
  .size f_spill, .-f_spill

  .type f_pushpop,@function
f_pushpop:
  push $231
  pop %rax
  syscall
  ret
  .size f_pushpop, .-f_pushpop

  .type f_clobber,@function
f_clobber:
  mov $1, %eax
  call f_xor
  syscall
  ret
  .size f_clobber, .-f_clobber

  .type f_mem,@function
f_mem:
  mov (%rdi), %eax
  syscall
  ret
  .size f_mem, .-f_mem

  .type f_loop,@function
f_loop:
  mov $16, %eax
1:
  syscall
  cmp $-4, %eax
  mov $17, %eax
  je 1b
  ret
  .size f_loop, .-f_loop

  .type f_int80,@function
f_int80:
  mov $20, %eax
  int $0x80
  ret
  .size f_int80, .-f_int80

  .type f_sysenter,@function
f_sysenter:
  mov $20, %eax
  sysenter
  ret
  .size f_sysenter, .-f_sysenter

  .type f_switch,@function
f_switch:
  lea tbl(%rip), %rdx
  movslq (%rdx,%rdi,4), %rax
  add %rdx, %rax
  mov $35, %ecx
  jmp *%rax
.L0:
  mov %ecx, %eax
  syscall
  ret
.L1:
  mov $96, %eax
  syscall
  ret
  .size f_switch, .-f_switch

  .type w_sys,@function
w_sys:                     # like glibc's syscall(): number in %rdi
  mov %rdi, %rax
  mov %rsi, %rdi
  syscall
  ret
  .size w_sys, .-w_sys

  .type w_tail,@function
w_tail:                    # a wrapper that tail-calls the wrapper
  jmp w_sys
  .size w_tail, .-w_tail

  .type w_shift,@function
w_shift:                   # a wrapper that passes its 2nd argument as the number
  push %rbx
  mov %esi, %ebx
  mov %edi, %esi
  mov %ebx, %edi
  call w_sys
  pop %rbx
  ret
  .size w_shift, .-w_shift

  .type w_stack,@function
w_stack:                   # takes the number as its 7th argument
  mov 8(%rsp), %rdi
  jmp w_sys
  .size w_stack, .-w_stack

  .type caller,@function
caller:
  push %rbx
  mov $5, %edi
  call w_tail
  mov $0, %edi
  mov $7, %esi
  call w_shift
  mov $1, %edi
  call w_sys
  sub $8, %rsp
  push $186
  call w_stack
  add $16, %rsp
  lea f_param(%rip), %rax
  call *%rax
  call f_imm
  pop %rbx
  jmp f_xor
  .size caller, .-caller

  .section .rodata
tbl:
  .long .L0-tbl, .L1-tbl
`;

let a: CodeAnalysis;
const fnAddr = new Map<string, number>();

function site(fn: string, nth = 0): SyscallSite {
  const addr = fnAddr.get(fn)!;
  const s = a.syscalls.filter((x) => x.fn === addr)[nth];
  if (!s) throw new Error(`no syscall site #${nth} in ${fn}`);
  return s;
}

beforeAll(() => {
  const dir = tempDir();
  const bin = compile(dir, 'shapes.S', ASM, 'shapes', ['-nostdlib', '-static', '-no-pie']);
  const starts = nmFunctions(bin);
  for (const s of starts) fnAddr.set(s.name!, s.addr);
  a = analyzeCode(inputFromBinutils(bin, starts));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('analyzeCode: syscall numbers by backward data-flow', () => {
  test('immediate into eax', () => {
    expect(site('f_imm')).toMatchObject({ numbers: [39], fromParams: [], unresolved: [], insn: 'syscall', fnName: 'f_imm' });
  });

  test('xor eax,eax is read (0)', () => {
    expect(site('f_xor').numbers).toEqual([0]);
    expect(isResolved(site('f_xor'))).toBe(true);
  });

  test('copies through other registers', () => {
    expect(site('f_viareg')).toMatchObject({ numbers: [102], unresolved: [] });
  });

  test('a number that is a register parameter', () => {
    expect(site('f_param')).toMatchObject({ numbers: [], fromParams: [{ fn: fnAddr.get('f_param'), loc: 'rdi' }], unresolved: [] });
  });

  test('a number that is a stack parameter', () => {
    expect(site('f_stackparam').fromParams).toEqual([{ fn: fnAddr.get('f_stackparam'), loc: { stack: 8 } }]);
  });

  test('every value that reaches over branches', () => {
    expect(site('f_branches')).toMatchObject({ numbers: [1, 2, 3], unresolved: [] });
  });

  test('spilled to the frame, across a call and rsp adjustments', () => {
    expect(site('f_spill')).toMatchObject({ numbers: [], fromParams: [{ fn: fnAddr.get('f_spill'), loc: 'rdi' }], unresolved: [] });
  });

  test('push imm / pop', () => {
    expect(site('f_pushpop').numbers).toEqual([231]);
  });

  test('loops: the retry value and the first value', () => {
    expect(site('f_loop')).toMatchObject({ numbers: [16, 17], unresolved: [] });
  });

  test('jump-table targets are reached from the indirect jump', () => {
    expect(site('f_switch', 0)).toMatchObject({ numbers: [35], unresolved: [] });
    expect(site('f_switch', 1)).toMatchObject({ numbers: [96], unresolved: [] });
  });

  test('unrecoverable values are reported with a reason, never dropped', () => {
    const c = site('f_clobber');
    expect(c.numbers).toEqual([]);
    expect(c.unresolved.map((u) => u.reason)).toEqual([expect.stringMatching(/^return value of call/)]);
    const m = site('f_mem');
    expect(isResolved(m)).toBe(false);
    expect(m.unresolved[0].reason).toMatch(/from memory/);
  });

  test('int 0x80 and sysenter are found and marked as i386-ABI sites', () => {
    expect(site('f_int80')).toMatchObject({ insn: 'int80', numbers: [20] });
    expect(site('f_sysenter')).toMatchObject({ insn: 'sysenter', numbers: [20] });
  });

  test('every syscall instruction in the object is a site', () => {
    // one per f_* shape (two in f_switch), one in w_sys, one in _start
    expect(a.syscalls.length).toBe(17);
  });
});

describe('analyzeCode: call graph facts', () => {
  test('calls, tail calls, address-taken functions, indirect calls', () => {
    const c = a.functions.get(fnAddr.get('caller')!)!;
    const names = (xs: number[]): string[] => xs.map((x) => [...fnAddr].find(([, v]) => v === x)![0]).sort();
    expect(names(c.calls)).toEqual(['f_imm', 'w_shift', 'w_stack', 'w_sys', 'w_tail']);
    expect(names(c.tailCalls)).toEqual(['f_xor']);
    expect(names(c.addressTaken)).toEqual(['f_param']);
    expect(c.hasIndirectCall).toBe(true);
    expect(a.addressTaken.has(fnAddr.get('f_param')!)).toBe(true);
    expect(a.functions.get(fnAddr.get('f_switch')!)!.hasIndirectJump).toBe(true);
    expect(names(a.functions.get(fnAddr.get('w_tail')!)!.tailCalls)).toEqual(['w_sys']);
  });
});

describe('resolveParamSyscalls: wrappers resolved at their call sites', () => {
  test('syscall()-like wrapper, a tail-calling wrapper, an argument-shuffling wrapper and a stack argument', () => {
    const r = resolveParamSyscalls(a);
    const ws = fnAddr.get('w_sys')!;
    const wsSite = a.syscalls.find((s) => s.fn === ws)!;
    expect(r.numbersBySite.get(wsSite.addr)).toEqual([1, 5, 7, 186]);
    const uses = r.uses.filter((u) => u.site === wsSite.addr);
    expect(uses.every((u) => u.caller === fnAddr.get('caller'))).toBe(true);
    // 5 through w_tail: the chain names caller's call then w_tail's jump
    const five = uses.find((u) => u.numbers.includes(5))!;
    expect(five.chain).toHaveLength(2);
  });

  test('parameters of address-taken functions stay open, not dropped', () => {
    const r = resolveParamSyscalls(a);
    const fp = site('f_param');
    expect(r.open).toContainEqual(expect.objectContaining({ site: fp.addr, entry: fnAddr.get('f_param'), loc: 'rdi', why: 'address-taken' }));
    const fs2 = site('f_stackparam');
    expect(r.open).toContainEqual(expect.objectContaining({ site: fs2.addr, why: 'no direct caller' }));
  });

  test('unresolved sites are listed with function names', () => {
    const r = resolveParamSyscalls(a);
    const names = new Set(r.unresolved.map((u) => u.fnName));
    expect(names).toEqual(new Set(['f_clobber', 'f_mem']));
  });

  test('a maximum depth below the chain length reports the site unresolved', () => {
    const r = resolveParamSyscalls(a, { maxDepth: 1 });
    const ws = fnAddr.get('w_sys')!;
    expect(r.unresolved.some((u) => u.fn === ws && /maximum call depth/.test(u.reason))).toBe(true);
  });
});
