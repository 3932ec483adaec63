import * as fs from 'fs';
import { analyzeBinary } from '../../system/host/analyze-programs';
import { SummarySource } from '../../system/host/summary-source';
import { syscallNumber } from '../syscalls/table';
import { analyzeCode } from './analyze-object';
import { compile, hasTool, inputFromBinutils, nmFunctions, straceNames, tempDir } from './test-fixtures';
import type { SyscallSite } from './types';
import type { CodeAnalysis } from './code-analysis';

// One function per partial-register shape, each ending in a syscall whose number the
// backward walk must recover exactly, or leave unresolved (never a wrong constant).
const ASM = String.raw`
  .text
  .globl _start
  .type _start,@function
_start:
  mov $60, %eax
  xor %edi, %edi
  syscall
  hlt
  .size _start, .-_start

  .type p_musl_clone,@function
p_musl_clone:              # musl's __clone
  xor %eax, %eax
  mov $56, %al
  mov %rdi, %r11
  syscall
  ret
  .size p_musl_clone, .-p_musl_clone

  .type p_ah,@function
p_ah:                      # 0x1234 with ah = 1 -> 0x0134
  mov $0x1234, %eax
  mov $1, %ah
  syscall
  ret
  .size p_ah, .-p_ah

  .type p_ax,@function
p_ax:                      # a 16-bit write keeps bits 16..31: 0x10000 | 3
  mov $0x10000, %eax
  mov $3, %ax
  syscall
  ret
  .size p_ax, .-p_ax

  .type p_movzx,@function
p_movzx:
  mov $0x1c8, %ecx
  movzbl %cl, %eax         # 0xc8 = 200
  syscall
  ret
  .size p_movzx, .-p_movzx

  .type p_movsx,@function
p_movsx:
  mov $0xff, %ecx
  movsbl %cl, %eax         # -1
  syscall
  ret
  .size p_movsx, .-p_movsx

  .type p_movzx_high,@function
p_movzx_high:
  mov $0x2700, %ecx
  movzbl %ch, %eax         # 0x27 = 39
  syscall
  ret
  .size p_movzx_high, .-p_movzx_high

  .type p_arith8,@function
p_arith8:
  xor %eax, %eax
  or $0x20, %al
  add $3, %al              # 35
  syscall
  ret
  .size p_arith8, .-p_arith8

  .type p_carry,@function
p_carry:                   # an 8-bit add does not carry into ah: 0x1ff -> 0x100
  mov $0x1ff, %eax
  add $1, %al
  syscall
  ret
  .size p_carry, .-p_carry

  .type p_and_sub,@function
p_and_sub:
  mov $0x1ff, %eax
  and $0x3f, %al           # 0x13f
  sub $2, %ax              # 0x13d = 317
  syscall
  ret
  .size p_and_sub, .-p_and_sub

  .type p_wide,@function
p_wide:                    # 32/64-bit constant arithmetic and inc/dec
  mov $10, %eax
  add $5, %rax
  sub $3, %eax
  inc %eax
  dec %rax
  inc %eax                 # 13
  syscall
  ret
  .size p_wide, .-p_wide

  .type p_xor8,@function
p_xor8:
  mov $0x105, %eax
  xor %al, %al             # 0x100
  xor $0x7, %al            # 0x107 = 263
  syscall
  ret
  .size p_xor8, .-p_xor8

  .type p_slot,@function
p_slot:                    # movzwl from a frame slot
  sub $16, %rsp
  movl $0x1002a, 4(%rsp)
  movzwl 4(%rsp), %eax     # 42
  add $16, %rsp
  syscall
  ret
  .size p_slot, .-p_slot

  .type p_through,@function
p_through:                 # pending operations travel through push/pop and copies
  mov $0x100, %eax
  push %rax
  pop %rcx
  mov $2, %cl
  mov %ecx, %eax           # 0x102 = 258
  syscall
  ret
  .size p_through, .-p_through

  .type p_branch,@function
p_branch:
  test %edi, %edi
  je 1f
  mov $0x100, %eax
  jmp 2f
1:
  xor %eax, %eax
2:
  mov $56, %al             # 56 or 0x138 = 312
  syscall
  ret
  .size p_branch, .-p_branch

  .type p_cwde,@function
p_cwde:
  mov $0x12340005, %eax
  cwde                     # 5
  cdqe
  syscall
  ret
  .size p_cwde, .-p_cwde

  .type u_param,@function
u_param:                   # the upper bits are the caller's: unresolved, not 56
  mov $56, %al
  syscall
  ret
  .size u_param, .-u_param

  .type u_tworegs,@function
u_tworegs:                 # an 8-bit copy merges two registers: not modelled
  xor %eax, %eax
  mov $0x39, %ecx
  mov %cl, %al
  syscall
  ret
  .size u_tworegs, .-u_tworegs

  .type u_mem,@function
u_mem:                     # a byte loaded from memory
  xor %eax, %eax
  mov (%rdi), %al
  syscall
  ret
  .size u_mem, .-u_mem

  .type u_loop,@function
u_loop:                    # a counter in %al: every bounded value, then given up
  xor %eax, %eax
1:
  inc %al
  dec %edi
  jne 1b
  syscall
  ret
  .size u_loop, .-u_loop

  .type u_movzw_two,@function
u_movzw_two:               # movzbw %cl,%ax merges %cl into %rax's upper bits
  mov $7, %ecx
  movzbw %cl, %ax
  syscall
  ret
  .size u_movzw_two, .-u_movzw_two
`;

