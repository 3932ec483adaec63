/**
 * Plain-data inputs and outputs of the x86-64 code analysis. Nothing here knows
 * about ELF: the caller (see from-elf.ts) cuts the executable bytes out of the
 * file and says where functions start and which addresses are PLT stubs.
 */

export interface FunctionStart {
  addr: number;
  /** From an FDE or st_size; when absent the function ends at the next start. */
  size?: number;
  name?: string;
  /** Callable from other objects (in .dynsym): its parameters can come from anywhere. */
  exported?: boolean;
  /**
   * Only an address found in data (a relocation's target, a pointer-sized word): a guess,
   * which never cuts the code of a function an FDE or symbol gives (analysis/x86/data-starts.ts).
   */
  fromData?: boolean;
}

export interface CodeInput {
  /** The executable bytes, from the first executable byte to the last (see `regions`). */
  code: Uint8Array;
  /** Virtual address of code[0]. */
  codeVaddr: number;
  /**
   * The executable runs within `code`, sorted (from-elf.ts: an object's PF_X segments);
   * the bytes between them are unmapped, filled with int3, and begin no function.
   * Absent: all of `code` is executable.
   */
  regions?: { addr: number; size: number }[];
  /**
   * Executable bytes left out of `regions` (filled with int3) because the object says
   * they are data (from-elf.ts: non-code sections sharing a segment with code). A branch
   * into them means it lied: the caller analyses again with them as code.
   */
  withheld?: { addr: number; size: number }[];
  functionStarts: FunctionStart[];
  /** PLT stub address → imported symbol name (calls and jumps there are imports). */
  pltTargets: Map<number, string>;
  /**
   * Code addresses whose address is taken outside the code (relocations, init/fini
   * arrays, IFUNC targets): such functions can be entered from unknown callers.
   */
  extraAddressTaken?: Iterable<number>;
  /**
   * Record the data addresses each function names (FunctionInfo.dataRefs); `absolute`
   * for position-dependent code, whose immediates and displacements are addresses.
   */
  dataRefs?: { absolute: boolean };
}

/** Registers by their 64-bit name; the low 32 bits are what the kernel reads as the syscall number. */
export type Gpr =
  | 'rax' | 'rcx' | 'rdx' | 'rbx' | 'rsp' | 'rbp' | 'rsi' | 'rdi'
  | 'r8' | 'r9' | 'r10' | 'r11' | 'r12' | 'r13' | 'r14' | 'r15';

/**
 * Where a value sits at a function's entry: a register, or a stack slot given as
 * its offset from %rsp at entry (8 is the first stack-passed argument; 0 is the
 * return address).
 */
export type ParamLoc = Gpr | { stack: number };

export type SyscallInsn = 'syscall' | 'int80' | 'sysenter';

/** Why the value of a location could not be recovered on some path. */
export interface Unresolved {
  reason: string;
  /** Address of the instruction where the backward walk gave up. */
  at: number;
}

/** Every value that can reach one program point, by path: constants, entry values, or failures. */
export interface ValueSet {
  numbers: number[];
  /** The value is whatever `loc` held at the entry of function `fn` (resolved at its call sites). */
  fromParams: { fn: number; loc: ParamLoc }[];
  unresolved: Unresolved[];
}

export interface SyscallSite extends ValueSet {
  addr: number;
  /** Start address of the containing function. */
  fn: number;
  fnName?: string;
  /**
   * `int80` uses the i386 syscall table and `sysenter` the i386 ABI as well: their
   * numbers are NOT x86-64 numbers, the caller must map or allow them specially.
   */
  insn: SyscallInsn;
}

export interface FunctionInfo {
  addr: number;
  end: number;
  name?: string;
  exported: boolean;
  /** Direct `call`s to function starts inside this object. */
  calls: number[];
  /** Direct `jmp`s to another function's start (tail calls). */
  tailCalls: number[];
  /**
   * Direct jumps into the middle of another function (split `.cold` parts, shared
   * epilogues): reaching this function can reach that one.
   */
  jumpsInto: number[];
  /** Imported symbols called or jumped to through PLT stubs. */
  imports: string[];
  /** Function starts whose address this function's code materialises (lea rip-relative, mov imm). */
  addressTaken: number[];
  /** Imports whose PLT stub address the code materialises (position-dependent code taking `&puts`: the stub is its canonical address). */
  importsTaken?: string[];
  hasIndirectCall: boolean;
  hasIndirectJump: boolean;
  /** Syscall instructions, by address (details in CodeAnalysis.syscalls). */
  syscalls: number[];
  /** Direct calls/jumps whose target is no function start nor PLT stub nor inside a known function. */
  unknownTargets: number[];
  /** Addresses (any, not only data: the caller filters) that instructions load, store or materialise; with CodeInput.dataRefs. */
  dataRefs?: number[];
  /** The subset of dataRefs whose address is materialised (lea, mov imm): an object's address taken. */
  dataAddressTaken?: number[];
}

