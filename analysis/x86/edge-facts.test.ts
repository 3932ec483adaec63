import * as fs from 'fs';
import { analyzeCode } from './analyze-object';
import { compile, inputFromBinutils, nmFunctions, tempDir } from './test-fixtures';
import type { SyscallSite } from './types';
import type { CodeAnalysis } from './code-analysis';

// Two facts of the control flow the backward walk uses (x86/dataflow.ts): the value a
// compare fixes on the edge of a `je`/`jne` that runs with ZF set, and an indirect jump
// after an epilogue being a tail call rather than a jump table. Hand-written shapes,
// each with a near miss that must stay unresolved.
const ASM = String.raw`
  .text
  .globl _start
  .type _start,@function
_start:
  hlt
  .size _start, .-_start

  .type clobber,@function
clobber:
  ret
  .size clobber, .-clobber

  # musl's __stdio_read: readv when the buffer is non-empty, read (0) on the je edge,
  # where %rax was just tested zero (the adc before it is not modelled).
  .type z_test_je,@function
z_test_je:
  mov %rdx, %rax
  cmp $1, %rdx
  adc $-1, %rax
  test %rax, %rax
  je 1f
  mov $19, %eax
  syscall
  ret
1:
  syscall
  ret
  .size z_test_je, .-z_test_je

  .type z_cmp_jne,@function
z_cmp_jne:                 # the fall-through of jne after cmp $39,%eax: 39
  mov (%rdi), %eax
  cmp $39, %eax
  jne 1f
  syscall
1:
  ret
  .size z_cmp_jne, .-z_cmp_jne

  .type z_cmp64_pending,@function
z_cmp64_pending:           # 64-bit cmp, then a pending add: 0x100 + 2
  mov (%rdi), %rax
  cmp $0x100, %rax
  je 1f
  ret
1:
  add $2, %eax
  syscall
  ret
  .size z_cmp64_pending, .-z_cmp64_pending

  .type n_test8,@function
n_test8:                   # only %al is known zero
  mov (%rdi), %rax
  test %al, %al
  je 1f
  ret
1:
  syscall
  ret
  .size n_test8, .-n_test8

  .type n_jne_taken,@function
n_jne_taken:               # the taken edge of jne: non-zero, any value
  mov (%rdi), %rax
  test %rax, %rax
  jne 1f
  ret
1:
  syscall
  ret
  .size n_jne_taken, .-n_jne_taken

  .type n_two_regs,@function
n_two_regs:                # test of two registers says nothing about either
  mov (%rdi), %rax
  test %rcx, %rax
  je 1f
  ret
1:
  syscall
  ret
  .size n_two_regs, .-n_two_regs

  .type n_other_reg,@function
n_other_reg:               # the tested register is not the number's
  mov (%rdi), %rax
  test %rcx, %rcx
  je 1f
  ret
1:
  syscall
  ret
  .size n_other_reg, .-n_other_reg

  .type n_joined,@function
n_joined:                  # the je is also reached by a jump: its flags may be another compare's
  mov (%rdi), %rax
  test %rsi, %rsi
  jne 2f
  test %rax, %rax
3:
  je 1f
  ret
2:
  cmp %rcx, %rdx
  jmp 3b
1:
  syscall
  ret
  .size n_joined, .-n_joined

  # musl's aio cleanup(): a futex syscall whose number sits in %r8 (kept across the
  # first syscall), in a block nothing falls into, in a function that ends with a tail
  # call through a pointer after restoring %rbx. Were that jump a jump table, the block
  # could be reached from it with %r8 clobbered by the call on the other path.
  .type t_epilogue,@function
t_epilogue:
  push %rbx
  mov %rdi, %rbx
  test %rsi, %rsi
  je 1f
  mov $202, %r8d
  mov %r8, %rax
  syscall
  cmp $-38, %rax
  je 2f
3:
  mov 8(%rbx), %rax
  pop %rbx
  jmp *%rax
  .p2align 4
2:
  mov %r8, %rax
  syscall
  jmp 3b
1:
  call clobber
  jmp 3b
  .size t_epilogue, .-t_epilogue

  .type n_no_epilogue,@function
n_no_epilogue:             # the same without the restore: the jump may be a jump table
  test %rsi, %rsi
  je 1f
  mov $202, %r8d
  mov %r8, %rax
  syscall
  cmp $-38, %rax
  je 2f
3:
  mov 8(%rdi), %rax
  jmp *%rax
  .p2align 4
2:
  mov %r8, %rax
  syscall
  jmp 3b
1:
  call clobber
  jmp 3b
  .size n_no_epilogue, .-n_no_epilogue

  .type n_pop_scratch,@function
n_pop_scratch:             # a pop of a caller-saved register is no epilogue
  push %rcx
  test %rsi, %rsi
  je 1f
  mov $202, %r8d
  mov %r8, %rax
  syscall
  cmp $-38, %rax
  je 2f
3:
  mov 8(%rdi), %rax
  pop %rcx
  jmp *%rax
  .p2align 4
2:
  mov %r8, %rax
  syscall
  jmp 3b
1:
  call clobber
  jmp 3b
  .size n_pop_scratch, .-n_pop_scratch
`;

let a: CodeAnalysis;
const fnAddr = new Map<string, number>();

function sites(fn: string): SyscallSite[] {
  const addr = fnAddr.get(fn)!;
  const s = a.syscalls.filter((x) => x.fn === addr);
  if (!s.length) throw new Error(`no syscall site in ${fn}`);
  return s;
}

beforeAll(() => {
  const dir = tempDir();
  const bin = compile(dir, 'edges.S', ASM, 'edges', ['-nostdlib', '-static', '-no-pie']);
  const starts = nmFunctions(bin);
  for (const s of starts) fnAddr.set(s.name!, s.addr);
  a = analyzeCode(inputFromBinutils(bin, starts));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the value a compare fixes on the ZF edge of je / jne', () => {
  test('test %rax,%rax; je: the taken edge runs with 0 (musl __stdio_read), the other site keeps its own constant', () => {
    const [readv, read] = sites('z_test_je');
    expect(readv).toMatchObject({ numbers: [19], unresolved: [] });
    expect(read).toMatchObject({ numbers: [0], fromParams: [], unresolved: [] });
  });

  test.each([
    ['z_cmp_jne', [39]],
    ['z_cmp64_pending', [0x102]],
  ])('%s is resolved to %j', (fn, numbers) => {
    expect(sites(fn)[0]).toMatchObject({ numbers, fromParams: [], unresolved: [] });
  });

  test.each(['n_test8', 'n_jne_taken', 'n_two_regs', 'n_other_reg', 'n_joined'])('%s (a near miss) stays unresolved, with no constant', (fn) => {
    const s = sites(fn)[0];
    expect(s.numbers).toEqual([]);
    expect(s.unresolved.length).toBeGreaterThan(0);
  });
});

describe('an indirect jump after an epilogue is a tail call, not a jump table', () => {
  test('the block nothing falls into is reached only by its direct jump: %r8 is 202 (musl aio cleanup)', () => {
    for (const s of sites('t_epilogue')) expect(s).toMatchObject({ numbers: [202], fromParams: [], unresolved: [] });
  });

  test.each(['n_no_epilogue', 'n_pop_scratch'])('%s: the jump may be a jump table, the second site stays unresolved', (fn) => {
    const [first, second] = sites(fn);
    expect(first).toMatchObject({ numbers: [202], unresolved: [] });
    expect(second.numbers).toEqual([202]);
    expect(second.unresolved.map((u) => u.reason)).toContain('r8 clobbered by call');
  });
});
