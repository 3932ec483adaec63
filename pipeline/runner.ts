import * as os from 'node:os';
import { CacheKey } from '../cache/digest';
import { ContentStore, ReadOutcome } from '../cache/content-store';
import { Fingerprint, fingerprintKey } from '../cache/fingerprint';
import { HotCache } from '../cache/hot-cache';
import { asConfineError, ConfineError } from './errors';
import { Ledger, StageStatus } from './ledger';
import { Reporter } from './reporter';
import { Semaphore } from './semaphore';
import { MemoRequest, Stage, StageContext, WorkUnit } from './stage';
import { orderStages } from './dag';

export interface RunOptions<Config> {
  stages: readonly Stage<any, any, Config>[];
  units: readonly WorkUnit[];
  config: Config;
  store: ContentStore;
  ledger: Ledger;
  reporter: Reporter;
  runId: string;
  /** Containers at once (the `container` pool). */
  jobs: number;
  /** CPU-bound tasks at once; defaults to the number of cores. */
  cpus?: number;
  /** Stop after this stage (it and everything it needs run). */
  until?: string;
  /** Run only this stage; what it needs must already be in the cache. */
  only?: string;
  /** Recompute the selected stages even when their artifacts are cached. */
  force?: boolean;
  signal?: AbortSignal;
  /**
   * Runs a unit's per-unit stages somewhere else (another process or machine writing
   * to the same store) instead of here. The runner records what it returns in the
   * ledger and reporter as if it had run the stages, and reads back from the store the
   * outputs the `after` stages need.
   */
  delegate?: (unit: WorkUnit) => Promise<UnitOutcome>;
}

export interface StageOutcome {
  stage: string;
  status: Exclude<StageStatus, 'pending' | 'running'>;
  key?: CacheKey;
  /** sha256 of the output's canonical JSON: what downstream fingerprints chain on. */
  outputDigest?: string;
  ms: number;
  error?: ConfineError;
}

export interface UnitOutcome {
  unit: string;
  stages: StageOutcome[];
}

export interface RunResult {
  before: UnitOutcome;
  units: UnitOutcome[];
  after: UnitOutcome;
  /** Outputs of the last selected stage per unit (and of global stages), for the caller's report. */
  outputs: Map<string, Map<string, unknown>>;
  interrupted: boolean;
}

const GLOBAL_UNIT: WorkUnit = { id: '*', data: undefined };

/**
 * Executes the stage DAG for every unit, incrementally: a stage whose fingerprint
 * (name, version, schema, config slice, upstream keys, external inputs) has a valid
 * cached artifact is reused, not run. A failing unit never stops the others; its
 * downstream stages are skipped. The ledger records every transition so a rerun
 * after a crash can say what it resumes.
 */
