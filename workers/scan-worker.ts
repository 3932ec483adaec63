import { parentPort, workerData } from 'node:worker_threads';
import { ContentStore } from '../cache/content-store';
import { validateArtifact } from '../schemas/validate';
import { cachedScan, type ScanJob } from './scan-job';

/** A request to a scan worker (scan-pool.ts) and its answer. */
export interface ScanRequest extends ScanJob {
  id: number;
}
export type ScanReply =
  | { id: number; artifact: unknown; writing: boolean }
  | { id: number; failed: string }
  /** After an answer with `writing`: the entry is on disk, or why it is not. */
  | { id: number; written: true }
  | { id: number; writeFailed: string };

/** Where the pool starts the worker: the store to share, if any. */
export interface ScanWorkerData {
  cacheDir?: string;
}

if (parentPort) {
  const port = parentPort;
  const { cacheDir } = (workerData ?? {}) as ScanWorkerData;
  const store = cacheDir !== undefined ? new ContentStore(cacheDir, validateArtifact) : undefined;
  port.on('message', (req: ScanRequest) => {
    let write: (() => Promise<void>) | undefined;
    // The answer goes out before the entry is written (serialising, hashing and
    // validating a large scan takes a while): the pool's owner walks meanwhile and
    // waits for the writes at the end (ScanPool.flush).
    cachedScan(store, req, (w) => (write = w)).then(
      (artifact) => {
        port.postMessage({ id: req.id, artifact, writing: write !== undefined } satisfies ScanReply);
        write?.().then(
          () => port.postMessage({ id: req.id, written: true } satisfies ScanReply),
          (e: unknown) => port.postMessage({ id: req.id, writeFailed: e instanceof Error ? e.message : String(e) } satisfies ScanReply),
        );
      },
      // The pool redoes a failed job inline, so the error surfaces exactly as without workers.
      (e: unknown) => port.postMessage({ id: req.id, failed: e instanceof Error ? e.message : String(e) } satisfies ScanReply),
    );
  });
}
