import { BackwardFlow, Recovered } from './dataflow';
import { applySettledEntries, settleDataStarts, type SecondSite } from './data-starts';
import { takenCallTargets } from './taken-entries';
import { noReturnTargets } from './noreturn';
import { decodeSlice, joinSlices, type JoinedCode, type SplitOptions } from './decode-slices';
import { sliceBounds, sliceJob } from './slice-job';
import { K, Program, refModeOf } from './program';
import { RAX } from './registers';
import type { CodeInput, SyscallInsn, SyscallSite, ValueSet } from './types';
import type { CodeAnalysis } from './code-analysis';

const INSN: Record<number, SyscallInsn> = { [K.SYSCALL]: 'syscall', [K.INT80]: 'int80', [K.SYSENTER]: 'sysenter' };

/**
 * Decodes one object's code and extracts, per function, the facts the call graph
 * and the seccomp profile need: direct call edges, tail calls, imports reached
 * through PLT stubs, address-taken functions, indirect transfers, and every
 * syscall instruction with the numbers that can reach %eax there.
 */
export function analyzeCode(input: CodeInput, split: SplitOptions = {}): CodeAnalysis {
  return finishAnalysis(decodeFunctions(input, split));
}

/** The first half of analyzeCode: decoding and per-function facts, without any data-flow. */
export interface DecodedCode extends JoinedCode {
  input: CodeInput;
  /** Data-derived entries settled inside functions, and second decodings' syscall sites (data-starts.ts). */
  innerEntries: Map<number, number>;
  secondSites: SecondSite[];
  t0: number;
  t1: number;
}

/**
 * Decodes and collects per-function facts (calls, targets, syscall instructions). A
 * caller that may change the function starts and decode again (analysis/summary/decode-object.ts's
 * rounds for unknown call targets) looks at these facts only, and runs the data-flow
 * half once, on its final input: finishAnalysis(decodeFunctions(input)) is
 * analyzeCode(input).
 *
 * With `split.runSlices`, a large object's functions are decoded in ranges, possibly on
 * other threads, and joined (analysis/x86/decode-slices.ts): the result is the same either way.
 */
export function decodeFunctions(input: CodeInput, split: SplitOptions = {}): DecodedCode {
  const t0 = performance.now();
  // Data-derived starts inside a sized function do not cut it (data-starts.ts).
  const settled = settleDataStarts(input.functionStarts);
  const sorted = Program.sortedStarts(input.code, input.codeVaddr, settled.starts);
  const bounds = sliceBounds(sorted, input.codeVaddr, input.code.length, split);
  const job = sliceJob(input, sorted, refModeOf(input.dataRefs ? { dataRefs: input.dataRefs } : {}), bounds);
  const here = { starts: sorted, startSet: new Set(job.addrs), plt: input.pltTargets };
  const decodeHere = (k: number) => decodeSlice(job, k, undefined, here);
  const count = bounds.length - 1;
  const results = count > 1 && split.runSlices ? split.runSlices(job, count, decodeHere) : Array.from({ length: count }, (_, k) => decodeHere(k));
  const { prog, functions, addressTaken, syscallIdx } = joinSlices(job, sorted, results, input.extraAddressTaken);
  // On the joined Program, in this thread: the same with or without ranges decoded elsewhere.
  const { innerEntries, sites: secondSites } = applySettledEntries({ prog, functions, addressTaken }, settled.inside, input.pltTargets);
  const t1 = performance.now();
  return { input, prog, functions, addressTaken, syscallIdx, innerEntries, secondSites, t0, t1 };
}

/** The second half of analyzeCode: which functions never return, and the numbers at every syscall instruction. */
export function finishAnalysis(d: DecodedCode): CodeAnalysis {
  const { input, prog, functions, addressTaken, syscallIdx, innerEntries, secondSites, t0, t1 } = d;
  const noReturn = noReturnTargets(prog, input.pltTargets);
  const flow = new BackwardFlow(prog, noReturn);
  const syscalls: SyscallSite[] = [];
  const entries = new Map(innerEntries);
  try {
    // Call targets inside functions whose address the code takes: entered by unknown callers too.
    for (const t of takenCallTargets(prog, flow.effects, (x) => functions.has(x))) {
      addressTaken.add(t);
      const g = prog.functionIndexContaining(t);
      if (g !== undefined) entries.set(t, prog.functions[g].addr);
    }
    for (const i of syscallIdx) {
      const pf = prog.functions[prog.fnOf[i]];
      const v = toValueSet(flow.valuesBefore(i, { r: RAX }));
      syscalls.push({ addr: prog.addr[i], fn: pf.addr, fnName: pf.name, insn: INSN[prog.kind[i]], ...v });
    }
  } finally {
    flow.free();
  }
  for (const s of secondSites) {
    syscalls.push({ addr: s.addr, fn: s.fn, fnName: functions.get(s.fn)?.name, insn: s.insn, numbers: [], fromParams: [], unresolved: [{ reason: s.reason, at: s.addr }] });
  }
  const t2 = performance.now();

  return {
    functions, syscalls, addressTaken, innerEntries: entries, program: prog, instructionCount: prog.n, plt: input.pltTargets, noReturn,
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
