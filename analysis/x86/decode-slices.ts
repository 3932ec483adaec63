import { Program } from './program';
import { rangeFacts, type RangeFacts } from './range-facts';
import { startsOf, type RangeSizes, type SliceJob } from './slice-job';
import { packFacts, pltKeyIndex, transferList, trimProgram, unpackFacts, type PackedFacts, type ProgramSlice } from './slice-wire';
import type { FunctionInfo, FunctionStart } from './types';

/**
 * A large object's decode, cut into ranges of functions that can be decoded apart (on
 * other threads: analysis/scan/slice-help.ts) and put back together into exactly the Program
 * and per-function facts one pass over the whole code gives. Here: decoding one range
 * and joining the ranges. Where the ranges are cut and what a range needs
 * (slice-job.ts), the facts of each function (range-facts.ts) and the form a worker
 * posts a range in (slice-wire.ts) have their own modules. The only state that runs
 * from one function to the next (where code resumes after a nop straddling a function
 * start) is checked when the ranges are joined, and a range that guessed it wrong is
 * decoded again with the right value.
 */

export interface SliceResult {
  k: number;
  /** Where code was taken to resume before the range's first function, and where it resumes after its last. */
  assumedResume: number;
  endResume: number;
  prog: ProgramSlice;
  facts: RangeFacts[] | PackedFacts;
  /** Instruction indexes (in the range) of syscall instructions. */
  syscallIdx: number[];
}

/** Runs ranges 0..count-1 of a job, wherever it likes, and returns every result (any order). */
export type SliceRunner = (job: SliceJob, count: number, decodeHere: (k: number) => SliceResult) => SliceResult[];

export interface SplitOptions extends RangeSizes {
  /** Where ranges run (a worker's helpers); without it the object is decoded in one pass. */
  runSlices?: SliceRunner;
}

/** What every range of one job shares, built on its first range (pass the same object for each range of a job). */
export interface SliceCache {
  starts?: FunctionStart[];
  startSet?: Set<number>;
  plt?: Map<number, string>;
  /** Import key → its first index in the job's pltKeys (packing). */
  keyIndex?: Map<string, number>;
}

/**
 * Decodes range k of a job and collects its functions' facts. Where code resumes before
 * the range is found by decoding the function before it on its own (right unless a nop
 * straddles into that function too; joinSlices checks), or given.
 */
export function decodeSlice(job: SliceJob, k: number, resume?: number, cache: SliceCache = {}): SliceResult {
  const starts = (cache.starts ??= startsOf(job));
  const from = job.bounds[k];
  const to = job.bounds[k + 1];
  let assumed = resume;
  if (assumed === undefined) {
    if (from === 0) assumed = job.base;
    else {
      const scratch = Program.empty(job.code, job.base, job.refMode);
      assumed = scratch.decodeFunctions(starts, from - 1, from, starts[from - 1].addr);
    }
  }
  const prog = Program.empty(job.code, job.base, job.refMode);
  let bytes = 0;
  if (to > from) bytes = (to < starts.length ? starts[to].addr : job.base + job.code.length) - starts[from].addr;
  prog.reserve(Math.ceil(bytes / 3.2) + 1024);
  const endResume = prog.decodeFunctions(starts, from, to, assumed);
  const startSet = (cache.startSet ??= new Set(job.addrs));
  let plt = cache.plt;
  if (!plt) {
    cache.plt = plt = new Map();
    for (let i = 0; i < job.pltAddrs.length; i++) plt.set(job.pltAddrs[i], job.pltKeys[i]);
  }
  const { facts, syscallIdx } = rangeFacts(prog, startSet, plt, job.refMode !== 0);
  return { k, assumedResume: assumed, endResume, prog, facts, syscallIdx };
}

/** A range as a worker posts it (slice-wire.ts), with the buffers to transfer. */
export function trimmed(r: SliceResult, job: SliceJob, cache: SliceCache = {}): { result: SliceResult; transfer: ArrayBuffer[] } {
  const prog = trimProgram(r.prog as Program);
  const facts = Array.isArray(r.facts) ? packFacts(r.facts, (cache.keyIndex ??= pltKeyIndex(job))) : r.facts;
  return { result: { ...r, prog, facts }, transfer: transferList(prog, facts) };
}

export interface JoinedCode {
  prog: Program;
  functions: Map<number, FunctionInfo>;
  addressTaken: Set<number>;
  syscallIdx: number[];
}

/**
 * Puts ranges back together: one Program (instruction indexes shifted), the facts of
 * every function with its outside targets resolved against the whole program, and the
 * object's address-taken starts (`extra` first, then each function's in order) — what
 * decoding the whole object in one pass gives. A range whose assumed resume position is
 * not where the range before it ended is decoded again here with the right one, and so
 * is a range missing from `results`.
 */
export function joinSlices(job: SliceJob, sorted: readonly FunctionStart[], results: SliceResult[], extra: Iterable<number> | undefined): JoinedCode {
  const byK = settledRanges(job, sorted, results);
  const prog = joinPrograms(job, sorted, byK);
  return { prog, ...joinFacts(job, prog, byK, extra) };
}

