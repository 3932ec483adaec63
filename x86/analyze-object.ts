import { BackwardFlow, Recovered } from './dataflow';
import { noReturnTargets } from './noreturn';
import { K, Program } from './program';
import { RAX } from './registers';
import type { CodeAnalysis, CodeInput, FunctionInfo, SyscallInsn, SyscallSite, ValueSet } from './types';

const INSN: Record<number, SyscallInsn> = { [K.SYSCALL]: 'syscall', [K.INT80]: 'int80', [K.SYSENTER]: 'sysenter' };

/**
 * Decodes one object's code and extracts, per function, the facts the call graph
 * and the seccomp profile need: direct call edges, tail calls, imports reached
 * through PLT stubs, address-taken functions, indirect transfers, and every
 * syscall instruction with the numbers that can reach %eax there.
 */
export function analyzeCode(input: CodeInput): CodeAnalysis {
  return finishAnalysis(decodeFunctions(input));
}

/** The first half of analyzeCode: decoding and per-function facts, without any data-flow. */
export interface DecodedCode {
  input: CodeInput;
  prog: Program;
  functions: Map<number, FunctionInfo>;
  addressTaken: Set<number>;
  syscallIdx: number[];
  t0: number;
  t1: number;
}

/**
 * Decodes and collects per-function facts (calls, targets, syscall instructions). A
 * caller that may change the function starts and decode again (analysis/object-summary's
 * rounds for unknown call targets) looks at these facts only, and runs the data-flow
 * half once, on its final input: finishAnalysis(decodeFunctions(input)) is
 * analyzeCode(input).
 */
export function decodeFunctions(input: CodeInput): DecodedCode {
  const t0 = performance.now();
  const prog = Program.decode(input.code, input.codeVaddr, input.functionStarts, input.dataRefs ? { dataRefs: input.dataRefs } : {});
  const t1 = performance.now();

  const starts = new Set(prog.functions.map((f) => f.addr));
  const addressTaken = new Set<number>();
  for (const a of input.extraAddressTaken ?? []) if (starts.has(a)) addressTaken.add(a);

  const functions = new Map<number, FunctionInfo>();
  const syscallIdx: number[] = [];
  // One set of each per object, emptied per function: ~5 Set allocations per function
  // were a large share of the analysis of big objects (GC).
  const calls = new Set<number>();
  const tails = new Set<number>();
  const into = new Set<number>();
  const imports = new Set<number | string>();
  const taken = new Set<number>();
  const importsTaken = new Set<string>();
  const list = <T>(s: Set<T>): T[] => (s.size ? [...s] : []);
  // Materialised constants are mostly not PLT addresses: a range check saves the map lookup.
  let pltLo = Infinity;
  let pltHi = -Infinity;
  for (const a of input.pltTargets.keys()) {
    if (a < pltLo) pltLo = a;
    if (a > pltHi) pltHi = a;
  }
  const withRefs = !!input.dataRefs;
  // Data references arrive in instruction order, so each function's are one run.
  let ref = 0;
  const refs = new Set<number>();
  const refsTaken = new Set<number>();
  for (let f = 0; f < prog.functions.length; f++) {
    const pf = prog.functions[f];
    const unknownTargets: number[] = [];
    const fnSyscalls: number[] = [];
    let hasIndirectCall = false;
    let hasIndirectJump = false;
    calls.clear();
    tails.clear();
    into.clear();
    imports.clear();
    taken.clear();
    importsTaken.clear();
    for (let i = pf.first; i < pf.last; i++) {
      const kind = prog.kind[i];
      switch (kind) {
        case K.CALL:
        case K.JMP:
        case K.JCC: {
          const t = prog.target[i];
          if (t >= pf.addr && t < pf.end) break; // intra-function
          const imp = input.pltTargets.get(t);
          if (imp !== undefined) imports.add(imp);
          else if (starts.has(t)) (kind === K.CALL ? calls : tails).add(t);
          else {
            const g = prog.functionIndexContaining(t);
            if (g !== undefined) into.add(prog.functions[g].addr);
            else unknownTargets.push(t);
          }
          break;
        }
        case K.CALL_IND:
          hasIndirectCall = true;
          break;
        case K.JMP_IND:
          hasIndirectJump = true;
          break;
        case K.SYSCALL:
        case K.INT80:
        case K.SYSENTER:
          syscallIdx.push(i);
          fnSyscalls.push(prog.addr[i]);
          break;
        case K.NEXT: {
          const t = prog.target[i];
          if (!Number.isNaN(t) && starts.has(t)) taken.add(t);
          else if (t >= pltLo && t <= pltHi) {
            const imp = input.pltTargets.get(t);
            if (imp !== undefined) importsTaken.add(imp);
          }
          break;
        }
      }
    }
    refs.clear();
    refsTaken.clear();
    while (ref < prog.refCount && prog.refInsn[ref] < pf.last) {
      if (prog.refInsn[ref] >= pf.first) {
        refs.add(prog.refAddr[ref]);
        if (prog.refOf[ref]) refsTaken.add(prog.refAddr[ref]);
      }
      ref++;
    }
    const info: FunctionInfo = {
      addr: pf.addr, end: pf.end, name: pf.name, exported: pf.exported,
      calls: list(calls), tailCalls: list(tails), jumpsInto: list(into), imports: list(imports).map(String), addressTaken: list(taken),
      hasIndirectCall, hasIndirectJump, syscalls: fnSyscalls, unknownTargets,
    };
    // Assigned, not spread from a temporary object per function (a slow object clone).
    if (withRefs) {
      info.dataRefs = list(refs);
      info.dataAddressTaken = list(refsTaken);
    }
    if (importsTaken.size) info.importsTaken = list(importsTaken);
    for (const a of taken) addressTaken.add(a);
    functions.set(pf.addr, info);
  }

  return { input, prog, functions, addressTaken, syscallIdx, t0, t1 };
}

/** The second half of analyzeCode: which functions never return, and the numbers at every syscall instruction. */
export function finishAnalysis(d: DecodedCode): CodeAnalysis {
  const { input, prog, functions, addressTaken, syscallIdx, t0, t1 } = d;
  const noReturn = noReturnTargets(prog, input.pltTargets);
  const flow = new BackwardFlow(prog, noReturn);
  const syscalls: SyscallSite[] = [];
  try {
    for (const i of syscallIdx) {
      const pf = prog.functions[prog.fnOf[i]];
      const v = toValueSet(flow.valuesBefore(i, { r: RAX }));
      syscalls.push({ addr: prog.addr[i], fn: pf.addr, fnName: pf.name, insn: INSN[prog.kind[i]], ...v });
    }
  } finally {
    flow.free();
  }
  const t2 = performance.now();

  return {
    functions, syscalls, addressTaken, program: prog, instructionCount: prog.n, plt: input.pltTargets, noReturn,
    timing: { decodeMs: t1 - t0, syscallFlowMs: t2 - t1 },
  };
}

export function toValueSet(r: Recovered): ValueSet {
  return {
    numbers: [...r.numbers].sort((a, b) => a - b),
    fromParams: [...r.params.values()],
    unresolved: [...r.unresolved.values()],
  };
}

/** A site is resolved when every path gave a constant. */
export function isResolved(v: ValueSet): boolean {
  return v.fromParams.length === 0 && v.unresolved.length === 0;
}
