import { Register } from 'iced-x86';
import type { Gpr } from './types';

export const GPR_NAMES: Gpr[] = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
];
export const RAX = 0;
export const RCX = 1;
export const RDX = 2;
export const RSP = 4;
export const RBP = 5;
export const RSI = 6;
export const RDI = 7;
export const R8 = 8;
export const R9 = 9;
export const R10 = 10;
export const R11 = 11;

/** SysV AMD64: registers a callee may change. */
export const CALLER_SAVED = new Set([RAX, RCX, RDX, RSI, RDI, R8, R9, R10, R11]);

/** SysV AMD64: registers a callee preserves (rbx, rbp, r12–r15). */
export const CALLEE_SAVED = new Set([3, RBP, 12, 13, 14, 15]);

export type GprInfo = Readonly<{ idx: number; bits: 8 | 16 | 32 | 64; high8?: boolean }>;

function gprOf(reg: Register): GprInfo | undefined {
  if (reg >= Register.RAX && reg <= Register.R15) return { idx: reg - Register.RAX, bits: 64 };
  if (reg >= Register.EAX && reg <= Register.R15D) return { idx: reg - Register.EAX, bits: 32 };
  if (reg >= Register.AX && reg <= Register.R15W) return { idx: reg - Register.AX, bits: 16 };
  if (reg >= Register.AL && reg <= Register.BL) return { idx: reg - Register.AL, bits: 8 };
  if (reg >= Register.AH && reg <= Register.BH) return { idx: reg - Register.AH, bits: 8, high8: true };
  if (reg >= Register.SPL && reg <= Register.R15L) return { idx: reg - Register.SPL + 4, bits: 8 };
  return undefined;
}

// Every decoded operand asks: one frozen answer per register instead of an object per question.
const GPR_TABLE: (GprInfo | undefined)[] = [];
const LAST_GPR = Math.max(Register.R15, Register.R15D, Register.R15W, Register.R15L, Register.BH);
for (let r = 0; r <= LAST_GPR; r++) {
  const g = gprOf(r as Register);
  GPR_TABLE[r] = g && Object.freeze(g);
}

/** Family index 0..15 of a general-purpose register and the width written, or undefined for non-GPRs. */
export function gpr(reg: Register): GprInfo | undefined {
  return reg < GPR_TABLE.length ? GPR_TABLE[reg] : gprOf(reg);
}

export function gprIndex(name: Gpr): number {
  return GPR_NAMES.indexOf(name);
}