/** Every range once, in order, each decoded from where the range before it ended. */
function settledRanges(job: SliceJob, sorted: readonly FunctionStart[], results: SliceResult[]): SliceResult[] {
  const cache: SliceCache = { starts: sorted as FunctionStart[] };
  const byK: SliceResult[] = new Array(job.bounds.length - 1);
  for (const r of results) byK[r.k] = r;
  // Every range, once: one a runner failed to bring back is decoded here.
  for (let k = 0; k < byK.length; k++) if (!byK[k]) byK[k] = decodeSlice(job, k, k === 0 ? undefined : byK[k - 1].endResume, cache);
  for (let k = 1; k < byK.length; k++) {
    if (byK[k].assumedResume !== byK[k - 1].endResume) {
      byK[k] = decodeSlice(job, k, byK[k - 1].endResume, cache);
    }
  }
  return byK;
}

/** One Program from the ranges in order: instruction indexes shifted, each function named from `sorted`. */
function joinPrograms(job: SliceJob, sorted: readonly FunctionStart[], byK: SliceResult[]): Program {
  if (byK.length === 1 && byK[0].prog instanceof Program) return byK[0].prog;
  const prog = Program.empty(job.code, job.base, job.refMode);
  let n = 0;
  let refs = 0;
  for (const r of byK) {
    n += r.prog.n;
    refs += r.prog.refCount;
  }
  prog.addr = new Float64Array(n);
  prog.len = new Uint8Array(n);
  prog.code = new Uint16Array(n);
  prog.kind = new Uint8Array(n);
  prog.target = new Float64Array(n);
  prog.fnOf = new Int32Array(n);
  prog.refInsn = new Int32Array(refs);
  prog.refAddr = new Float64Array(refs);
  prog.refOf = new Uint8Array(refs);
  let at = 0;
  let refAt = 0;
  for (const r of byK) {
    const p = r.prog;
    prog.addr.set(p.addr.subarray(0, p.n), at);
    prog.len.set(p.len.subarray(0, p.n), at);
    prog.code.set(p.code.subarray(0, p.n), at);
    prog.kind.set(p.kind.subarray(0, p.n), at);
    prog.target.set(p.target.subarray(0, p.n), at);
    prog.fnOf.set(p.fnOf.subarray(0, p.n), at);
    for (let j = 0; j < p.refCount; j++) prog.refInsn[refAt + j] = p.refInsn[j] + at;
    prog.refAddr.set(p.refAddr.subarray(0, p.refCount), refAt);
    prog.refOf.set(p.refOf.subarray(0, p.refCount), refAt);
    const f0 = job.bounds[r.k];
    if (p.packed) {
      const { end, first, last } = p.packed;
      for (let j = 0; j < end.length; j++) {
        const s = sorted[f0 + j];
        prog.functions.push({ addr: s.addr, end: end[j], name: s.name, exported: !!s.exported, first: first[j] + at, last: last[j] + at });
      }
    } else {
      p.functions.forEach((fn, j) => {
        const s = sorted[f0 + j];
        prog.functions.push({ addr: fn.addr, end: fn.end, name: s.name, exported: !!s.exported, first: fn.first + at, last: fn.last + at });
      });
    }
    at += p.n;
    refAt += p.refCount;
  }
  prog.n = n;
  prog.refCount = refs;
  return prog;
}

/** Each function's FunctionInfo on the joined Program (outside targets resolved), the address-taken starts and the syscall instructions. */
function joinFacts(job: SliceJob, prog: Program, byK: SliceResult[], extra: Iterable<number> | undefined): Omit<JoinedCode, 'prog'> {
  const starts = new Set(job.addrs);
  const addressTaken = new Set<number>();
  for (const a of extra ?? []) if (starts.has(a)) addressTaken.add(a);
  const functions = new Map<number, FunctionInfo>();
  const syscallIdx: number[] = [];
  const into = new Set<number>();
  let fi = 0;
  let insnAt = 0;
  for (const r of byK) {
    for (const i of r.syscallIdx) syscallIdx.push(i + insnAt);
    insnAt += r.prog.n;
    for (const x of Array.isArray(r.facts) ? r.facts : unpackFacts(r.facts, job)) {
      const pf = prog.functions[fi++];
      const unknownTargets: number[] = [];
      into.clear();
      for (const t of x.outside) {
        const g = prog.functionIndexContaining(t);
        if (g !== undefined) into.add(prog.functions[g].addr);
        else unknownTargets.push(t);
      }
      // The same fields in the same order as one pass has always built them.
      const info: FunctionInfo = {
        addr: pf.addr, end: pf.end, name: pf.name, exported: pf.exported,
        calls: x.calls, tailCalls: x.tailCalls, jumpsInto: into.size ? [...into] : [], imports: x.imports, addressTaken: x.addressTaken,
        hasIndirectCall: x.hasIndirectCall, hasIndirectJump: x.hasIndirectJump, syscalls: x.syscalls, unknownTargets,
      };
      if (x.dataRefs) {
        info.dataRefs = x.dataRefs;
        info.dataAddressTaken = x.dataAddressTaken;
      }
      if (x.importsTaken) info.importsTaken = x.importsTaken;
      for (const a of x.addressTaken) addressTaken.add(a);
      functions.set(pf.addr, info);
    }
  }
  return { functions, addressTaken, syscallIdx };
}
