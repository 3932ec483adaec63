import { BackwardFlow, CallConvention, KnownVariables } from '../x86/dataflow';
import type { Program } from '../x86/program';
import { RBP, RSP } from '../x86/registers';

/**
 * The two rules of the x86 backward walk (analysis/x86/dataflow.ts) that Go code needs changed:
 *
 * - Every Go function with a frame sets its frame pointer with `lea off(%rsp),%rbp`.
 *   The SysV walk counts that as "frame address escapes" and then gives up on any
 *   stack slot across a call — and Go's wrappers (`syscall.Syscall`) keep the number
 *   in a stack slot across `runtime.entersyscall`. Here only frame addresses loaded
 *   into registers other than %rbp make the frame escape: callees save and restore
 *   %rbp but never store through it.
 * - Go's register ABI (ABIInternal) has no callee-saved general-purpose registers
 *   (only %rsp, %rbp, and %r14 = g are preserved): a register read after a call is a
 *   result, never the caller's value. So every register but %rsp/%rbp is lost at a call.
 */
export const GO_CONVENTION: CallConvention = {
  callClobbers: new Set(Array.from({ length: 16 }, (_, r) => r).filter((r) => r !== RSP && r !== RBP)),
  rbpFromRspIsFramePointer: true,
};

/**
 * The backward walk over a Go binary: Go's call convention, and package variables
 * holding numbers (globals.ts; without them such loads stay unresolved).
 */
export function goFlow(prog: Program, noReturn: Set<number>, globals?: KnownVariables): BackwardFlow {
  return new BackwardFlow(prog, noReturn, { convention: GO_CONVENTION, variables: globals });
}
