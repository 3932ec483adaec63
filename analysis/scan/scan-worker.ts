import { parentPort, workerData } from 'node:worker_threads';
import { ContentStore } from '../../cache/content-store';
import { validateArtifact } from '../../schemas/validate';
import { cachedScan, type ScanJob } from './scan-job';
import { helpedSliceRunner, helpWith, type HelpRequest } from './slice-help';

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

/** Where the pool starts the worker: the store to share, if any, and how many other workers may help decode a large object. */
export interface ScanWorkerData {
  cacheDir?: string;
  helpers?: number;
  /** Split sizes (tests lower them to split small objects); defaults in analysis/x86/decode-slices.ts. */
  split?: { minBytes?: number; sliceBytes?: number };
}

if (parentPort) {
  const port = parentPort;
  const { cacheDir, helpers, split: sizes } = (workerData ?? {}) as ScanWorkerData;
  const store = cacheDir !== undefined ? new ContentStore(cacheDir, validateArtifact) : undefined;
  // A large object's decode ranges are offered to the pool's other workers (slice-help.ts).
  // CONFINE_SCAN_SPLIT=0 keeps every object on one worker (to compare).
  const runSlices = helpedSliceRunner((m, transfer) => port.postMessage(m, transfer), process.env.CONFINE_SCAN_SPLIT === '0' ? 0 : helpers ?? 0);
  const split = runSlices ? { runSlices, ...sizes } : undefined;
  port.on('message', (req: ScanRequest | HelpRequest) => {
    if ('help' in req) {
      helpWith(req);
      return;
    }
    let write: (() => Promise<void>) | undefined;
    // The answer goes out before the entry is written (serialising, hashing and
    // validating a large scan takes a while): the pool's owner walks meanwhile and
    // waits for the writes at the end (ScanPool.flush).
    cachedScan(store, req, (w) => (write = w), split).then(
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
