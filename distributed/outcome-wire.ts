import { ConfineError, ErrorKind } from '../pipeline/errors';
import type { StageOutcome, UnitOutcome } from '../pipeline/runner';

/** A unit's outcome as a job's return value: plain JSON, errors as {kind, message, where}. */
export interface WireOutcome {
  unit: string;
  stages: { stage: string; status: StageOutcome['status']; key?: string; outputDigest?: string; ms: number; error?: ReturnType<ConfineError['toJSON']> }[];
}

export interface ImageJobResult {
  v: 1;
  /** host:pid of the worker that ran it. */
  worker: string;
  outcome: WireOutcome;
}

export function toWire(u: UnitOutcome): WireOutcome {
  return { unit: u.unit, stages: u.stages.map((s) => ({ stage: s.stage, status: s.status, key: s.key, outputDigest: s.outputDigest, ms: s.ms, error: s.error?.toJSON() })) };
}

const STATUSES = new Set(['done', 'reused', 'failed', 'skipped', 'interrupted']);

/** Back to the runner's types; anything malformed (a foreign job, a version skew) is an error, not a guess. */
export function fromWire(value: unknown, unit: string): UnitOutcome {
  const r = (typeof value === 'string' ? JSON.parse(value) : value) as Partial<ImageJobResult> | undefined;
  const o = r?.outcome;
  if (r?.v !== 1 || !o || o.unit !== unit || !Array.isArray(o.stages)) throw new ConfineError('internal', `the queue returned no readable outcome for ${unit}`, { image: unit });
  return {
    unit,
    stages: o.stages.map((s) => {
      if (!s || typeof s.stage !== 'string' || !STATUSES.has(s.status)) throw new ConfineError('internal', `the queue returned a malformed stage outcome for ${unit}`, { image: unit });
      const out: StageOutcome = { stage: s.stage, status: s.status, ms: typeof s.ms === 'number' ? s.ms : 0 };
      if (typeof s.key === 'string' && /^[0-9a-f]{64}$/.test(s.key)) out.key = s.key as StageOutcome['key'];
      if (typeof s.outputDigest === 'string') out.outputDigest = s.outputDigest;
      if (s.error) out.error = new ConfineError(s.error.kind as ErrorKind, String(s.error.message), s.error.where ?? { image: unit, stage: s.stage });
      return out;
    }),
  };
}
