import { CacheKey } from '../cache/digest';
import { ContentStore } from '../cache/content-store';
import { Fingerprint, fingerprintKey } from '../cache/fingerprint';
import { HotCache } from '../cache/hot-cache';
import { readOrCompute } from './read-or-compute';
import { MemoRequest } from './stage';

export type Memoized<T> = { key: CacheKey; value: T; reused: boolean };

/**
 * The run-wide side of `StageContext.memo`: content-addressed sub-artifacts below a
 * stage (one scan per ELF file), shared by every unit of the run and every process
 * on the same store.
 */
export class SubArtifacts {
  /** Computations in progress by key, so two images scanning the same libc at once share one. */
  private readonly inflight = new Map<string, Promise<Memoized<unknown>>>();
  /** What this run read or computed, so even --force computes a shared sub-artifact once per run, not once per image. */
  private readonly hot = new HotCache();

  constructor(
    private readonly store: ContentStore,
    private readonly signal: AbortSignal,
    private readonly force: boolean,
  ) {}

  /** `log` is the asking stage's log: a corrupt entry is worth a line in it. */
  async memo<T>(req: MemoRequest, compute: () => Promise<T>, log: (line: string) => void): Promise<Memoized<T>> {
    const fp: Fingerprint = { stage: req.name, version: req.version, schema: req.schema, config: req.config ?? null, inputs: req.inputs };
    const key = fingerprintKey(fp);
    const pending = this.inflight.get(key) as Promise<Memoized<T>> | undefined;
    if (pending) {
      try {
        return { ...(await pending), reused: true };
      } catch {
        // It failed in another image's context (its helper container removed, its
        // run aborted): compute it here instead of inheriting that image's failure.
        // If a third image already retries, share that attempt.
        const retry = this.inflight.get(key) as typeof pending | undefined;
        if (retry && retry !== pending) return { ...(await retry), reused: true };
      }
    }
    const p = this.memoOnce(fp, key, compute, log);
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    }
  }

  private async memoOnce<T>(fp: Fingerprint, key: CacheKey, compute: () => Promise<T>, log: (line: string) => void): Promise<Memoized<T>> {
    const cached = this.hot.get<T>(key);
    if (cached !== undefined) return { key, value: cached, reused: true };
    const got = await readOrCompute<T>(this.store, this.signal, {
      fp,
      key,
      readFirst: !this.force,
      // A sub-artifact is the same whoever computed it: even under --force, take the other process's.
      rereadAfterWait: true,
      onCorrupt: (reason) => log(`cache entry ${key.slice(0, 12)} (${fp.stage}) was corrupt (${reason}); recomputing`),
      compute,
    });
    const value = got.reused ? got.hit.artifact : got.value;
    this.hot.set(key, value);
    return { key, value, reused: got.reused };
  }
}
