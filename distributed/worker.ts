import * as os from 'node:os';
import * as path from 'node:path';
import { Job, Worker } from 'bullmq';
import { ContentStore } from '../cache/content-store';
import { asConfineError, ConfineError, ErrorKind } from '../pipeline/errors';
import { Ledger } from '../pipeline/ledger';
import type { Reporter, StageEvent } from '../pipeline/reporter';
import { runPipeline, UnitOutcome } from '../pipeline/runner';
import { validateArtifact } from '../schemas/validate';
import { allStages } from '../stages';
import type { RunConfig } from '../stages/config';
import { Services } from '../stages/services';
import { IMAGES_QUEUE, QUEUE_PREFIX, QueueTarget } from './connection';
import { readImageJob } from './image-job';
import { ImageJobResult, toWire } from './outcome-wire';

/** Failures of the machine rather than the image: worth another try, maybe on another worker. */
const RETRYABLE: ReadonlySet<ErrorKind> = new Set(['docker-unavailable', 'container-start-failed', 'trace-failed', 'extract-failed', 'interrupted']);

export interface WorkerOptions {
  target: QueueTarget;
  /** The shared content store; extracted files and profiles go below it too (out/, results/), so every machine's keys agree. */
  cacheDir: string;
  /** Images at once on this machine. */
  concurrency: number;
  /** Seconds without a lock renewal after which a job counts as stalled (its worker lost) and goes back to the queue. */
  lockSec: number;
  /** The longest trace a job may ask for: a queue client cannot hold this machine's engine for a day. */
  maxDurationSec: number;
  reporter: Reporter;
  log: (line: string) => void;
  signal: AbortSignal;
}

/** Where a store's workers put what the stages write besides artifacts. */
export const storeOutDir = (cacheDir: string) => path.join(cacheDir, 'out');
export const storeResultsDir = (cacheDir: string) => path.join(cacheDir, 'results');

export const workerName = () => `${os.hostname()}:${process.pid}`;

/**
 * Takes image jobs from the queue and runs the per-image stages for each on this
 * machine's engine with the ordinary runner, writing artifacts to the shared store.
 * The job's value is the unit's outcome; a failure worth retrying (the engine, not
 * the image) is thrown instead while tries remain, so BullMQ retries it with backoff.
 */
export function startWorker(opts: WorkerOptions): Worker {
  const name = workerName();
  const store = new ContentStore(opts.cacheDir, validateArtifact);
  // One ledger per worker process: appends from many machines to one file are not atomic on NFS.
  const ledger = new Ledger(path.join(opts.cacheDir, 'ledgers', `${os.hostname()}-${process.pid}.jsonl`));
  const runLabel = `worker-${os.hostname()}-${process.pid}`;

  const processor = async (job: Job): Promise<ImageJobResult> => {
    let unit: UnitOutcome;
    let entryName = job.name;
    try {
      const { entry, options } = readImageJob(job.data);
      entryName = entry.name;
      if (options.durationSec > opts.maxDurationSec) {
        throw new ConfineError('bad-input', `the batch asks for a ${options.durationSec} s trace; this worker takes at most ${opts.maxDurationSec} s (confine worker --max-duration)`, { image: entry.name });
      }
      opts.log(`taking ${entry.name} (job ${job.id}, try ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1})`);
      await job.updateProgress({ worker: name, stage: 'starting' });
      const config: RunConfig = {
        imageList: '',
        outDir: storeOutDir(opts.cacheDir),
        resultsDir: storeResultsDir(opts.cacheDir),
        cacheDir: opts.cacheDir,
        forms: options.forms,
        debug: false,
        finegrained: options.finegrained,
        narrowPastUnknownSites: options.narrowPastUnknownSites,
        allBinaries: options.allBinaries,
        durationSec: options.durationSec,
        verify: false,
        verifyDurationSec: 10,
        jobs: 1,
      };
      // A fresh Services per job: a long-lived worker must see an image rebuilt under the same tag.
      const services = new Services(runLabel);
      const result = await runPipeline<RunConfig>({
        stages: allStages(services),
        units: [{ id: entry.name, data: entry }],
        config,
        store,
        ledger,
        reporter: progressReporter(opts.reporter, job, name),
        runId: `${runLabel}-job${job.id}`,
        jobs: 1,
        until: options.until,
        force: options.force,
        signal: opts.signal,
      });
      unit = withBeforeFailure(result.units[0], result.before);
    } catch (e) {
      // The job itself is unusable (bad line, refused option): no retry can help.
      const error = asConfineError(e, { image: entryName });
      unit = { unit: entryName, stages: [{ stage: 'run-and-trace', status: 'failed', ms: 0, error }] };
    }
    const retry = retryReason(unit, job.attemptsMade + 1, job.opts.attempts ?? 1);
    if (retry) {
      opts.log(`${entryName}: ${retry}; leaving it to a later try`);
      throw new Error(retry);
    }
    const failed = unit.stages.find((s) => s.status === 'failed');
    opts.log(`${entryName}: ${failed ? `failed — ${failed.error?.describe()}` : 'finished'}`);
    return { v: 1, worker: name, outcome: toWire(unit) };
  };

  return new Worker(IMAGES_QUEUE, processor, {
    connection: opts.target.connection,
    prefix: QUEUE_PREFIX,
    concurrency: opts.concurrency,
    name,
    lockDuration: opts.lockSec * 1000,
    stalledInterval: opts.lockSec * 1000,
    // A job is handed on after its worker is lost; twice lost is more likely the image (it kills the machine) than bad luck.
    maxStalledCount: 2,
    autorun: true,
  });
}

/**
 * Why this try should be given back to the queue (BullMQ retries it with backoff,
 * maybe on another machine): a failure of the machine — engine, container start,
 * trace, export, an interrupted worker — while tries remain. An image's own failure,
 * or the last try, is returned as the outcome instead, so it is reported once.
 */
export function retryReason(unit: UnitOutcome, attempt: number, attempts: number): string | undefined {
  if (attempt >= attempts) return undefined;
  const s = unit.stages.find((o) => o.status !== 'done' && o.status !== 'reused' && o.error && RETRYABLE.has(o.error.kind));
  return s?.error?.describe();
}

/** A failed `before` stage (load-cfgs) leaves the image's stages skipped; its error is the reason. */
function withBeforeFailure(unit: UnitOutcome, before: UnitOutcome): UnitOutcome {
  const failed = before.stages.find((s) => s.error);
  if (!failed || unit.stages.some((s) => s.error)) return unit;
  return { unit: unit.unit, stages: [...unit.stages.filter((s) => s.status !== 'skipped'), { stage: failed.stage, status: 'failed', ms: failed.ms, error: new ConfineError(failed.error!.kind, failed.error!.message, { image: unit.unit, stage: failed.stage }) }] };
}

/** The worker's own display, plus each stage start sent to the submitter as the job's progress. */
function progressReporter(inner: Reporter, job: Job, worker: string): Reporter {
  return {
    stage: (e: StageEvent) => {
      if (e.status === 'running') job.updateProgress({ worker, stage: e.stage }).catch(() => undefined);
      inner.stage(e);
    },
    progress: (u, s, m) => inner.progress(u, s, m),
    log: (u, s, l, r) => inner.log(u, s, l, r),
    close: () => undefined,
  };
}
