import { CacheKey } from '../cache/digest';
import type { Reporter } from './reporter';

/**
 * What a stage is: a typed function with a name, a version, the stages it needs and
 * the schema its output must satisfy. The runner knows nothing else about it — in
 * particular nothing about images' contents or syscalls.
 */
export interface Stage<Deps extends Record<string, unknown> = Record<string, unknown>, Out = unknown, Config = unknown> {
  readonly name: string;
  /** Bump when the stage's code changes what it outputs: old entries stop matching. Say why in CHANGELOG.md. */
  readonly version: number;
  /** `$id` of the output's JSON Schema. */
  readonly schema: string;
  /** `image`: one instance per image; `before`/`after`: once per run, before or after all images. */
  readonly scope: 'image' | 'before' | 'after';
  /** Upstream stages whose outputs `run` receives, keyed by stage name. */
  readonly needs: readonly string[];
  /** Which pool bounds it: `container` (--jobs), `cpu` (cores), or `io` (max(2, --jobs)). */
  readonly resource: 'container' | 'cpu' | 'io';
  /** The slice of the run's configuration this stage reads; part of its cache key. */
  configSlice(config: Config): unknown;
  /**
   * Inputs from outside the pipeline that decide the output (an image ID, a file's
   * digest). Called before the cache lookup; a throw here is the stage failing.
   */
  externalInputs?(unit: WorkUnit, config: Config, ctx: StageContext): Promise<Record<string, string>>;
  /**
   * For outputs that point at state outside the cache (files under -o, a profile in
   * -r): a cache hit is only reused when this says that state is still there.
   */
  stillValid?(output: Out, config: Config): Promise<boolean>;
  run(deps: Deps, ctx: StageContext, unit: WorkUnit, config: Config): Promise<Out>;
}

/** One row of the work list: an image for per-image stages, or the whole batch. */
export interface WorkUnit {
  /** Unique and stable across runs: the ledger and summary are keyed by it. */
  readonly id: string;
  readonly data: unknown;
}

export interface MemoRequest {
  /** Names the kind of sub-artifact, e.g. `elf-scan`. */
  name: string;
  version: number;
  schema: string;
  config?: unknown;
  inputs: Record<string, string>;
}

export interface StageContext {
  readonly signal: AbortSignal;
  /** Lines kept with the artifact and replayed on a cache hit. */
  log(line: string): void;
  /** Transient progress for the display; not stored. */
  progress(message: string): void;
  /**
   * Content-addressed sub-artifacts below a stage (e.g. one scan per ELF file, shared
   * by every image that has the same file). Validated and written like stage outputs.
   */
  memo<T>(req: MemoRequest, compute: () => Promise<T>): Promise<{ key: CacheKey; value: T; reused: boolean }>;
  /** Runs CPU-bound work within the cores limit. */
  cpu<T>(fn: () => Promise<T>): Promise<T>;
  readonly reporter: Reporter;
}
