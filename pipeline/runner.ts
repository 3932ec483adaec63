import * as os from 'node:os';
import { CacheKey } from '../cache/digest';
import { ContentStore } from '../cache/content-store';
import { Fingerprint, fingerprintKey } from '../cache/fingerprint';
import { asConfineError, ConfineError } from './errors';
import { Ledger, StageStatus } from './ledger';
import { Reporter } from './reporter';
import { Semaphore } from './semaphore';
import { Stage, StageContext, WorkUnit } from './stage';
import { orderStages } from './dag';
import { Hit, readOrCompute } from './read-or-compute';
import { Mode, selectStages } from './select-stages';
import { StageClaims } from './stage-claims';
import { SubArtifacts } from './sub-artifacts';

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
  return new PipelineRun(opts).run();
}

type AnyStage<Config> = Stage<any, any, Config>;
/** Outputs of a unit's earlier stages: the digest chains into fingerprints, the value is what `run` reads. */
type Upstream = Map<string, { digest: string; value: unknown }>;
type StageResult = StageOutcome & { value?: unknown };
/** When a stage's reported time starts; reset once it gets its pool slot, so reported times are work, not queueing. */
type StageClock = { start: number };

/** One run of the pipeline: the state its scopes (before, every unit, after) share. */
class PipelineRun<Config> {
  private readonly ordered: AnyStage<Config>[];
  private readonly selected: Map<string, Mode>;
  private readonly pools: Record<Stage['resource'], Semaphore>;
  private readonly signal: AbortSignal;
  private readonly subArtifacts: SubArtifacts;
  private readonly claims = new StageClaims();
  /** Output digests of `before` stages, chained into the fingerprints of stages that need them. */
  private readonly globalKeys = new Map<string, string>();
  private readonly globalOutputs = new Map<string, unknown>();
  /** Outputs per unit id, handed to the caller and to `after` stages. */
  private readonly outputs = new Map<string, Map<string, unknown>>();

  constructor(private readonly opts: RunOptions<Config>) {
    this.ordered = orderStages(opts.stages);
    this.selected = selectStages(this.ordered, opts.until, opts.only);
    this.signal = opts.signal ?? new AbortController().signal;
    this.pools = {
      container: new Semaphore(Math.max(1, opts.jobs)),
      cpu: new Semaphore(Math.max(1, opts.cpus ?? os.cpus().length)),
      // I/O-bound stages (image exports, file reads) get their own pool so they never
      // wait behind 30-second traces, yet a hundred images do not stream at once.
      io: new Semaphore(Math.max(2, opts.jobs)),
    };
    this.subArtifacts = new SubArtifacts(opts.store, this.signal, !!opts.force);
  }

  async run(): Promise<RunResult> {
    this.opts.reporter.batch?.(this.opts.units.length);
    const before = await this.runChain(this.byScope('before'), GLOBAL_UNIT);
    this.publishGlobals(before);
    const imageStages = this.byScope('image');
    const units = await Promise.all(this.opts.units.map((u) => this.runUnit(imageStages, u)));
    const after: UnitOutcome = { unit: '*', stages: [] };
    for (const stage of this.byScope('after')) after.stages.push(await this.runAfterStage(stage, units));
    return { before, units, after, outputs: this.outputs, interrupted: this.signal.aborted };
  }

  private byScope(scope: Stage['scope']): AnyStage<Config>[] {
    return this.ordered.filter((s) => s.scope === scope && this.selected.has(s.name));
  }

  /** `before` outputs are every unit's upstream: later fingerprints chain their digests. */
  private publishGlobals(before: UnitOutcome): void {
    for (const o of before.stages) {
      if (o.outputDigest) {
        this.globalKeys.set(o.stage, o.outputDigest);
        this.globalOutputs.set(o.stage, this.outputs.get('*')?.get(o.stage));
      }
    }
  }

  /** One image's stages, here or delegated; the reporter hears how it ended (for the batch line). */
  private async runUnit(stages: AnyStage<Config>[], unit: WorkUnit): Promise<UnitOutcome> {
    const o = this.opts.delegate ? await this.runDelegated(this.opts.delegate, stages, unit) : await this.runChain(stages, unit);
    const how = o.stages.some((s) => s.status === 'interrupted') ? 'interrupted' : o.stages.some((s) => s.status === 'failed' || s.status === 'skipped') ? 'failed' : 'done';
    this.opts.reporter.unitDone?.(unit.id, how);
    return o;
  }

