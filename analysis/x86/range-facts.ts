import { K, type Program } from './program';
import type { FunctionInfo } from './types';

/** Per-function facts of a range, before the whole program is known: FunctionInfo's own facts, with branch targets still unsorted. */
export type RangeFacts = Pick<
  FunctionInfo,
  'calls' | 'tailCalls' | 'imports' | 'addressTaken' | 'importsTaken' | 'hasIndirectCall' | 'hasIndirectJump' | 'syscalls' | 'dataRefs' | 'dataAddressTaken'
> & {
  /** Direct branch targets outside the function that are no function start nor PLT stub, in instruction order: inside some function (jumpsInto) or nowhere (unknownTargets), decided on the whole program. */
  outside: number[];
};

/**
 * Per-function facts of the functions of `prog` (a range or the whole object): calls,
 * tail calls, imports through PLT stubs, address-taken starts, syscall instructions,
 * data references. Branch targets outside every start are left for joinSlices
 * (analysis/x86/decode-slices.ts), which sees the whole program.
 */
export function rangeFacts(prog: Program, starts: Set<number>, plt: Map<number, string>, withRefs: boolean): { facts: RangeFacts[]; syscallIdx: number[] } {
  const syscallIdx: number[] = [];
  // One set of each per range, emptied per function: ~5 Set allocations per function
  // were a large share of the analysis of big objects (GC).
  const calls = new Set<number>();
  const tails = new Set<number>();
  const imports = new Set<string>();
  const taken = new Set<number>();
  const importsTaken = new Set<string>();
  const list = <T>(s: Set<T>): T[] => (s.size ? [...s] : []);
  // Materialised constants are mostly not PLT addresses: a range check saves the map lookup.
  let pltLo = Infinity;
  let pltHi = -Infinity;
  for (const a of plt.keys()) {
    if (a < pltLo) pltLo = a;
    if (a > pltHi) pltHi = a;
  }
  // Data references arrive in instruction order, so each function's are one run.
  let ref = 0;
  const refs = new Set<number>();
  const refsTaken = new Set<number>();
  const facts: RangeFacts[] = new Array(prog.functions.length);
  for (let f = 0; f < prog.functions.length; f++) {
    const pf = prog.functions[f];
    const outside: number[] = [];
    const fnSyscalls: number[] = [];
    let hasIndirectCall = false;
    let hasIndirectJump = false;
    calls.clear();
    tails.clear();
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
          const imp = plt.get(t);
          if (imp !== undefined) imports.add(imp);
          else if (starts.has(t)) (kind === K.CALL ? calls : tails).add(t);
          else outside.push(t);
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
            const imp = plt.get(t);
            if (imp !== undefined) importsTaken.add(imp);
          }
          break;
        }
      }
    }
    const out: RangeFacts = {
      calls: list(calls), tailCalls: list(tails), outside, imports: list(imports), addressTaken: list(taken),
      hasIndirectCall, hasIndirectJump, syscalls: fnSyscalls,
    };
    if (withRefs) {
      refs.clear();
      refsTaken.clear();
      while (ref < prog.refCount && prog.refInsn[ref] < pf.last) {
        if (prog.refInsn[ref] >= pf.first) {
          refs.add(prog.refAddr[ref]);
          if (prog.refOf[ref]) refsTaken.add(prog.refAddr[ref]);
        }
        ref++;
      }
      out.dataRefs = list(refs);
      out.dataAddressTaken = list(refsTaken);
    }
    if (importsTaken.size) out.importsTaken = list(importsTaken);
    facts[f] = out;
  }
  return { facts, syscallIdx };
}
