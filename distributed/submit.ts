import { FlowProducer, Job, Queue, QueueEvents, Worker } from 'bullmq';
import { ConfineError } from '../pipeline/errors';
import type { StageOutcome, UnitOutcome } from '../pipeline/runner';
import type { WorkUnit } from '../pipeline/stage';
import { IMAGES_QUEUE, QUEUE_PREFIX, QueueTarget } from './connection';
import type { ImageJobData } from './image-job';
import { fromWire } from './outcome-wire';
import { BatchProgress } from './progress';

export interface SubmitOptions {
  target: QueueTarget;
  batch: string;
  jobs: { unit: string; data: ImageJobData }[];
  /** Tries per image for machine failures (engine errors, a lost worker). */
  attempts: number;
  backoffMs: number;
  /** One line of batch progress (done/failed/running, per worker, ETA). */
  status: (line: string) => void;
  signal: AbortSignal;
}

/**
 * A batch on the queue as a BullMQ flow: one child job per image on the shared images
 * queue, and the batch-wide stats as their parent on a queue of this batch's own, which
 * only this process serves. The parent becomes runnable once every child finished (or
 * failed for good), and its processor hands the children's outcomes to the runner,
 * which then runs the batch-wide stages here, on the shared store.
 */
export class QueuedBatch {
  private results?: Promise<Map<string, UnitOutcome>>;
  private statsDone!: () => void;
  private readonly statsFinished = new Promise<void>((r) => (this.statsDone = r));
  private closers: (() => Promise<unknown>)[] = [];
  private parentJob?: Job;
  private childJobs: Job[] = [];
  readonly progress: BatchProgress;

  constructor(private readonly opts: SubmitOptions) {
    this.progress = new BatchProgress(opts.jobs.map((j) => j.unit), opts.status);
  }