  /** A unit's stages in order; a stage whose needs produced no output is skipped, not run. */
  private async runChain(stages: AnyStage<Config>[], unit: WorkUnit): Promise<UnitOutcome> {
    const outcomes: StageOutcome[] = [];
    const upstream: Upstream = new Map();
    const failed = new Set<string>();
    const unitOutputs = new Map<string, unknown>();
    for (const stage of stages) {
      const blockedBy = stage.needs.find((n) => failed.has(n) || (!upstream.has(n) && !this.globalKeys.has(n)));
      if (blockedBy) {
        failed.add(stage.name);
        outcomes.push(this.skip(stage, unit, blockedBy));
        continue;
      }
      const { value, ...outcome } = await this.runStage(stage, unit, upstream);
      outcomes.push(outcome);
      if (outcome.status === 'done' || outcome.status === 'reused') {
        upstream.set(stage.name, { digest: outcome.outputDigest!, value });
        unitOutputs.set(stage.name, value);
      } else failed.add(stage.name);
    }
    this.outputs.set(unit.id, unitOutputs);
    return { unit: unit.id, stages: outcomes };
  }

  private skip(stage: AnyStage<Config>, unit: WorkUnit, blockedBy: string): StageOutcome {
    this.opts.ledger.append({ run: this.opts.runId, image: unit.id, stage: stage.name, status: 'skipped' });
    this.opts.reporter.stage({ unit: unit.id, stage: stage.name, status: 'skipped', detail: `${blockedBy} did not produce an output` });
    return { stage: stage.name, status: 'skipped', ms: 0 };
  }

  /**
   * One stage for one unit: fingerprint it, then reuse its cached artifact or compute
   * and store it. Every failure becomes the outcome's error, never a throw.
   */
  private async runStage(stage: AnyStage<Config>, unit: WorkUnit, upstream: Upstream): Promise<StageResult> {
    const clock: StageClock = { start: Date.now() };
    const logs: string[] = [];
    const ctx = this.stageContext(stage, unit, logs);
    let release = (_stored: boolean) => undefined as void;
    let stored = false;
    try {
      if (this.signal.aborted) throw new ConfineError('interrupted', 'run interrupted before this stage started');
      const fp = await this.fingerprint(stage, unit, upstream, ctx);
      const key = fingerprintKey(fp);
      const claim = await this.claims.claim(key);
      release = claim.release;
      const got = await readOrCompute<unknown>(this.opts.store, this.signal, {
        ...this.cachePolicy(stage, ctx, claim.storedByThisRun),
        fp,
        key,
        compute: () => this.compute(stage, unit, upstream, ctx, key, clock),
        log: logs,
      });
      if (got.reused) return this.reuse(stage, unit, clock, key, got.hit);
      stored = true;
      return this.finish(stage, unit, clock, 'done', { key, value: got.value, outputDigest: got.digest });
    } catch (e) {
      const error = asConfineError(e, { image: unit.id === '*' ? undefined : unit.id, stage: stage.name });
      return this.finish(stage, unit, clock, error.kind === 'interrupted' ? 'interrupted' : 'failed', { error });
    } finally {
      release(stored);
    }
  }

  /** What a stage may use while it runs; `logs` keeps its lines for the artifact. */
  private stageContext(stage: AnyStage<Config>, unit: WorkUnit, logs: string[]): StageContext {
    const ctx: StageContext = {
      signal: this.signal,
      reporter: this.opts.reporter,
      log: (line) => {
        logs.push(line);
        this.opts.reporter.log(unit.id, stage.name, line, false);
      },
      progress: (m) => this.opts.reporter.progress(unit.id, stage.name, m),
      memo: (req, compute) => this.subArtifacts.memo(req, compute, ctx.log),
      cpu: (fn) => this.pools.cpu.use(fn),
    };
    return ctx;
  }

