import { K, Program, type ProgramFunction } from './program';
import { SPLIT_MIN_BYTES } from './split-threshold';
import type { CodeInput, FunctionInfo, FunctionStart } from './types';

/**
 * A large object's decode, cut into ranges of functions that can be decoded apart (on
 * other threads: analysis/scan/slice-help.ts) and put back together into exactly the Program
 * and per-function facts one pass over the whole code gives. Everything a range needs
 * is plain data (SliceJob), so it can be posted to a worker; the only state that runs
 * from one function to the next (where code resumes after a nop straddling a function
 * start) is checked when the ranges are joined, and a range that guessed it wrong is
 * decoded again with the right value.
 */

/** What decoding any range of an object's functions needs. */
export interface SliceJob {
  /** The code bytes (on a SharedArrayBuffer when posted to workers). */
  code: Uint8Array;
  base: number;
  /** Program's REF_* mode: which data references are recorded. */
  refMode: number;
  /** The sorted function starts (Program.sortedStarts): addresses, and sizes (0: none). */
  addrs: Float64Array;
  sizes: Float64Array;
  /** PLT stub address → import key. */
  pltAddrs: Float64Array;
  pltKeys: string[];
  /** Range k is functions bounds[k] .. bounds[k+1]-1. */
  bounds: number[];
}

/** Per-function facts of a range, before the whole program is known: FunctionInfo's own facts, with branch targets still unsorted. */
export type RangeFacts = Pick<
  FunctionInfo,
  'calls' | 'tailCalls' | 'imports' | 'addressTaken' | 'importsTaken' | 'hasIndirectCall' | 'hasIndirectJump' | 'syscalls' | 'dataRefs' | 'dataAddressTaken'
> & {
  /** Direct branch targets outside the function that are no function start nor PLT stub, in instruction order: inside some function (jumpsInto) or nowhere (unknownTargets), decided on the whole program. */
  outside: number[];
};

/** The instructions and functions of a range (a Program has them all; a posted range carries them trimmed). */
export type ProgramSlice = Pick<Program, 'n' | 'addr' | 'len' | 'code' | 'kind' | 'target' | 'fnOf' | 'refInsn' | 'refAddr' | 'refOf' | 'refCount'> & {
  functions: Pick<ProgramFunction, 'addr' | 'end' | 'first' | 'last'>[];
  /** Posted ranges: the functions' ends and instruction ranges as arrays instead (their starts are the job's). */
  packed?: { end: Float64Array; first: Int32Array; last: Int32Array };
};

/**
 * A posted range's facts as typed arrays: structured-cloning a range's ~10k small
 * objects and their lists cost the owner more than decoding the range itself.
 * Per function, LISTS lengths (in FACT_LISTS order) in `lens`, the values one after
 * another in `values` (imports as indexes into the job's pltKeys), and FLAG_* bits.
 */
export interface PackedFacts {
  lens: Int32Array;
  values: Float64Array;
  flags: Uint8Array;
}

const FACT_LISTS = ['calls', 'tailCalls', 'outside', 'addressTaken', 'syscalls', 'dataRefs', 'dataAddressTaken'] as const;
const LISTS = FACT_LISTS.length + 2; // + imports, importsTaken
const FLAG_INDIRECT_CALL = 1;
const FLAG_INDIRECT_JUMP = 2;
const FLAG_IMPORTS_TAKEN = 4;
const FLAG_DATA_REFS = 8;

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

export interface SplitOptions {
  /** Where ranges run (a worker's helpers); without it the object is decoded in one pass. */
  runSlices?: SliceRunner;
  /** Split only objects with at least this much code (bytes); default SPLIT_MIN_BYTES. */
  minBytes?: number;
  /** Code bytes per range, at least; default max(512 KiB, code / 16). */
  sliceBytes?: number;
}


export function sliceJob(input: CodeInput, sorted: FunctionStart[], refMode: number, bounds: number[]): SliceJob {
  const n = sorted.length;
  const addrs = new Float64Array(n);
  const sizes = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    addrs[i] = sorted[i].addr;
    sizes[i] = sorted[i].size ?? 0;
  }
  const pltAddrs = new Float64Array(input.pltTargets.size);
  const pltKeys: string[] = [];
  let i = 0;
  for (const [a, key] of input.pltTargets) {
    pltAddrs[i++] = a;
    pltKeys.push(key);
  }
  return { code: input.code, base: input.codeVaddr, refMode, addrs, sizes, pltAddrs, pltKeys, bounds };
}

/** Function-index boundaries of ranges of about `sliceBytes` of code each: [0, ..., sorted.length]. */
export function sliceBounds(sorted: readonly FunctionStart[], base: number, codeBytes: number, opts: SplitOptions): number[] {
  if (!opts.runSlices || codeBytes < (opts.minBytes ?? SPLIT_MIN_BYTES) || sorted.length < 2) return [0, sorted.length];
  const step = Math.max(1, opts.sliceBytes ?? Math.max(512 * 1024, Math.ceil(codeBytes / 16)));
  const bounds = [0];
  let next = base + step;
  for (let f = 1; f < sorted.length; f++) {
    if (sorted[f].addr >= next) {
      bounds.push(f);
      while (next <= sorted[f].addr) next += step;
    }
  }
  bounds.push(sorted.length);
  return bounds;
}

/** What every range of one job shares, built on its first range (pass the same object for each range of a job). */
export interface SliceCache {
  starts?: FunctionStart[];
  startSet?: Set<number>;
  plt?: Map<number, string>;
  /** Import key → its first index in the job's pltKeys (packing). */
  keyIndex?: Map<string, number>;
}

