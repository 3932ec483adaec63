import * as fs from 'fs';
import { analyzeCode } from '../x86/analyze-object';
import { BackwardFlow, Recovered } from '../x86/dataflow';
import { resolveEntry } from '../x86/param-syscalls';
import { RAX } from '../x86/registers';
import { compile, inputFromBinutils, nmFunctions, tempDir } from '../x86/test-fixtures';
import type { CodeAnalysis } from '../x86/code-analysis';
import { goFlow } from './go-flow';
import { goClimbScope } from './go-syscalls';

// The Go walk is the x86 backward walk with Go's call convention (go-flow.ts). It once
// was a copy of it that drifted: `sysenter` kept %rdx there, a value live at a call
// target inside a function was not also taken from that target's callers, the ZF edge
// of je/jne fixed nothing. Each shape below is walked both ways: where the conventions
// agree the answers must be equal, where they differ each must follow its own.
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

  .type s_sysenter_rdx,@function
s_sysenter_rdx:            # the kernel returns from sysenter through %rdx: 39 is gone
  mov $39, %edx
  sysenter
  mov %rdx, %rax
  syscall
  ret
  .size s_sysenter_rdx, .-s_sysenter_rdx

  .type s_sysenter_rsi,@function
s_sysenter_rsi:            # near miss: %rsi survives it
  mov $39, %esi
  sysenter
  mov %rsi, %rax
  syscall
  ret
  .size s_sysenter_rsi, .-s_sysenter_rsi

  .type s_test_je,@function
s_test_je:                 # the taken edge of je after test %rax,%rax runs with 0
  mov (%rdi), %rax
  test %rax, %rax
  je 1f
  ret
1:
  syscall
  ret
  .size s_test_je, .-s_test_je

  .type s_inner,@function
s_inner:                   # 1 on the way through, and whatever callers of the label pass
  mov $1, %eax
2:
  syscall
  ret
  .size s_inner, .-s_inner

  .type s_inner_caller,@function
s_inner_caller:
  mov $2, %eax
  call 2b
  ret
  .size s_inner_caller, .-s_inner_caller

  .type g_callee_saved,@function
g_callee_saved:            # %rbx survives a SysV call, not a Go one
  mov $39, %ebx
  call clobber
  mov %rbx, %rax
  syscall
  ret
  .size g_callee_saved, .-g_callee_saved

  .type g_frame_pointer,@function
g_frame_pointer:           # Go's frame: lea off(%rsp),%rbp does not let callees write the slots
  sub $24, %rsp
  mov %rbp, 16(%rsp)
  lea 16(%rsp), %rbp
  movl $39, 8(%rsp)
  call clobber
  mov 8(%rsp), %rax
  syscall
  mov 16(%rsp), %rbp
  add $24, %rsp
  ret
  .size g_frame_pointer, .-g_frame_pointer

  .type w_number,@function
w_number:                  # a wrapper taking the number in %rdi
  mov %rdi, %rax
  syscall
  ret
  .size w_number, .-w_number

  .type c_runs,@function
c_runs:
  mov $39, %edi
  call w_number
  ret
  .size c_runs, .-c_runs

  .type c_never,@function
c_never:
  mov $60, %edi
  call w_number
  ret
  .size c_never, .-c_never