  /** Everything that decides the stage's output; a throw from `externalInputs` is the stage failing. */
  private async fingerprint(stage: AnyStage<Config>, unit: WorkUnit, upstream: Upstream, ctx: StageContext): Promise<Fingerprint> {
    const inputs: Record<string, string> = {};
    for (const need of stage.needs) {
      // Chaining the upstream output's digest (not its key) means a stage reruns
      // exactly when what it reads changed: a re-traced container that did the
      // same things leaves everything downstream reused.
      const digest = upstream.get(need)?.digest ?? this.globalKeys.get(need);
      if (!digest) throw new ConfineError('internal', `stage ${stage.name} needs ${need}, which has no output`);
      inputs[`stage:${need}`] = digest;
    }
    if (stage.externalInputs) Object.assign(inputs, await stage.externalInputs(unit, this.opts.config, ctx));
    return { stage: stage.name, version: stage.version, schema: stage.schema, config: stage.configSlice(this.opts.config) ?? null, inputs };
  }

  /** When a cached artifact may stand in for running the stage (--force, --only, stillValid). */
  private cachePolicy(stage: AnyStage<Config>, ctx: StageContext, storedByThisRun: boolean) {
    const mode = this.selected.get(stage.name)!;
    const force = !!this.opts.force;
    return {
      // Under --force only an artifact stored by this run counts; one from an earlier run is what --force refuses.
      readFirst: !(force && mode === 'run') || storedByThisRun,
      // A process elsewhere on the same store (a worker given the same image) may be computing it now.
      // Under --force only what this run computes counts; the other process's entry may be an old one.
      rereadAfterWait: !force,
      usable: async (artifact: unknown) => !stage.stillValid || (await stage.stillValid(artifact, this.opts.config)),
      onUnusable: () => ctx.log('cached output refers to files that are gone; recomputing'),
      onCorrupt: (reason: string) => ctx.log(`cached artifact was corrupt (${reason}); recomputing`),
      beforeLock: () => {
        if (mode === 'reuse-only') {
          throw new ConfineError('upstream-failed', `no cached ${stage.name} artifact for these inputs; run with --until ${stage.name} first`);
        }
      },
    };
  }

  /** Runs the stage itself, within its pool, once the store had nothing to reuse. */
  private async compute(stage: AnyStage<Config>, unit: WorkUnit, upstream: Upstream, ctx: StageContext, key: CacheKey, clock: StageClock): Promise<unknown> {
    this.opts.ledger.append({ run: this.opts.runId, image: unit.id, stage: stage.name, status: 'running', key });
    this.opts.reporter.stage({ unit: unit.id, stage: stage.name, status: 'running' });
    const deps: Record<string, unknown> = {};
    for (const need of stage.needs) deps[need] = upstream.get(need)?.value ?? this.globalOutputs.get(need);
    const value = await this.pools[stage.resource].use(() => {
      clock.start = Date.now();
      return stage.run(deps, ctx, unit, this.opts.config);
    });
    if (this.signal.aborted) throw new ConfineError('interrupted', 'run interrupted while this stage ran');
    return value;
  }

  /** A cache hit: its stored log lines are replayed so the display reads as if it ran. */
  private reuse(stage: AnyStage<Config>, unit: WorkUnit, clock: StageClock, key: CacheKey, hit: Hit<unknown>): StageResult {
    for (const line of hit.log) this.opts.reporter.log(unit.id, stage.name, line, true);
    return this.finish(stage, unit, clock, 'reused', { key, value: hit.artifact, outputDigest: hit.digest });
  }

  private finish(stage: AnyStage<Config>, unit: WorkUnit, clock: StageClock, status: StageOutcome['status'], extra: Partial<StageOutcome> & { value?: unknown } = {}): StageResult {
    const outcome = { stage: stage.name, status, ms: Date.now() - clock.start, ...extra };
    this.record(unit.id, outcome);
    return outcome;
  }

  /** A stage's end, in the ledger (for resuming) and to the reporter. */
  private record(unitId: string, o: StageOutcome): void {
    this.opts.ledger.append({ run: this.opts.runId, image: unitId, stage: o.stage, status: o.status, key: o.key, error: o.error ? { kind: o.error.kind, message: o.error.message } : undefined });
    this.opts.reporter.stage({ unit: unitId, stage: o.stage, status: o.status, ms: o.ms, detail: o.error?.describe() });
  }