/** The starts of a job as FunctionStart objects (what Program.decodeFunctions reads: addresses and sizes). */
function startsOf(job: SliceJob): FunctionStart[] {
  const out: FunctionStart[] = new Array(job.addrs.length);
  for (let i = 0; i < out.length; i++) out[i] = job.sizes[i] > 0 ? { addr: job.addrs[i], size: job.sizes[i] } : { addr: job.addrs[i] };
  return out;
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

/** A range as a worker posts it: its Program trimmed to its instructions and its facts packed, all transferable typed arrays. */
export function trimmed(r: SliceResult, job: SliceJob, cache: SliceCache = {}): { result: SliceResult; transfer: ArrayBuffer[] } {
  const p = r.prog;
  const nf = p.functions.length;
  const packed = { end: new Float64Array(nf), first: new Int32Array(nf), last: new Int32Array(nf) };
  p.functions.forEach((f, i) => {
    packed.end[i] = f.end;
    packed.first[i] = f.first;
    packed.last[i] = f.last;
  });
  const prog: ProgramSlice = {
    n: p.n, refCount: p.refCount,
    addr: p.addr.slice(0, p.n), len: p.len.slice(0, p.n), code: p.code.slice(0, p.n), kind: p.kind.slice(0, p.n), target: p.target.slice(0, p.n), fnOf: p.fnOf.slice(0, p.n),
    refInsn: p.refInsn.slice(0, p.refCount), refAddr: p.refAddr.slice(0, p.refCount), refOf: p.refOf.slice(0, p.refCount),
    functions: [], packed,
  };
  const facts = Array.isArray(r.facts) ? packFacts(r.facts, job, cache) : r.facts;
  const transfer = [prog.addr, prog.len, prog.code, prog.kind, prog.target, prog.fnOf, prog.refInsn, prog.refAddr, prog.refOf, packed.end, packed.first, packed.last, facts.lens, facts.values, facts.flags].map((a) => a.buffer as ArrayBuffer);
  return { result: { ...r, prog, facts }, transfer };
}

function packFacts(facts: RangeFacts[], job: SliceJob, cache: SliceCache): PackedFacts {
  let keyIndex = cache.keyIndex;
  if (!keyIndex) {
    cache.keyIndex = keyIndex = new Map();
    job.pltKeys.forEach((k, i) => keyIndex!.has(k) || keyIndex!.set(k, i));
  }
  const lens = new Int32Array(facts.length * LISTS);
  const flags = new Uint8Array(facts.length);
  let total = 0;
  for (const x of facts) {
    for (const l of FACT_LISTS) total += x[l]?.length ?? 0;
    total += x.imports.length + (x.importsTaken?.length ?? 0);
  }
  const values = new Float64Array(total);
  let at = 0;
  facts.forEach((x, i) => {
    let j = i * LISTS;
    for (const l of FACT_LISTS) {
      const v = x[l] ?? [];
      lens[j++] = v.length;
      for (const n of v) values[at++] = n;
    }
    for (const v of [x.imports, x.importsTaken ?? []]) {
      lens[j++] = v.length;
      for (const key of v) values[at++] = keyIndex!.get(key)!;
    }
    flags[i] = (x.hasIndirectCall ? FLAG_INDIRECT_CALL : 0) | (x.hasIndirectJump ? FLAG_INDIRECT_JUMP : 0) | (x.importsTaken ? FLAG_IMPORTS_TAKEN : 0) | (x.dataRefs ? FLAG_DATA_REFS : 0);
  });
  return { lens, values, flags };
}

function unpackFacts(p: PackedFacts, job: SliceJob): RangeFacts[] {
  const out: RangeFacts[] = new Array(p.flags.length);
  let at = 0;
  let j = 0;
  const nums = () => {
    const n = p.lens[j++];
    const v: number[] = new Array(n);
    for (let i = 0; i < n; i++) v[i] = p.values[at++];
    return v;
  };
  const keys = () => {
    const n = p.lens[j++];
    const v: string[] = new Array(n);
    for (let i = 0; i < n; i++) v[i] = job.pltKeys[p.values[at++]];
    return v;
  };
  for (let i = 0; i < out.length; i++) {
    const flags = p.flags[i];
    const calls = nums();
    const tailCalls = nums();
    const outside = nums();
    const addressTaken = nums();
    const syscalls = nums();
    const dataRefs = nums();
    const dataAddressTaken = nums();
    const imports = keys();
    const importsTaken = keys();
    const x: RangeFacts = { calls, tailCalls, outside, imports, addressTaken, hasIndirectCall: (flags & FLAG_INDIRECT_CALL) !== 0, hasIndirectJump: (flags & FLAG_INDIRECT_JUMP) !== 0, syscalls };
    if (flags & FLAG_DATA_REFS) {
      x.dataRefs = dataRefs;
      x.dataAddressTaken = dataAddressTaken;
    }
    if (flags & FLAG_IMPORTS_TAKEN) x.importsTaken = importsTaken;
    out[i] = x;
  }
  return out;
}

/**
 * Per-function facts of the functions of `prog` (a range or the whole object): calls,
 * tail calls, imports through PLT stubs, address-taken starts, syscall instructions,
 * data references. Branch targets outside every start are left for joinSlices.
 */
function rangeFacts(prog: Program, starts: Set<number>, plt: Map<number, string>, withRefs: boolean): { facts: RangeFacts[]; syscallIdx: number[] } {
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
  let prog: Program;
  if (byK.length === 1 && byK[0].prog instanceof Program) prog = byK[0].prog;
  else {
    prog = Program.empty(job.code, job.base, job.refMode);
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
  }

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
  return { prog, functions, addressTaken, syscallIdx };
}