let a: CodeAnalysis;
const fnAddr = new Map<string, number>();

function site(fn: string): SyscallSite {
  const addr = fnAddr.get(fn)!;
  const s = a.syscalls.find((x) => x.fn === addr);
  if (!s) throw new Error(`no syscall site in ${fn}`);
  return s;
}

beforeAll(() => {
  const dir = tempDir();
  const bin = compile(dir, 'partial.S', ASM, 'partial', ['-nostdlib', '-static', '-no-pie']);
  const starts = nmFunctions(bin);
  for (const s of starts) fnAddr.set(s.name!, s.addr);
  a = analyzeCode(inputFromBinutils(bin, starts));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('partial-register writes in the backward walk', () => {
  test.each([
    ['p_musl_clone', [56]],
    ['p_ah', [0x134]],
    ['p_ax', [0x10003]],
    ['p_movzx', [200]],
    ['p_movsx', [-1]],
    ['p_movzx_high', [0x27]],
    ['p_arith8', [35]],
    ['p_carry', [0x100]],
    ['p_and_sub', [317]],
    ['p_wide', [13]],
    ['p_xor8', [263]],
    ['p_slot', [42]],
    ['p_through', [258]],
    ['p_branch', [56, 312]],
    ['p_cwde', [5]],
  ])('%s is resolved to %j', (fn, numbers) => {
    expect(site(fn)).toMatchObject({ numbers, fromParams: [], unresolved: [] });
  });

  test('a partial write over a parameter stays unresolved, with a reason, and no constant', () => {
    const s = site('u_param');
    expect(s.numbers).toEqual([]);
    expect(s.fromParams).toEqual([]);
    expect(s.unresolved.map((u) => u.reason)).toEqual([expect.stringMatching(/partial-register operation on a parameter/)]);
  });

  test.each(['u_tworegs', 'u_mem', 'u_movzw_two'])('%s (not modelled) is unresolved and yields no constant', (fn) => {
    const s = site(fn);
    expect(s.numbers).toEqual([]);
    expect(s.unresolved.length).toBeGreaterThan(0);
  });

  test('a loop on %al yields the values it can bound and is reported unresolved beyond them', () => {
    const s = site('u_loop');
    expect(s.numbers).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(s.unresolved.map((u) => u.reason)).toContain('too many partial-register operations on one path');
  });
});

// musl's x86-64 __clone sets the number with `xor %eax,%eax; mov $56,%al`.
const THREADS = String.raw`
#include <pthread.h>
#include <stdio.h>
static void *run(void *p) { return p; }
int main(void) {
  pthread_t t;
  if (pthread_create(&t, 0, run, 0)) return 1;
  pthread_join(t, 0);
  puts("ok");
  return 0;
}
`;

describe('a static musl program that creates a thread', () => {
  const usable = hasTool('musl-gcc') && hasTool('strace');
  let dir: string;
  let bin: string;
  let syscalls: Set<number>;
  beforeAll(async () => {
    if (!usable) throw new Error('musl-gcc and strace are needed');
    dir = tempDir();
    bin = compile(dir, 'threads.c', THREADS, 'threads', ['-static', '-O2'], 'musl-gcc');
    const r = await analyzeBinary('/', bin, new SummarySource());
    syscalls = r.resolution!.syscalls;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('clone is found', () => {
    expect(syscalls.has(syscallNumber('clone')!)).toBe(true);
  });

  test('every syscall strace -f sees (except the initial execve) is in the set', () => {
    const seen = straceNames([bin], dir);
    expect(seen).toContain('clone');
    const missing = [...seen].filter((n) => !syscalls.has(syscallNumber(n)!));
    expect(missing).toEqual([]);
  });
});