export async function runPipeline<Config>(opts: RunOptions<Config>): Promise<RunResult> {
  const ordered = orderStages(opts.stages);
  const selected = selectStages(ordered, opts.until, opts.only);
  const containerPool = new Semaphore(Math.max(1, opts.jobs));
  const cpuPool = new Semaphore(Math.max(1, opts.cpus ?? os.cpus().length));
  const hot = new HotCache();
  const signal = opts.signal ?? new AbortController().signal;
  const outputs = new Map<string, Map<string, unknown>>();

  // I/O-bound stages (image exports, file reads) get their own pool so they never
  // wait behind 30-second traces, yet a hundred images do not stream at once.
  const ioPool = new Semaphore(Math.max(2, opts.jobs));
  const pools: Record<Stage['resource'], Semaphore> = { container: containerPool, cpu: cpuPool, io: ioPool };

  /** Output digests of `before` stages, chained into the fingerprints of stages that need them. */
  const globalKeys = new Map<string, string>();
  const globalOutputs = new Map<string, unknown>();
  const inflight = new Map<string, Promise<unknown>>();
  /** Stage computations in progress by key; resolves (never rejects) to whether it stored an artifact. */
  const stageInflight = new Map<string, Promise<boolean>>();

  async function runStage(stage: Stage<any, any, Config>, unit: WorkUnit, upstream: Map<string, { digest: string; value: unknown }>): Promise<StageOutcome & { value?: unknown }> {
    // Reset once the stage gets its pool slot: reported times are work, not queueing.
    let t0 = Date.now();
    /** Lets units waiting on this unit's computation of the same key go on; set when this unit claims the key. */
    let releaseKey = (_stored: boolean) => undefined as void;
    let stored = false;
    const logs: string[] = [];
    const ctx: StageContext = {
      signal,
      reporter: opts.reporter,
      log: (line) => {
        logs.push(line);
        opts.reporter.log(unit.id, stage.name, line, false);
      },
      progress: (m) => opts.reporter.progress(unit.id, stage.name, m),
      memo: (req, compute) => memo(req, compute),
      cpu: (fn) => cpuPool.use(fn),
    };
    const memo = async <T>(req: MemoRequest, compute: () => Promise<T>): Promise<{ key: CacheKey; value: T; reused: boolean }> => {
      const fp: Fingerprint = { stage: req.name, version: req.version, schema: req.schema, config: req.config ?? null, inputs: req.inputs };
      const key = fingerprintKey(fp);
      // Two images scanning the same libc at once share one computation.
      const pending = inflight.get(key) as Promise<{ key: CacheKey; value: T; reused: boolean }> | undefined;
      if (pending) {
        try {
          return { ...(await pending), reused: true };
        } catch {
          // It failed in another image's context (its helper container removed, its
          // run aborted): compute it here instead of inheriting that image's failure.
          // If a third image already retries, share that attempt.
          const retry = inflight.get(key) as typeof pending | undefined;
          if (retry && retry !== pending) return { ...(await retry), reused: true };
        }
      }
      const p = memoOnce(fp, key, compute);
      inflight.set(key, p);
      try {
        return await p;
      } finally {
        if (inflight.get(key) === p) inflight.delete(key);
      }
    };
    const memoOnce = async <T>(fp: Fingerprint, key: CacheKey, compute: () => Promise<T>) => {
      // The hot cache only holds what this run read or computed, so even --force
      // computes a shared sub-artifact once per run, not once per image.
      const cached = hot.get<T>(key);
      if (cached !== undefined) return { key, value: cached, reused: true };
      const got = await readOrCompute<T>(opts.store, signal, {
        fp,
        key,
        readFirst: !opts.force,
        // A sub-artifact is the same whoever computed it: even under --force, take the other process's.
        rereadAfterWait: true,
        onCorrupt: (reason) => ctx.log(`cache entry ${key.slice(0, 12)} (${fp.stage}) was corrupt (${reason}); recomputing`),
        compute,
      });
      const value = got.reused ? got.hit.artifact : got.value;
      hot.set(key, value);
      return { key, value, reused: got.reused };
    };

    const finish = (status: StageOutcome['status'], extra: Partial<StageOutcome> & { value?: unknown } = {}) => {
      const ms = Date.now() - t0;
      const rec = { run: opts.runId, image: unit.id, stage: stage.name, status, key: extra.key, error: extra.error ? { kind: extra.error.kind, message: extra.error.message } : undefined };
      opts.ledger.append(rec);
      opts.reporter.stage({ unit: unit.id, stage: stage.name, status, ms, detail: extra.error?.describe() });
      return { stage: stage.name, status, ms, ...extra };
    };

    try {
      if (signal.aborted) throw new ConfineError('interrupted', 'run interrupted before this stage started');
      const inputs: Record<string, string> = {};
      for (const need of stage.needs) {
        // Chaining the upstream output's digest (not its key) means a stage reruns
        // exactly when what it reads changed: a re-traced container that did the
        // same things leaves everything downstream reused.
        const digest = upstream.get(need)?.digest ?? globalKeys.get(need);
        if (!digest) throw new ConfineError('internal', `stage ${stage.name} needs ${need}, which has no output`);
        inputs[`stage:${need}`] = digest;
      }
      if (stage.externalInputs) Object.assign(inputs, await stage.externalInputs(unit, opts.config, ctx));
      const fp: Fingerprint = { stage: stage.name, version: stage.version, schema: stage.schema, config: stage.configSlice(opts.config) ?? null, inputs };
      const key = fingerprintKey(fp);
      const mode = selected.get(stage.name)!;

      // Another unit with this very fingerprint (a re-tagged image past the stages that
      // read its ID) is computing it now: wait, then take its artifact from the store.
      const computing = stageInflight.get(key);
      // Under --force only an artifact stored by this run counts; one from an earlier run is what --force refuses.
      const storedByThisRun = computing ? await computing : false;
      if (!computing) stageInflight.set(key, new Promise<boolean>((r) => (releaseKey = (ok) => {
        stageInflight.delete(key);
        r(ok);
      })));

      const got = await readOrCompute<unknown>(opts.store, signal, {
        fp,
        key,
        readFirst: !(opts.force && mode === 'run') || storedByThisRun,
        // A process elsewhere on the same store (a worker given the same image) may be computing it now.
        // Under --force only what this run computes counts; the other process's entry may be an old one.
        rereadAfterWait: !opts.force,
        usable: async (artifact) => !stage.stillValid || (await stage.stillValid(artifact, opts.config)),
        onUnusable: () => ctx.log('cached output refers to files that are gone; recomputing'),
        onCorrupt: (reason) => ctx.log(`cached artifact was corrupt (${reason}); recomputing`),
        beforeLock: () => {
          if (mode === 'reuse-only') {
            throw new ConfineError('upstream-failed', `no cached ${stage.name} artifact for these inputs; run with --until ${stage.name} first`);
          }
        },
        compute: async () => {
          opts.ledger.append({ run: opts.runId, image: unit.id, stage: stage.name, status: 'running', key });
          opts.reporter.stage({ unit: unit.id, stage: stage.name, status: 'running' });
          const deps: Record<string, unknown> = {};
          for (const need of stage.needs) deps[need] = upstream.get(need)?.value ?? globalOutputs.get(need);
          const value = await pools[stage.resource].use(() => {
            t0 = Date.now();
            return stage.run(deps, ctx, unit, opts.config);
          });
          if (signal.aborted) throw new ConfineError('interrupted', 'run interrupted while this stage ran');
          return value;
        },
        log: logs,
      });
      if (got.reused) {
        for (const line of got.hit.log) opts.reporter.log(unit.id, stage.name, line, true);
        return finish('reused', { key, value: got.hit.artifact, outputDigest: got.hit.digest });
      }
      stored = true;
      return finish('done', { key, value: got.value, outputDigest: got.digest });
    } catch (e) {
      const error = asConfineError(e, { image: unit.id === '*' ? undefined : unit.id, stage: stage.name });
      return finish(error.kind === 'interrupted' ? 'interrupted' : 'failed', { error });
    } finally {
      releaseKey(stored);
    }
  }

  async function runChain(stages: Stage<any, any, Config>[], unit: WorkUnit): Promise<UnitOutcome> {
    const outcomes: StageOutcome[] = [];
    const upstream = new Map<string, { digest: string; value: unknown }>();
    const failed = new Set<string>();
    const unitOutputs = new Map<string, unknown>();
    for (const stage of stages) {
      const blockedBy = stage.needs.find((n) => failed.has(n) || (!upstream.has(n) && !globalKeys.has(n)));
      if (blockedBy) {
        failed.add(stage.name);
        opts.ledger.append({ run: opts.runId, image: unit.id, stage: stage.name, status: 'skipped' });
        opts.reporter.stage({ unit: unit.id, stage: stage.name, status: 'skipped', detail: `${blockedBy} did not produce an output` });
        outcomes.push({ stage: stage.name, status: 'skipped', ms: 0 });
        continue;
      }
      const { value, ...outcome } = await runStage(stage, unit, upstream);
      outcomes.push(outcome);
      if (outcome.status === 'done' || outcome.status === 'reused') {
        upstream.set(stage.name, { digest: outcome.outputDigest!, value });
        unitOutputs.set(stage.name, value);
      } else failed.add(stage.name);
    }
    outputs.set(unit.id, unitOutputs);
    return { unit: unit.id, stages: outcomes };
  }

  /**
   * A unit run elsewhere: its outcomes are recorded here, and the outputs this run still
   * needs (what `after` stages read, the last stage's for the caller) are read from the
   * store by key, checked against the digest the remote run reported.
   */
  async function runDelegated(delegate: (u: WorkUnit) => Promise<UnitOutcome>, stages: Stage<any, any, Config>[], unit: WorkUnit): Promise<UnitOutcome> {
    let remote: UnitOutcome;
    try {
      remote = await delegate(unit);
    } catch (e) {
      const error = asConfineError(e, { image: unit.id });
      remote = { unit: unit.id, stages: stages.map((s) => ({ stage: s.name, status: signal.aborted ? 'interrupted' : 'failed', ms: 0, error })) };
    }
    const wanted = new Set([...byScope('after').flatMap((s) => s.needs), stages[stages.length - 1]?.name]);
    const unitOutputs = new Map<string, unknown>();
    const outcomes: StageOutcome[] = [];
    for (const o of remote.stages) {
      let outcome = o;
      if (o.outputDigest && o.key && wanted.has(o.stage)) {
        const got = await opts.store.read(o.key);
        if (got.status === 'hit' && got.digest === o.outputDigest) unitOutputs.set(o.stage, got.artifact);
        else {
          const why = got.status === 'hit' ? 'holds another output than the one reported' : got.status === 'corrupt' ? `is corrupt (${got.reason})` : 'is missing';
          outcome = { stage: o.stage, status: 'failed', ms: o.ms, error: new ConfineError('cache-corrupt', `the store entry ${o.key.slice(0, 12)} this stage reported ${why}; is every machine using the same store?`, { image: unit.id, stage: o.stage }) };
        }
      }
      outcomes.push(outcome);
      opts.ledger.append({ run: opts.runId, image: unit.id, stage: outcome.stage, status: outcome.status, key: outcome.key, error: outcome.error ? { kind: outcome.error.kind, message: outcome.error.message } : undefined });
      opts.reporter.stage({ unit: unit.id, stage: outcome.stage, status: outcome.status, ms: outcome.ms, detail: outcome.error?.describe() });
    }
    outputs.set(unit.id, unitOutputs);
    return { unit: unit.id, stages: outcomes };
  }

  const byScope = (scope: Stage['scope']) => ordered.filter((s) => s.scope === scope && selected.has(s.name));

  opts.reporter.batch?.(opts.units.length);
  const before = await runChain(byScope('before'), GLOBAL_UNIT);
  for (const o of before.stages) {
    if (o.outputDigest) {
      globalKeys.set(o.stage, o.outputDigest);
      globalOutputs.set(o.stage, outputs.get('*')?.get(o.stage));
    }
  }
  const imageStages = byScope('image');
  const units = await Promise.all(
    opts.units.map((u) =>
      (opts.delegate ? runDelegated(opts.delegate, imageStages, u) : runChain(imageStages, u)).then((o) => {
        const how = o.stages.some((s) => s.status === 'interrupted') ? 'interrupted' : o.stages.some((s) => s.status === 'failed' || s.status === 'skipped') ? 'failed' : 'done';
        opts.reporter.unitDone?.(u.id, how);
        return o;
      }),
    ),
  );
  const beforeOutputs = outputs.get('*');

  // `after` stages see every unit's outputs of their needs, keyed by unit id; their
  // fingerprint chains the digests of those outputs, so one changed image reruns them.
  const afterStages = byScope('after');
  const after: UnitOutcome = { unit: '*', stages: [] };
  for (const stage of afterStages) {
    const perUnit = new Map<string, { digest: string; value: unknown }>();
    const collected: Record<string, Record<string, unknown>> = {};
    for (const need of stage.needs) {
      collected[need] = {};
      units.forEach((u) => {
        const o = u.stages.find((s) => s.stage === need && s.outputDigest);
        if (o) collected[need][u.unit] = outputs.get(u.unit)?.get(need);
      });
    }
    const keys = Object.fromEntries(
      units.flatMap((u) => u.stages.filter((s) => stage.needs.includes(s.stage) && s.outputDigest).map((s) => [`${s.stage}:${u.unit}`, s.outputDigest!])),
    );
    const unit: WorkUnit = { id: '*', data: collected };
    const wrapped: Stage<any, any, Config> = {
      ...stage,
      needs: [],
      externalInputs: async () => keys,
      run: (_deps, ctx, u, cfg) => stage.run(collected, ctx, u, cfg),
    };
    const { value, ...outcome } = await runStage(wrapped, unit, perUnit);
    after.stages.push(outcome);
    if (value !== undefined) {
      if (!outputs.has('*')) outputs.set('*', beforeOutputs ?? new Map());
      outputs.get('*')!.set(stage.name, value);
    }
  }

  return { before, units, after, outputs, interrupted: signal.aborted };
}