  /**
   * A unit run elsewhere: its outcomes are recorded here, and the outputs this run still
   * needs (what `after` stages read, the last stage's for the caller) are read from the
   * store by key, checked against the digest the remote run reported.
   */
  private async runDelegated(delegate: (u: WorkUnit) => Promise<UnitOutcome>, stages: AnyStage<Config>[], unit: WorkUnit): Promise<UnitOutcome> {
    const remote = await this.askDelegate(delegate, stages, unit);
    const wanted = new Set([...this.byScope('after').flatMap((s) => s.needs), stages[stages.length - 1]?.name]);
    const unitOutputs = new Map<string, unknown>();
    const outcomes: StageOutcome[] = [];
    for (const o of remote.stages) {
      const outcome = o.outputDigest && o.key && wanted.has(o.stage) ? await this.readRemoteOutput(o, unit, unitOutputs) : o;
      outcomes.push(outcome);
      this.record(unit.id, outcome);
    }
    this.outputs.set(unit.id, unitOutputs);
    return { unit: unit.id, stages: outcomes };
  }

  /** The delegate's outcomes; if it throws, every stage failed (or was interrupted) with its error. */
  private async askDelegate(delegate: (u: WorkUnit) => Promise<UnitOutcome>, stages: AnyStage<Config>[], unit: WorkUnit): Promise<UnitOutcome> {
    try {
      return await delegate(unit);
    } catch (e) {
      const error = asConfineError(e, { image: unit.id });
      return { unit: unit.id, stages: stages.map((s) => ({ stage: s.name, status: this.signal.aborted ? 'interrupted' : 'failed', ms: 0, error })) };
    }
  }

  /** Reads a remotely computed output into `unitOutputs`; an entry that is not what was reported fails the stage. */
  private async readRemoteOutput(o: StageOutcome, unit: WorkUnit, unitOutputs: Map<string, unknown>): Promise<StageOutcome> {
    const got = await this.opts.store.read(o.key!);
    if (got.status === 'hit' && got.digest === o.outputDigest) {
      unitOutputs.set(o.stage, got.artifact);
      return o;
    }
    const why = got.status === 'hit' ? 'holds another output than the one reported' : got.status === 'corrupt' ? `is corrupt (${got.reason})` : 'is missing';
    return { stage: o.stage, status: 'failed', ms: o.ms, error: new ConfineError('cache-corrupt', `the store entry ${o.key!.slice(0, 12)} this stage reported ${why}; is every machine using the same store?`, { image: unit.id, stage: o.stage }) };
  }

  /**
   * An `after` stage sees every unit's outputs of its needs, keyed by unit id; its
   * fingerprint chains the digests of those outputs, so one changed image reruns it.
   */
  private async runAfterStage(stage: AnyStage<Config>, units: UnitOutcome[]): Promise<StageOutcome> {
    const collected: Record<string, Record<string, unknown>> = {};
    for (const need of stage.needs) {
      collected[need] = {};
      units.forEach((u) => {
        const o = u.stages.find((s) => s.stage === need && s.outputDigest);
        if (o) collected[need][u.unit] = this.outputs.get(u.unit)?.get(need);
      });
    }
    const keys = Object.fromEntries(
      units.flatMap((u) => u.stages.filter((s) => stage.needs.includes(s.stage) && s.outputDigest).map((s) => [`${s.stage}:${u.unit}`, s.outputDigest!])),
    );
    // Its needs are met by `collected`, not by a chain: the wrapped stage has none, and the digests are its external inputs.
    const wrapped: AnyStage<Config> = {
      ...stage,
      needs: [],
      externalInputs: async () => keys,
      run: (_deps, ctx, u, cfg) => stage.run(collected, ctx, u, cfg),
    };
    const { value, ...outcome } = await this.runStage(wrapped, { id: '*', data: collected }, new Map());
    if (value !== undefined) {
      if (!this.outputs.has('*')) this.outputs.set('*', new Map());
      this.outputs.get('*')!.set(stage.name, value);
    }
    return outcome;
  }
}