`;

let a: CodeAnalysis;
let sysv: BackwardFlow;
let go: BackwardFlow;
const fnAddr = new Map<string, number>();

beforeAll(() => {
  const dir = tempDir();
  const bin = compile(dir, 'flows.S', ASM, 'flows', ['-nostdlib', '-static', '-no-pie']);
  const starts = nmFunctions(bin);
  for (const s of starts) fnAddr.set(s.name!, s.addr);
  a = analyzeCode(inputFromBinutils(bin, starts));
  fs.rmSync(dir, { recursive: true, force: true });
  sysv = new BackwardFlow(a.program, a.noReturn);
  go = goFlow(a.program, a.noReturn);
});
afterAll(() => {
  sysv?.free();
  go?.free();
});

/** What %rax can hold at the `syscall` of function `fn`, in a form to compare. */
function numberAt(flow: BackwardFlow, fn: string): { numbers: number[]; params: unknown[]; reasons: string[] } {
  const site = a.syscalls.find((s) => s.fn === fnAddr.get(fn) && s.insn === 'syscall');
  if (!site) throw new Error(`no syscall in ${fn}`);
  const r: Recovered = flow.valuesBefore(a.program.indexOf(site.addr)!, { r: RAX });
  return {
    numbers: [...r.numbers].sort((x, y) => x - y),
    params: [...r.params.values()],
    reasons: [...r.unresolved.values()].map((u) => u.reason),
  };
}

describe('the Go walk shares every rule the conventions do not set', () => {
  test.each(['s_sysenter_rdx', 's_sysenter_rsi', 's_test_je', 's_inner'])('%s: the Go walk answers as the SysV walk', (fn) => {
    expect(numberAt(go, fn)).toEqual(numberAt(sysv, fn));
  });

  test('sysenter clobbers %rdx on the Go path (no stale 39)', () => {
    expect(numberAt(go, 's_sysenter_rdx')).toEqual({ numbers: [], params: [], reasons: ['rdx clobbered by syscall'] });
    expect(numberAt(go, 's_sysenter_rsi')).toMatchObject({ numbers: [39], reasons: [] });
  });

  test('the je edge after test %rax,%rax gives 0', () => {
    expect(numberAt(go, 's_test_je')).toEqual({ numbers: [0], params: [], reasons: [] });
  });

  test('a call target inside a function is an entry: its callers pass the value too', () => {
    const r = numberAt(go, 's_inner');
    expect(r.numbers).toEqual([1]);
    expect(r.params).toEqual([{ fn: expect.any(Number), loc: 'rax' }]);
    expect((r.params[0] as { fn: number }).fn).toBeGreaterThan(fnAddr.get('s_inner')!);
  });
});

describe("what Go's convention changes", () => {
  test('no register survives a Go call (ABIInternal has no callee-saved ones); %rbx survives a SysV call', () => {
    expect(numberAt(sysv, 'g_callee_saved')).toMatchObject({ numbers: [39], reasons: [] });
    expect(numberAt(go, 'g_callee_saved')).toEqual({ numbers: [], params: [], reasons: ['rbx clobbered by call'] });
  });

  test("Go's frame pointer set-up does not make the frame escape; for SysV it is a frame address like any other", () => {
    expect(numberAt(go, 'g_frame_pointer')).toMatchObject({ numbers: [39], reasons: [] });
    expect(numberAt(sysv, 'g_frame_pointer')).toMatchObject({ numbers: [], reasons: ['frame slot may be written by a callee (frame address escapes)'] });
  });
});

describe("the climb from a Go wrapper's parameter to its callers (x86 resolveEntry over Go's closed program)", () => {
  const fns = (...names: string[]) => new Set(names.map((n) => fnAddr.get(n)!));
  function climb(reachable: Set<number>, addressTaken: Set<number>) {
    const [ev] = go.valuesBefore(a.program.indexOf(a.syscalls.find((s) => s.fn === fnAddr.get('w_number'))!.addr)!, { r: RAX }).params.values();
    const r = resolveEntry(a, go, ev, 8, new Map(), new Set(), goClimbScope({ reachable, addressTaken }));
    return { numbers: r.uses.flatMap((u) => u.numbers).sort((x, y) => x - y), open: r.open, reasons: r.unresolved.map((u) => u.reason) };
  }

  test('only reachable callers pass numbers', () => {
    expect(climb(fns('w_number', 'c_runs'), new Set())).toEqual({ numbers: [39], open: [], reasons: [] });
  });

  test('an entry without a reachable caller, or that an indirect call can enter, is unresolved (never open: the program is closed)', () => {
    expect(climb(fns('w_number'), new Set())).toEqual({ numbers: [], open: [], reasons: ['%rdi of w_number, which has no direct caller in reachable code'] });
    expect(climb(fns('w_number', 'c_runs'), fns('w_number'))).toEqual({ numbers: [39], open: [], reasons: ['%rdi of w_number, which is called indirectly'] });
  });

  test('the same climb over one object on its own counts every caller', () => {
    const [ev] = sysv.valuesBefore(a.program.indexOf(a.syscalls.find((s) => s.fn === fnAddr.get('w_number'))!.addr)!, { r: RAX }).params.values();
    const r = resolveEntry(a, sysv, ev, 4, new Map(), new Set());
    expect(r.uses.flatMap((u) => u.numbers).sort((x, y) => x - y)).toEqual([39, 60]);
  });
});
