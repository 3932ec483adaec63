import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { ContentStore } from '../../cache/content-store';
import type { ElfScanArtifact } from '../../schemas/types';
import { cachedScan, type ScanJob } from './scan-job';
import type { ScanReply, ScanRequest, ScanWorkerData } from './scan-worker';
import { HelpBoard, type HelpRequest } from './slice-help';
import { startScanWorker } from './start-worker';

/**
 * Scans files on worker threads, a few at a time: the scans of different objects are
 * independent, and one large object (a Go binary) takes as long as the rest together.
 * Each worker reads and writes the same content store, so an entry a worker wrote is
 * one the inline path would have written.
 *
 * Workers are an optimisation only: if one cannot start (no compiled build and no tsx
 * to load TypeScript), dies, or a job fails in it, that job runs inline on the calling
 * thread — where a real error is thrown exactly as it would be without the pool.
 */
export class ScanPool {
  private readonly workers: { worker: Worker; busy: boolean }[] = [];
  private readonly queue: { job: ScanJob; resolve: (a: ElfScanArtifact) => void; reject: (e: unknown) => void }[] = [];
  private readonly pending = new Map<number, { job: ScanJob; resolve: (a: ElfScanArtifact) => void; reject: (e: unknown) => void; worker: Worker }>();
  private nextId = 0;
  private broken = false;
  /** Large objects' decode ranges on offer to idle workers (slice-help.ts). */
  private readonly board = new HelpBoard<Worker>();
  /** Jobs answered by a worker and jobs run on the calling thread (fallbacks included); offers of decode ranges handed to a helper. */
  readonly stats = { inWorker: 0, inline: 0, helped: 0 };

  constructor(
    readonly size: number,
    private readonly store: ContentStore | undefined,
    /** The worker's entry file; tests point it elsewhere to exercise the fallback. */
    private readonly script = path.join(__dirname, `scan-worker${path.extname(__filename)}`),
    /** Sizes for splitting a large object's decode (tests: small ones); defaults in analysis/x86/decode-slices.ts. */
    private readonly split?: ScanWorkerData['split'],
  ) {}

  /**
   * Workers to use for `jobs` files: CONFINE_SCAN_WORKERS if set (0 = none), else one per
   * core, at most 4. `large` of them are big enough to be decoded by several workers
   * (analysis/x86/decode-slices.ts SPLIT_MIN_BYTES): then even one job uses them all.
   */
  static sizeFor(jobs: number, large = 0): number {
    const env = process.env.CONFINE_SCAN_WORKERS;
    const want = env !== undefined && /^\d+$/.test(env) ? Number(env) : Math.min(availableParallelism(), 4);
    if (large > 0) return want;
    // One small job gains nothing from a thread that first has to load the analysis.
    return jobs < 2 ? 0 : Math.min(want, jobs);
  }

  scan(job: ScanJob): Promise<ElfScanArtifact> {
    if (this.size === 0 || this.broken) return this.inline(job);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  /** Entries workers are still writing (by job id), and the first write that failed. */
  private readonly writes = new Map<number, Worker>();
  private writeFailure?: string;
  private writesDone: (() => void)[] = [];

  /**
   * Waits until every entry a worker scanned is written; throws if a write failed, as
   * the inline path would have thrown at that write.
   */
  async flush(): Promise<void> {
    if (this.writes.size) await new Promise<void>((resolve) => this.writesDone.push(resolve));
    if (this.writeFailure !== undefined) throw new Error(this.writeFailure);
  }

  async close(): Promise<void> {
    // Let writes in progress finish (their failure was reported by flush, if anyone asked).
    await this.flush().catch(() => undefined);
    // Not awaited: tearing down a worker's heap after a large scan took 0.4 s, which
    // `confine analyze` spent waiting before printing. Unreferenced, a stopping worker
    // never keeps the process alive.
    for (const { worker } of this.workers.splice(0)) {
      worker.unref();
      worker.terminate().catch(() => undefined);
    }
  }

  private writeSettled(id: number, failure?: string): void {
    if (!this.writes.delete(id)) return;
    if (failure !== undefined && this.writeFailure === undefined) this.writeFailure = failure;
    if (this.writes.size === 0) for (const done of this.writesDone.splice(0)) done();
  }

  private pump(): void {
    while (this.queue.length) {
      let slot = this.workers.findIndex((w) => !w.busy);
      if (slot < 0) {
        if (this.workers.length >= this.size) break;
        const w = this.start();
        if (!w) {
          this.fallBack();
          return;
        }
        slot = this.workers.length;
        this.workers.push({ worker: w, busy: false });
      }
      const { job, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      this.workers[slot].busy = true;
      this.pending.set(id, { job, resolve, reject, worker: this.workers[slot].worker });
      this.workers[slot].worker.postMessage({ id, ...job } satisfies ScanRequest);
    }
    this.offerHelp();
  }

  private start(): Worker | undefined {
    const workerData: ScanWorkerData = { ...(this.store ? { cacheDir: this.store.root } : {}), helpers: this.size - 1, ...(this.split ? { split: this.split } : {}) };
    let w: Worker;
    try {
      w = startScanWorker(this.script, workerData);
    } catch {
      return undefined;
    }
    w.on('message', (m: ScanReply) => {
      if (this.board.take(w, m)) this.offerHelp();
      else this.done(w, m);
    });
    w.on('error', () => this.lost(w));
    w.on('exit', () => this.lost(w));
    return w;
  }

  private done(w: Worker, m: ScanReply): void {
    if ('written' in m) return this.writeSettled(m.id);
    if ('writeFailed' in m) return this.writeSettled(m.id, m.writeFailed);
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    const slot = this.workers.find((x) => x.worker === w);
    if (slot) slot.busy = false;
    if ('artifact' in m) {
      this.stats.inWorker++;
      if (m.writing) this.writes.set(m.id, w);
      p.resolve(m.artifact as ElfScanArtifact);
    } else this.inline(p.job).then(p.resolve, p.reject);
    this.pump();
  }

  /** A worker that errors or exits takes its job with it: redo that job inline, and stop using workers. */
  private lost(w: Worker): void {
    const idx = this.workers.findIndex((x) => x.worker === w);
    if (idx < 0) return;
    this.workers.splice(idx, 1);
    this.broken = true;
    this.board.cancel(w);
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue;
      this.pending.delete(id);
      this.inline(p.job).then(p.resolve, p.reject);
    }
    // Its unfinished writes are lost: a later run recomputes those entries (a cache miss, not an error).
    for (const [id, owner] of this.writes) if (owner === w) this.writeSettled(id);
    void w.terminate();
    this.fallBack();
  }

  /** Idle workers help decode the ranges a busy one offers. */
  private offerHelp(): void {
    for (const w of this.workers) {
      if (w.busy) continue;
      const req = this.board.next(w.worker);
      if (req) this.help(w.worker, req);
    }
    // Room for a worker not started yet (one large job, few others): start one to help.
    while (!this.broken && this.workers.length < this.size && this.board.wanted()) {
      const w = this.start();
      if (!w) return;
      this.workers.push({ worker: w, busy: false });
      const req = this.board.next(w);
      if (req) this.help(w, req);
    }
  }

  private help(w: Worker, req: HelpRequest): void {
    this.stats.helped++;
    w.postMessage(req, [req.port]);
  }

  private fallBack(): void {
    this.broken = true;
    for (const q of this.queue.splice(0)) this.inline(q.job).then(q.resolve, q.reject);
  }

  private inline(job: ScanJob): Promise<ElfScanArtifact> {
    this.stats.inline++;
    return cachedScan(this.store, job);
  }
}
