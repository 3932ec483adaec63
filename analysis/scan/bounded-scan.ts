import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { ConfineError } from '../../pipeline/errors';
import type { ElfScanArtifact } from '../../schemas/types';
import type { ScanJob } from './scan-job';
import type { ScanReply, ScanRequest, ScanWorkerData } from './scan-worker';
import { HelpBoard } from './slice-help';
import { startScanWorker } from './start-worker';

/**
 * The pipeline's per-file scans, off the main thread and bounded. A scan of a large or
 * hostile object is seconds to minutes of synchronous work; on the main thread it
 * would hold off SIGINT/SIGTERM (a signal handler runs only when the event loop does)
 * and every other image's progress meanwhile. Here a scan runs in a worker: the main
 * thread stays free, an abort terminates the worker at once, and a scan past its time
 * limit is ended and fails its image instead of stalling the batch.
 *
 * When no worker can start (no build and no tsx), or a worker reports a failure, the
 * scan runs inline (`fallback`), where a real error surfaces exactly as without workers.
 */
export class BoundedScanner {
  private readonly idle: Worker[] = [];
  private readonly waiters: ((w: Worker | undefined) => void)[] = [];
  private live = 0;
  private nextId = 0;
  private broken = false;
  /** Large objects' decode ranges on offer to idle workers (slice-help.ts). */
  private readonly board = new HelpBoard<Worker>();
  /** Offers of decode ranges handed to a helper. */
  helped = 0;

  constructor(
    readonly size: number,
    readonly timeLimitMs: number,
    private readonly fallback: (job: ScanJob) => ElfScanArtifact,
    private readonly script = path.join(__dirname, `scan-worker${path.extname(__filename)}`),
    /** Sizes for splitting a large object's decode (tests: small ones); defaults in analysis/x86/decode-slices.ts. */
    private readonly split?: ScanWorkerData['split'],
  ) {}

  async scan(job: ScanJob, signal?: AbortSignal): Promise<ElfScanArtifact> {
    if (signal?.aborted) throw new ConfineError('interrupted', `interrupted before scanning ${job.path}`);
    if (this.broken) return this.fallback(job);
    const worker = await this.acquire();
    if (!worker) {
      this.broken = true;
      return this.fallback(job);
    }
    if (signal?.aborted) {
      this.release(worker);
      throw new ConfineError('interrupted', `interrupted before scanning ${job.path}`);
    }
    const id = this.nextId++;
    return new Promise<ElfScanArtifact>((resolve, reject) => {
      let settled = false;
      const finish = (keep: boolean) => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onGone);
        worker.off('exit', onGone);
        if (keep) this.release(worker);
        else {
          // Helpers stop at their next range; the scan they helped is gone.
          this.board.cancel(worker);
          this.live--;
          void worker.terminate();
          // Someone waiting for a worker gets a fresh one in its place.
          const next = this.waiters.shift();
          if (next) next(this.start());
        }
      };
      /** The scan on this thread instead: its result, or the real error with its kind and stack. */
      const inline = () => {
        try {
          resolve(this.fallback(job));
        } catch (e) {
          reject(e);
        }
      };
      const onMessage = (m: ScanReply) => {
        if (settled || m.id !== id) return;
        if ('artifact' in m) {
          finish(true);
          resolve(m.artifact as ElfScanArtifact);
        } else if ('failed' in m) {
          finish(true);
          inline();
        }
      };
      const onGone = () => {
        if (settled) return;
        finish(false);
        this.broken = true;
        inline();
      };
      const onAbort = () => {
        if (settled) return;
        finish(false);
        reject(new ConfineError('interrupted', `interrupted while scanning ${job.path}`));
      };
      const timer = setTimeout(() => {
        if (settled) return;
        finish(false);
        reject(new ConfineError('analysis-failed', `scanning ${job.path} (${job.bytes.length} bytes) took more than ${Math.round(this.timeLimitMs / 1000)} s and was stopped; an object built to make the analysis crawl? (CONFINE_SCAN_TIME_LIMIT_SEC raises the limit)`));
      }, this.timeLimitMs);
      worker.ref();
      worker.on('message', onMessage);
      worker.on('error', onGone);
      worker.on('exit', onGone);
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ id, ...job } satisfies ScanRequest);
    });
  }

  /** Scans running now (tests: an abort or a timeout must leave none behind). */
  get running(): number {
    return this.live - this.idle.length;
  }

  async close(): Promise<void> {
    const ws = this.idle.splice(0);
    this.live -= ws.length;
    await Promise.all(ws.map((w) => w.terminate()));
  }

  private acquire(): Promise<Worker | undefined> {
    const w = this.idle.pop();
    if (w) return Promise.resolve(w);
    if (this.live < this.size) return Promise.resolve(this.start());
    return new Promise((r) => this.waiters.push(r));
  }

  private release(w: Worker): void {
    const next = this.waiters.shift();
    if (next) return next(w);
    w.unref();
    this.idle.push(w);
    this.offerHelp();
  }

  /** Idle workers help decode the ranges a busy one offers; with room, one more is started for it. */
  private offerHelp(): void {
    const help = (w: Worker) => {
      const req = this.board.next(w);
      if (!req) return;
      this.helped++;
      w.postMessage(req, [req.port]);
    };
    for (const w of this.idle) help(w);
    while (!this.broken && this.live < this.size && !this.waiters.length && this.board.wanted()) {
      const w = this.start();
      if (!w) return;
      this.idle.push(w);
      help(w);
    }
  }

  private start(): Worker | undefined {
    try {
      const workerData: ScanWorkerData = { helpers: this.size - 1, ...(this.split ? { split: this.split } : {}) };
      const w = startScanWorker(this.script, workerData);
      this.live++;
      w.on('message', (m: unknown) => {
        if (this.board.take(w, m)) this.offerHelp();
      });
      // An idle worker that dies is dropped; a busy one is handled by its scan.
      w.once('exit', () => {
        const i = this.idle.indexOf(w);
        if (i >= 0) {
          this.idle.splice(i, 1);
          this.live--;
        }
      });
      w.unref();
      return w;
    } catch {
      return undefined;
    }
  }
}

/** Default bound on one file's scan; a 100 MB Go binary takes well under a minute here. */
export const DEFAULT_SCAN_TIME_LIMIT_MS = 10 * 60 * 1000;

let shared: BoundedScanner | undefined;

/** The process's scanner: one worker per core, the time limit from CONFINE_SCAN_TIME_LIMIT_SEC if set. */
export function sharedScanner(fallback: (job: ScanJob) => ElfScanArtifact): BoundedScanner {
  if (!shared) {
    const env = Number(process.env.CONFINE_SCAN_TIME_LIMIT_SEC);
    shared = new BoundedScanner(Math.max(1, availableParallelism()), Number.isFinite(env) && env > 0 ? env * 1000 : DEFAULT_SCAN_TIME_LIMIT_MS, fallback);
  }
  return shared;
}
