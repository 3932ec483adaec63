import { SPLIT_MIN_BYTES } from './split-threshold';
import type { CodeInput, FunctionStart } from './types';

/**
 * Cutting a large object's decode into ranges of functions: where the ranges begin, and
 * the plain data (SliceJob) every range needs, so a range can be posted to a worker
 * (analysis/scan/slice-help.ts).
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

/** How large the ranges are. */
export interface RangeSizes {
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

/**
 * Function-index boundaries of ranges of about `sliceBytes` of code each: [0, ..., sorted.length].
 * One range (no split) without a runner to run the ranges elsewhere.
 */
export function sliceBounds(sorted: readonly FunctionStart[], base: number, codeBytes: number, opts: RangeSizes & { runSlices?: unknown }): number[] {
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

/** The starts of a job as FunctionStart objects (what Program.decodeFunctions reads: addresses and sizes). */
export function startsOf(job: SliceJob): FunctionStart[] {
  const out: FunctionStart[] = new Array(job.addrs.length);
  for (let i = 0; i < out.length; i++) out[i] = job.sizes[i] > 0 ? { addr: job.addrs[i], size: job.sizes[i] } : { addr: job.addrs[i] };
  return out;
}
