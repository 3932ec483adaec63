import { canonicalJson } from './canonical-json';
import { CacheKey, sha256Hex } from './digest';

/**
 * Everything that decides a stage's output. The key is the hash of this object, and
 * the object itself is stored next to the artifact so "why did this rerun?" is a
 * diff of two fingerprints (the nx idea).
 */
export interface Fingerprint {
  /** The stage's name: two stages never share a key even with equal inputs. */
  stage: string;
  /** Bumped by hand when a stage's code changes what it outputs. */
  version: number;
  /** The schema's $id: a schema change invalidates entries written under the old one. */
  schema: string;
  /** Only the slice of the configuration this stage reads, so unrelated options never invalidate it. */
  config: unknown;
  /**
   * Named inputs: upstream stages' keys (chaining keys, not data, keeps fingerprints
   * small and invalidates downstream work automatically), image IDs, file digests.
   */
  inputs: Record<string, string>;
}

export function fingerprintKey(fp: Fingerprint): CacheKey {
  return sha256Hex(canonicalJson(fp)) as string as CacheKey;
}

/** Lists what differs between two fingerprints, for "why did this rerun?". */
export function diffFingerprints(a: Fingerprint, b: Fingerprint): string[] {
  const out: string[] = [];
  if (a.stage !== b.stage) out.push(`stage ${a.stage} → ${b.stage}`);
  if (a.version !== b.version) out.push(`version ${a.version} → ${b.version}`);
  if (a.schema !== b.schema) out.push(`schema ${a.schema} → ${b.schema}`);
  if (canonicalJson(a.config) !== canonicalJson(b.config)) out.push('config changed');
  const names = new Set([...Object.keys(a.inputs), ...Object.keys(b.inputs)]);
  for (const n of [...names].sort()) {
    if (a.inputs[n] !== b.inputs[n]) out.push(`input ${n}: ${a.inputs[n] ?? '(none)'} → ${b.inputs[n] ?? '(none)'}`);
  }
  return out;
}
