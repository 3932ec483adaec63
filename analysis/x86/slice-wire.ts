import type { Program, ProgramFunction } from './program';
import type { RangeFacts } from './range-facts';
import type { SliceJob } from './slice-job';

/**
 * A decoded range in the form a worker posts it: its Program trimmed to its instructions
 * and its facts packed, all transferable typed arrays. Structured-cloning a range's ~10k
 * small objects and their lists cost the owner more than decoding the range itself.
 */

/** The instructions and functions of a range (a Program has them all; a posted range carries them trimmed). */
export type ProgramSlice = Pick<Program, 'n' | 'addr' | 'len' | 'code' | 'kind' | 'target' | 'fnOf' | 'refInsn' | 'refAddr' | 'refOf' | 'refCount'> & {
  functions: Pick<ProgramFunction, 'addr' | 'end' | 'first' | 'last'>[];
  /** Posted ranges: the functions' ends and instruction ranges as arrays instead (their starts are the job's). */
  packed?: { end: Float64Array; first: Int32Array; last: Int32Array };
};

/**
 * A range's facts as typed arrays. Per function, LISTS lengths (in FACT_LISTS order) in
 * `lens`, the values one after another in `values` (imports as indexes into the job's
 * pltKeys), and FLAG_* bits.
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

/** A range's Program cut to its own instructions and references, as copies on their own buffers. */
export function trimProgram(p: ProgramSlice): ProgramSlice {
  const nf = p.functions.length;
  const packed = { end: new Float64Array(nf), first: new Int32Array(nf), last: new Int32Array(nf) };
  p.functions.forEach((f, i) => {
    packed.end[i] = f.end;
    packed.first[i] = f.first;
    packed.last[i] = f.last;
  });
  return {
    n: p.n, refCount: p.refCount,
    addr: p.addr.slice(0, p.n), len: p.len.slice(0, p.n), code: p.code.slice(0, p.n), kind: p.kind.slice(0, p.n), target: p.target.slice(0, p.n), fnOf: p.fnOf.slice(0, p.n),
    refInsn: p.refInsn.slice(0, p.refCount), refAddr: p.refAddr.slice(0, p.refCount), refOf: p.refOf.slice(0, p.refCount),
    functions: [], packed,
  };
}

/** The buffers of a trimmed range and its packed facts: what postMessage transfers. */
export function transferList(prog: ProgramSlice, facts: PackedFacts): ArrayBuffer[] {
  const packed = prog.packed!;
  return [prog.addr, prog.len, prog.code, prog.kind, prog.target, prog.fnOf, prog.refInsn, prog.refAddr, prog.refOf, packed.end, packed.first, packed.last, facts.lens, facts.values, facts.flags].map((a) => a.buffer as ArrayBuffer);
}

/** Import key → its first index in the job's pltKeys. */
export function pltKeyIndex(job: SliceJob): Map<string, number> {
  const keyIndex = new Map<string, number>();
  job.pltKeys.forEach((k, i) => keyIndex.has(k) || keyIndex.set(k, i));
  return keyIndex;
}

export function packFacts(facts: RangeFacts[], keyIndex: Map<string, number>): PackedFacts {
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
      for (const key of v) values[at++] = keyIndex.get(key)!;
    }
    flags[i] = (x.hasIndirectCall ? FLAG_INDIRECT_CALL : 0) | (x.hasIndirectJump ? FLAG_INDIRECT_JUMP : 0) | (x.importsTaken ? FLAG_IMPORTS_TAKEN : 0) | (x.dataRefs ? FLAG_DATA_REFS : 0);
  });
  return { lens, values, flags };
}

export function unpackFacts(p: PackedFacts, job: SliceJob): RangeFacts[] {
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