interface ReadOrCompute<T> {
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

type Hit<T> = Extract<ReadOutcome<T>, { status: 'hit' }>;

/**
 * The content store's protocol for one key, shared by stages and memoized sub-artifacts:
 * read → lock → re-read (another process sharing the store may have computed it while
 * we waited) → compute → write. A corrupt entry is recomputed, never trusted.
 */
async function readOrCompute<T>(
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

type Mode = 'run' | 'reuse-only';

/** Which stages take part, and whether each may run or must come from the cache. */
function selectStages<C>(ordered: Stage<any, any, C>[], until?: string, only?: string): Map<string, Mode> {
  const names = ordered.map((s) => s.name);
  for (const n of [until, only]) {
    if (n !== undefined && !names.includes(n)) throw new ConfineError('bad-input', `unknown stage '${n}'; stages are: ${names.join(', ')}`);
  }
  const target = only ?? until;
  const out = new Map<string, Mode>();
  if (!target) {
    for (const s of ordered) out.set(s.name, 'run');
    return out;
  }
  // The target and its transitive needs, nothing downstream of it.
  const byName = new Map(ordered.map((s) => [s.name, s]));
  const wanted = new Set<string>();
  const visit = (n: string) => {
    if (wanted.has(n)) return;
    wanted.add(n);
    for (const d of byName.get(n)!.needs) visit(d);
  };
  visit(target);
  for (const s of ordered) if (wanted.has(s.name)) out.set(s.name, only && s.name !== only ? 'reuse-only' : 'run');
  return out;
}
