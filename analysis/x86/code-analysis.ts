/**
 * What analysing one object's code gives: kept apart from types.ts (plain data) because it
 * holds the Program handle, and program.ts itself uses those plain types.
 */
import type { Program } from './program';
import type { FunctionInfo, SyscallSite } from './types';

export interface CodeAnalysis {
  functions: Map<number, FunctionInfo>;
  syscalls: SyscallSite[];
  /** Every function start whose address is taken (by code in this object or given as extra). */
  addressTaken: Set<number>;
  /** Timings in milliseconds, for reports and benchmarks. */
  timing: { decodeMs: number; syscallFlowMs: number };
  instructionCount: number;
  /** The PLT stub map the analysis was given. */
  plt: Map<number, string>;
  /** Function starts and PLT stubs found never to return (see noreturn.ts). */
  noReturn: Set<number>;
  /**
   * Data-derived entries settled inside a function instead of cutting it (data-starts.ts),
   * and the places where a second decoding of a function's bytes runs back into the
   * first: address → start of the function holding it. Whatever holds such an address
   * holds a pointer into that function.
   */
  innerEntries: Map<number, number>;
  /** Internal handle for later data-flow queries (param-syscalls.ts). */
  program: Program;
}
