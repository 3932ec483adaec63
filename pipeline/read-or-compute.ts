import { CacheKey } from '../cache/digest';
import { ContentStore, ReadOutcome } from '../cache/content-store';
import { Fingerprint } from '../cache/fingerprint';

export interface ReadOrCompute<T> {
  fp: Fingerprint;
  key: CacheKey;
  /** Look in the store before taking the key's lock (not when --force refuses earlier entries). */
  readFirst: boolean;
  /** Look again after waiting for another process that held the lock: it may have stored the entry. */
  rereadAfterWait: boolean;
  /** Whether a stored artifact may be reused; any hit when absent. */
  usable?: (artifact: T) => Promise<boolean>;
  /** The first look found an entry that `usable` refuses. */
  onUnusable?: () => void;
  /** The first look found a corrupt entry (the store has set it aside). */
  onCorrupt?: (reason: string) => void;
  /** After the first look found nothing to reuse, before locking: may throw to refuse computing. */
  beforeLock?: () => void;
  compute: () => Promise<T>;
  /** Log lines stored with the artifact (read once compute has run). */
  log?: string[];
}

export type Hit<T> = Extract<ReadOutcome<T>, { status: 'hit' }>;

/**
 * The content store's protocol for one key, shared by stages and memoized sub-artifacts:
 * read → lock → re-read (another process sharing the store may have computed it while
 * we waited) → compute → write. A corrupt entry is recomputed, never trusted.
 */
export async function readOrCompute<T>(
  store: ContentStore,
  signal: AbortSignal,
  r: ReadOrCompute<T>,
): Promise<{ reused: true; hit: Hit<T> } | { reused: false; value: T; digest: string }> {
  const usable = async (got: ReadOutcome<T>): Promise<boolean> => got.status === 'hit' && (!r.usable || (await r.usable(got.artifact)));
  if (r.readFirst) {
    const got = await store.read<T>(r.key);
    if (got.status === 'hit' && (await usable(got))) return { reused: true, hit: got };
    if (got.status === 'hit') r.onUnusable?.();
    else if (got.status === 'corrupt') r.onCorrupt?.(got.reason);
  }
  r.beforeLock?.();
  const lock = await store.lock(r.key, signal);
  try {
    if (lock.waited && r.rereadAfterWait) {
      const got = await store.read<T>(r.key);
      if (got.status === 'hit' && (await usable(got))) return { reused: true, hit: got };
    }
    const value = await r.compute();
    const { digest } = await store.write(r.fp, value, r.log);
    return { reused: false, value, digest };
  } finally {
    await lock.release();
  }
}
