import { parentPort, workerData } from 'node:worker_threads';
import { ContentStore } from '../cache/content-store';
import { validateArtifact } from '../schemas/validate';
import { cachedScan, type ScanJob } from './scan-job';

/** A request to a scan worker (scan-pool.ts) and its answer. */
export interface ScanRequest extends ScanJob {
  id: number;
}
export type ScanReply = { id: number; artifact: unknown } | { id: number; failed: string };

/** Where the pool starts the worker: the store to share, if any. */
export interface ScanWorkerData {
  cacheDir?: string;
}

if (parentPort) {
  const port = parentPort;
  const { cacheDir } = (workerData ?? {}) as ScanWorkerData;
  const store = cacheDir !== undefined ? new ContentStore(cacheDir, validateArtifact) : undefined;
  port.on('message', (req: ScanRequest) => {
    cachedScan(store, req).then(
      (artifact) => port.postMessage({ id: req.id, artifact } satisfies ScanReply),
      // The pool redoes a failed job inline, so the error surfaces exactly as without workers.
      (e: unknown) => port.postMessage({ id: req.id, failed: e instanceof Error ? e.message : String(e) } satisfies ScanReply),
    );
  });
}
