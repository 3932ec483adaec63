import * as fs from 'fs';
import * as path from 'path';
import { analyzeBinary } from '../../system/host/analyze-programs';
import { SummarySource } from '../../system/host/summary-source';
import { syscallNumber } from '../syscalls/table';
import { sh, tempDir } from '../x86/test-fixtures';
import type { ProgramResolution } from './link';

// analysis/x86/callback-context.ts: musl 1.2.3's setuid → __setxid(nr, …) stores nr in a
// struct on its stack and calls __synccall(do_setxid, &c); __synccall spills the callback
// to its frame and calls it with the context, directly or from a signal handler through
// two private globals. do_setxid loads the number from 0xc of its argument. The fixture
// has that shape (and near misses, by -D flags): setuid is reached, setgid is not.
const FIXTURE = String.raw`
#ifndef STORE_AT
#define STORE_AT 0xc
#endif
  .text
  .globl _start
  .type _start,@function
_start:
  mov $1000,%edi
  call my_setuid
  mov $60,%eax
  xor %edi,%edi
  syscall
  hlt
  .size _start,.-_start

  .type my_setuid,@function
my_setuid:              // tail-jumps to setxid, like musl's setuid
  mov %edi,%esi
  mov $105,%edi
  jmp setxid
  .size my_setuid,.-my_setuid

  .type my_setgid,@function
my_setgid:              // not reached
  mov %edi,%esi
  mov $106,%edi
  jmp setxid
  .size my_setgid,.-my_setgid

  .type do_setxid,@function
do_setxid:              // the callback: the number at 0xc of its context
  push %rbx
  mov %rdi,%rbx
  movslq 0xc(%rdi),%rax
  movslq (%rbx),%rdi
  syscall
  mov %eax,0x10(%rbx)
  pop %rbx
  ret
  .size do_setxid,.-do_setxid

  .type setxid,@function
setxid:                 // struct { id; ...; nr at 0xc; ret at 0x10 } on the stack
  sub $0x28,%rsp
  mov %esi,(%rsp)
  mov %rsp,%rsi
  mov %edi,STORE_AT(%rsp)
  mov %edx,0x8(%rsp)    // a 4-byte store just below the number leaves it alone
  lea do_setxid(%rip),%rdi
  movl $1,0x10(%rsp)
  call synccall
  movslq 0x10(%rsp),%rax
  add $0x28,%rsp
  ret
  .size setxid,.-setxid

  .type dummy,@function
dummy:
  ret
  .size dummy,.-dummy

  .type handler,@function
handler:                // runs the callback in another thread, then tells S (musl: sem_post)
  push %rbx
  mov context(%rip),%rdi
  call *callback(%rip)
  lea 0x8(%rsp),%rdi
  call block
  pop %rbx
  ret
  .size handler,.-handler

  .type block,@function
block:                  // one argument: rt_sigprocmask(SIG_BLOCK, 0, set, 8)
  mov %rdi,%rdx
  xor %esi,%esi
  xor %edi,%edi
  mov $8,%r10d
  mov $14,%eax
  syscall
  ret
  .size block,.-block

  .type synccall,@function
synccall:               // S(func, ctx)
  push %rbx
  push %r12
  sub $0x38,%rsp
  mov %rdi,0x8(%rsp)    // the callback, spilled below every frame address handed out
  mov %rsi,%r12
  lea 0x20(%rsp),%rdi
  call block            // %rsi still holds the context: block takes one argument
#ifdef LEAK_FN
  mov 0x8(%rsp),%rdi    // the callback handed to a callee that reads it
  call block
#endif
#ifdef OTHER_STORE
  lea 0x20(%rsp),%rax   // another value in the context global: the handler's pairing is lost
  mov %rax,context(%rip)
#endif
  lea handler(%rip),%rax
  mov %rax,0x18(%rsp)
  cmpl $0,threaded(%rip)
  je 1f
  mov 0x8(%rsp),%rax
  mov %r12,context(%rip)
  mov %rax,callback(%rip)
  lea 0x20(%rsp),%rdi
  call block
  lea dummy(%rip),%rax
  mov %rax,callback(%rip)
  mov %rax,0x8(%rsp)
1:
#ifdef OTHER_CTX
  lea 0x20(%rsp),%rdi
#else
  mov %r12,%rdi
#endif
  mov 0x8(%rsp),%rax
  call *%rax
  add $0x38,%rsp
  pop %r12
  pop %rbx
  ret
  .size synccall,.-synccall

#ifdef DATA_REF
  .data
  .align 8
  .quad do_setxid
#endif
  .bss
  .align 8
context: .quad 0
callback: .quad 0
threaded: .long 0
`;

jest.setTimeout(120_000);

const nr = (name: string) => syscallNumber(name)!;
let dir: string;
const source = new SummarySource();

async function resolve(name: string, flags: string[]): Promise<ProgramResolution> {
  const bin = path.join(dir, name);
  fs.writeFileSync(`${bin}.S`, FIXTURE);
  sh('gcc', ['-nostdlib', '-pie', '-Wl,-z,noexecstack', ...flags, '-o', bin, `${bin}.S`]);
  const a = await analyzeBinary('/', bin, source);
  if (!a.resolution) throw new Error(`${bin}: ${a.error}`);
  return a.resolution;
}

const mine = (res: ProgramResolution, name: string) => res.unresolvedSites.filter((u) => u.object.endsWith(`/${name}`));

beforeAll(() => {
  dir = tempDir('confine-callback-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('callback called with its context (musl __synccall(do_setxid, &c))', () => {
  test('the reached caller’s number only, nothing unresolved', async () => {
    const res = await resolve('paired', []);
    expect(res.syscalls.has(nr('setuid'))).toBe(true);
    expect(res.syscalls.has(nr('setgid'))).toBe(false);
    expect(res.unresolvedSites).toEqual([]);
  });

  test.each([
    ['its address also held in data', 'data-ref', ['-DDATA_REF'], /data holds its address/],
    ['S calls it with another context', 'other-ctx', ['-DOTHER_CTX'], /another context/],
    ['the caller stores the number at another offset', 'other-field', ['-DSTORE_AT=0x8'], /number loaded from the structure/],
    ['S hands the callback to a callee', 'leak-fn', ['-DLEAK_FN'], /passed to a callee/],
    ['the context global also holds another value', 'other-store', ['-DOTHER_STORE'], /another context/],
  ])('near miss, %s: the site stays unresolved', async (_what, name, flags, why) => {
    const res = await resolve(name, flags);
    const u = mine(res, name);
    expect(u.length).toBeGreaterThan(0);
    expect(u.some((x) => why.test(x.reason))).toBe(true);
  });
});