  /** Adds the flow; outcomes arrive through delegate(). */
  async submit(): Promise<void> {
    const { connection } = this.opts.target;
    const parentQueue = `batch-${this.opts.batch}`;
    // Listening starts before the jobs exist, so no early event is missed.
    const events = new QueueEvents(IMAGES_QUEUE, { connection, prefix: QUEUE_PREFIX });
    this.closers.push(() => events.close());
    await events.waitUntilReady();
    const images = new Queue(IMAGES_QUEUE, { connection, prefix: QUEUE_PREFIX });
    this.closers.push(() => images.close());

    let resolve!: (m: Map<string, UnitOutcome>) => void;
    let reject!: (e: unknown) => void;
    this.results = new Promise((res, rej) => ((resolve = res), (reject = rej)));
    this.results.catch(() => undefined);
    // Ids chosen here, so every event and the parent's children values map to an image
    // however fast a worker is (a cached image finishes in milliseconds).
    const jobId = (i: number) => `${this.opts.batch}-${i + 1}`;
    const unitByJob = new Map<string, string>(this.opts.jobs.map((j, i) => [jobId(i), j.unit]));

    const parentWorker = new Worker(
      parentQueue,
      async (job) => {
        const values = await job.getChildrenValues();
        const failures = await job.getIgnoredChildrenFailures();
        const out = new Map<string, UnitOutcome>();
        for (const [key, value] of Object.entries(values)) {
          const unit = unitByJob.get(jobIdOf(key));
          if (!unit) continue;
          try {
            out.set(unit, fromWire(value, unit));
          } catch (e) {
            out.set(unit, failedOutcome(unit, e as ConfineError));
          }
        }
        for (const [key, reason] of Object.entries(failures)) {
          const unit = unitByJob.get(jobIdOf(key));
          if (unit && !out.has(unit)) out.set(unit, failedOutcome(unit, new ConfineError('internal', `every try on the queue failed: ${reason}`, { image: unit })));
        }
        resolve(out);
        // The parent (the batch-wide stats) finishes when the runner here has run them.
        await this.statsFinished;
        return { images: out.size };
      },
      { connection, prefix: QUEUE_PREFIX, concurrency: 1 },
    );
    this.closers.push(() => parentWorker.close());
    parentWorker.on('failed', (_job, e) => reject(e));

    // Listeners first: an image taken the moment it is added still shows.
    const unitOf = (id: string) => unitByJob.get(id);
    events.on('active', ({ jobId }) => unitOf(jobId) && this.progress.running(unitOf(jobId)!));
    events.on('progress', ({ jobId, data }) => {
      const d = data as { worker?: unknown; stage?: unknown };
      if (unitOf(jobId) && typeof d?.worker === 'string') this.progress.running(unitOf(jobId)!, d.worker, typeof d.stage === 'string' ? d.stage : undefined);
    });
    events.on('completed', ({ jobId, returnvalue }) => {
      const unit = unitOf(jobId);
      if (!unit) return;
      try {
        const o = fromWire(returnvalue, unit);
        this.progress.finished(unit, o.stages.some((s) => s.status === 'failed') ? 'failed' : 'done');
      } catch {
        this.progress.finished(unit, 'failed');
      }
    });
    events.on('failed', ({ jobId, failedReason }) => unitOf(jobId) && this.progress.retrying(unitOf(jobId)!, failedReason));
    events.on('stalled', ({ jobId }) => unitOf(jobId) && this.progress.stalled(unitOf(jobId)!));
    const flow = new FlowProducer({ connection, prefix: QUEUE_PREFIX });
    this.closers.push(() => flow.close());
    const childOpts = {
      attempts: this.opts.attempts,
      backoff: { type: 'exponential' as const, delay: this.opts.backoffMs },
      // A child that failed for good must not hold the batch: the parent runs and reports it.
      ignoreDependencyOnFailure: true,
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    };
    const tree = await flow.add({
      name: 'stats',
      queueName: parentQueue,
      data: { batch: this.opts.batch, images: this.opts.jobs.length },
      opts: { removeOnComplete: true, removeOnFail: true },
      children: this.opts.jobs.map((j, i) => ({ name: j.unit, queueName: IMAGES_QUEUE, data: j.data, opts: { ...childOpts, jobId: jobId(i) } })),
    });
    this.parentJob = tree.job;
    this.childJobs = (tree.children ?? []).map((c) => c.job);

    const parentQueueHandle = new Queue(parentQueue, { connection, prefix: QUEUE_PREFIX });
    this.closers.push(() => parentQueueHandle.close());
    const parentId = String(tree.job.id);
    const timer = setInterval(() => {
      images.getWorkers().then((w) => this.progress.workers(w.length), () => undefined);
      // A Redis restarted without persistence forgets the batch: say so instead of waiting forever.
      parentQueueHandle.getJobState(parentId).then((state) => {
        if (state === 'unknown') reject(new ConfineError('interrupted', 'the batch is gone from the queue (Redis restarted without persistence?); resubmit the list: finished images are reused from the store'));
      }, () => undefined);
    }, 2000);
    timer.unref();
    this.closers.push(async () => clearInterval(timer));
    images.getWorkers().then((w) => this.progress.workers(w.length), () => undefined);

    this.opts.signal.addEventListener('abort', () => reject(new ConfineError('interrupted', 'the submitter was interrupted; queued images not yet taken are withdrawn')), { once: true });
  }

  /** The runner's delegate: the unit's outcome once the whole batch is through the queue. */
  delegate = async (unit: WorkUnit): Promise<UnitOutcome> => {
    if (!this.results) throw new ConfineError('internal', 'delegate called before the batch was submitted');
    const all = await this.results;
    return all.get(unit.id) ?? failedOutcome(unit.id, new ConfineError('internal', 'the queue returned nothing for this image', { image: unit.id }));
  };

  /** The batch-wide stages ran: the parent job completes, and everything closes. */
  async finish(): Promise<void> {
    this.statsDone();
    this.progress.close();
  }

  async close(): Promise<void> {
    this.statsDone();
    this.progress.close();
    if (this.opts.signal.aborted && this.parentJob) {
      // Withdraw what no worker holds yet; a held job cannot be removed (BullMQ refuses
      // the whole tree then), so each goes alone, and held ones finish into the store.
      for (const job of this.childJobs) await job.remove().catch(() => undefined);
      await this.parentJob.remove({ removeChildren: false }).catch(() => undefined);
    }
    for (const c of this.closers.reverse()) await c().catch(() => undefined);
  }
}

/** `prefix:queue:id` → id */
function jobIdOf(key: string): string {
  return key.slice(key.lastIndexOf(':') + 1);
}

function failedOutcome(unit: string, error: ConfineError): UnitOutcome {
  const stage: StageOutcome = { stage: 'run-and-trace', status: 'failed', ms: 0, error: new ConfineError(error.kind, error.message, { image: unit, stage: 'run-and-trace' }) };
  return { unit, stages: [stage] };
}
