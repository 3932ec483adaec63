/**
 * Runs an image for a while and records what it executes: every exec in the
 * container's process tree (tracefs sched events, system-wide, started before the
 * container so nothing at start-up is missed) and every file its processes map
 * (/proc/PID/maps, sampled — dlopen'd libraries never appear in DT_NEEDED). The
 * container is stopped and removed in every case: success, error, early exit, abort.
 */
import { promises as fs } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type Dockerode from 'dockerode';
import { ConfineError } from '../../pipeline/errors';
import { ExecTracer } from '../trace/exec-tracer';
import { TailBuffer } from '../trace/log-tail';
import { toContainerPath } from '../trace/maps';
import { isAlive, monoNowMs } from '../trace/tracefs';
import { dockerMessage, statusCode } from './client';
import { ExecWatch, type WatchedExec } from './exec-watch';
import { watchExit } from './exit-watch';
import { ownLabels, owned } from './leftovers';
import { toCreateOptions, type RunLimits, type RunSpec } from './run-options';

export interface TraceOptions {
  docker: Dockerode;
  /** Image ID (content digest) or any reference the engine resolves. */
  image: string;
  spec: RunSpec;
  durationSec: number;
  runLabel: string;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * Runs while the container runs (e.g. requests to 127.0.0.1), so the work it causes is
   * traced too; started once the container runs, `windowOver` aborts when the window
   * ends (time up, the container exited, or the run was interrupted).
   */
  probe?: (windowOver: AbortSignal) => Promise<void>;
  limits?: RunLimits;
  /** Extra labels (tests use them to find their containers). */
  labels?: Record<string, string>;
  /** The trace's per-CPU buffer in KB (tests shrink it so the kernel drops events). */
  traceBufferKb?: number;
}

export type TraceExec = WatchedExec;

export interface TraceResult {
  imageId: string;
  containerId: string;
  startedAt: string;
  durationSec: number;
  exitedEarly: boolean;
  exitCode?: number;
  execs: TraceExec[];
  /** Unique, inside the container root. */
  executedPaths: string[];
  /** Paths inside the container. */
  mappedObjects: string[];
  /** The mappedObjects mapped with execute permission. */
  mappedCode: string[];
  /** Last ~4 KB of stdout+stderr. */
  logTail: string;
  notes: string[];
}

const PUMP_MS = 100;
const MAPS_EVERY_MS = 300;
const STOP_TIMEOUT_SEC = 2;
const PROBE_GRACE_MS = 5000;
const LOG_TAIL_BYTES = 4096;

/**
 * The kernel dropped trace events (its buffer overflowed between reads, e.g. a host
 * busy forking): an exec may be among them, so the trace is incomplete, never cached.
 */
class LostTraceEvents extends ConfineError {}

/** Traces once more when the first trace lost events; a second loss fails the image. */
export async function traceContainer(opts: TraceOptions): Promise<TraceResult> {
  try {
    return await traceOnce(opts);
  } catch (e) {
    if (!(e instanceof LostTraceEvents) || opts.signal?.aborted) throw e;
    opts.onProgress?.(`${e.message}; tracing again`);
    const r = await traceOnce(opts);
    return { ...r, notes: [`traced twice: the first trace was incomplete (${e.message})`, ...r.notes] };
  }
}

async function traceOnce(opts: TraceOptions): Promise<TraceResult> {
  const { docker, image, spec } = opts;
  const where = { image, stage: 'run-and-trace' };
  const notes: string[] = [];
  if (opts.signal?.aborted) throw new ConfineError('interrupted', 'interrupted before the container started', where);

  const tracer = await ExecTracer.start(opts.traceBufferKb !== undefined ? { bufferKb: opts.traceBufferKb } : {});
  let container: Dockerode.Container | undefined;
  let logStream: NodeJS.ReadableStream | undefined;
  const tail = new TailBuffer(LOG_TAIL_BYTES);
  // The run's signal is shared by every image: a listener left on it per trace piles up
  // (MaxListenersExceededWarning after ten images), so it is removed when the trace ends.
  const aborted = abortPromise(opts.signal);
  const windowOver = new AbortController();
  try {
    container = await createContainer(opts, where);
    // Attached before start, so the first line the container prints is kept too.
    logStream = (await container.attach({ stream: true, stdout: true, stderr: true, logs: false })) as NodeJS.ReadableStream;
    docker.modem.demuxStream(logStream, tail, tail);
    const run = await startWatched(container, tracer, opts, where);
    const { watch, exited } = run;

    const probeDone = opts.probe
      ? opts.probe(windowOver.signal).then(
          () => undefined,
          (e) => void notes.push(`probe failed: ${(e as Error).message}`),
        )
      : undefined;
    await watchWindow(watch, opts, Promise.race([exited, aborted.promise]), () => run.exit);
    windowOver.abort('trace window over');
    if (opts.signal?.aborted) throw new ConfineError('interrupted', 'interrupted while tracing', where);
    if (probeDone) {
      const finished = await within(probeDone.then(() => true), PROBE_GRACE_MS, false);
      if (!finished) notes.push(`probe still running ${PROBE_GRACE_MS / 1000} s after the trace window; not waited for`);
    }
    if (!run.exit) {
      await watch.pump();
      await watch.sampleMaps();
    }

    run.stopping = true;
    await container.stop({ t: STOP_TIMEOUT_SEC }).catch(() => undefined);
    await within(exited, STOP_TIMEOUT_SEC * 1000 + 3000, undefined);
    await tracer.stop();
    failOnIncompleteTrace(tracer, where);

    await watch.settleInit({ containerId: container.id, fromMono: run.startMono, toMono: run.startedMono }, notes, where);
    const execs = await watch.execs(run.startMono, where);
    for (const u of watch.unrecorded) notes.push(`pid ${u.pid} ran ${u.exe} without the kernel recording the exec (a very long path?); taken from /proc/${u.pid}/exe`);
    const executedPaths = [...new Set([...execs.map((x) => toContainerPath(x.path, run.mergedDir)), ...watch.unrecorded.map((u) => u.exe!)])];
    notes.push(...executedPathNotes(executedPaths, spec));
    const exit = run.exit;
    await failOnEngineStop(opts.docker, container, run.engineAtStart, exit);
    // An exec that failed (E2BIG on a huge argument, ENOEXEC) leaves runc's init to exit:
    // a profile then would hold only the runtime's syscalls, and the image's none.
    if (!executedPaths.some((p) => !(spec.init && p === '/sbin/docker-init'))) {
      const why = watch.rootExecError !== undefined ? ` (its execve failed: ${errnoName(-watch.rootExecError)})` : '';
      const out = tail.text().trim();
      throw new ConfineError('container-start-failed', `the container's command never started${why}; no program of the image ran, so there is nothing to profile${out ? `; its output ends: ${JSON.stringify(out.slice(-300))}` : ''}`, where);
    }
    if (exit?.early) notes.push(`container exited on its own with status ${exit.code ?? 'unknown'} after ${((Date.now() - run.startedAt.getTime()) / 1000).toFixed(1)} s or less`);

    return {
      imageId: image,
      containerId: container.id,
      startedAt: run.startedAt.toISOString(),
      durationSec: opts.durationSec,
      exitedEarly: !!exit?.early,
      ...(exit?.early && exit.code !== undefined ? { exitCode: exit.code } : {}),
      execs,
      executedPaths,
      mappedObjects: [...watch.mapped].sort(),
      mappedCode: [...watch.mappedCode].sort(),
      logTail: tail.text(),
      notes,
    };
  } finally {
    windowOver.abort('trace over');
    aborted.stopWatching();
    await tracer.stop().catch(() => undefined);
    (logStream as { destroy?: () => void } | undefined)?.destroy?.();
    if (container) await removeContainer(container);
  }
}

type Where = { image: string; stage: string };
type Exit = { code?: number; early: boolean };

async function createContainer(opts: TraceOptions, where: Where): Promise<Dockerode.Container> {
  try {
    return await opts.docker.createContainer(owned(toCreateOptions(opts.spec, opts.image, ownLabels(opts.runLabel, opts.labels), opts.limits)));
  } catch (e) {
    if (statusCode(e) === 404) throw new ConfineError('image-not-found', `image ${opts.image} is not in the local Docker engine: ${dockerMessage(e)}`, where);
    throw new ConfineError('container-start-failed', dockerMessage(e), where);
  }
}

/** A started container and what watches it: `exit` is set when it exits, `early` unless we were stopping it. */
interface WatchedRun {
  watch: ExecWatch;
  exited: Promise<unknown>;
  exit: Exit | undefined;
  stopping: boolean;
  startedAt: Date;
  startMono: number;
  startedMono: number;
  mergedDir: string | undefined;
  engineAtStart: number | undefined;
}

async function startWatched(container: Dockerode.Container, tracer: ExecTracer, opts: TraceOptions, where: Where): Promise<WatchedRun> {
  const run = { exit: undefined, stopping: false } as WatchedRun;
  run.exited = watchExit(container).then((r) => (run.exit = { code: r.code, early: !run.stopping }));
  run.startedAt = new Date();
  run.engineAtStart = await enginePid();
  run.startMono = monoNowMs();
  try {
    await container.start();
  } catch (e) {
    throw new ConfineError('container-start-failed', dockerMessage(e), where);
  }
  run.startedMono = monoNowMs();
  const info = await container.inspect();
  run.mergedDir = (info.GraphDriver?.Data as { MergedDir?: string } | undefined)?.MergedDir;
  const initPid = info.State?.Pid ?? 0;
  opts.onProgress?.(`container ${container.id.slice(0, 12)} running (init pid ${initPid || '?'}) for ${opts.durationSec} s`);
  run.watch = new ExecWatch(tracer, run.mergedDir, run.startedMono, initPid);
  return run;
}

/** The trace window: pump events and sample maps until time is up, the container exits or the run is interrupted. */
async function watchWindow(watch: ExecWatch, opts: TraceOptions, wake: Promise<unknown>, exit: () => Exit | undefined): Promise<void> {
  const deadline = Date.now() + opts.durationSec * 1000;
  let lastMaps = 0;
  let lastProgress = Date.now();
  while (Date.now() < deadline && !exit() && !opts.signal?.aborted) {
    await watch.pump();
    if (Date.now() - lastMaps >= MAPS_EVERY_MS) {
      await watch.sampleMaps();
      lastMaps = Date.now();
    }
    if (Date.now() - lastProgress >= 1000) {
      lastProgress = Date.now();
      opts.onProgress?.(`tracing: ${watch.execCount} execs, ${watch.mapped.size} mapped files, ${Math.max(0, Math.ceil((deadline - Date.now()) / 1000))} s left`);
    }
    await within(wake, Math.min(PUMP_MS, Math.max(0, deadline - Date.now())), undefined);
  }
}

function failOnIncompleteTrace(tracer: ExecTracer, where: Where): void {
  // A record that does not decode is not skipped: whatever it was, an exec in it would be lost.
  if (tracer.malformed) throw new ConfineError('trace-failed', `the kernel's trace held a record that does not decode (${tracer.malformed}); the trace is not trusted`, where);
  if (tracer.lost > 0) throw new LostTraceEvents('trace-failed', `the kernel dropped ${tracer.lost} trace events (its buffer overflowed: a busy host, or many images traced at once); an exec may be among them, so the trace is incomplete`, where);
}

function executedPathNotes(executedPaths: string[], spec: RunSpec): string[] {
  const notes: string[] = [];
  for (const p of executedPaths) {
    if (!p.startsWith('/')) notes.push(`exec path '${p}' is relative and its process was gone before its cwd could be read; recorded as given`);
    else if (/^\/(proc|dev\/fd)\//.test(p)) notes.push(`exec through a file descriptor (${p}): the program behind it is not known by path`);
  }
  if (spec.init && executedPaths.includes('/sbin/docker-init')) {
    notes.push('--init: /sbin/docker-init is the engine\'s binary bind-mounted into the container, not a file of the image');
  }
  return notes;
}

/**
 * An engine that restarted during the window stopped the container with it, even if our
 * wait() never heard of it and the image's SIGTERM handler exited cleanly: such a trace
 * is cut short and must fail, not be cached as complete.
 */
async function failOnEngineStop(docker: Dockerode, container: Dockerode.Container, engineAtStart: number | undefined, exit: Exit | undefined): Promise<void> {
  // An engine that is shutting down has stopped its containers before it exits:
  // after an early exit, give it a moment to be gone before trusting the exit.
  if (exit?.early && engineAtStart !== undefined) await new Promise((r) => setTimeout(r, 2000));
  const engineNow = await enginePid();
  if (engineAtStart !== undefined && (engineNow !== engineAtStart || !isAlive(engineAtStart))) {
    throw new ConfineError('docker-unavailable', `the Docker engine restarted while tracing (pid ${engineAtStart} → ${engineNow ?? 'none'}) and stopped the container; the trace is incomplete — rerun`);
  }
  if (!exit?.early) return;
  // A daemon that stops (or restarts) stops its containers too: that is not the image exiting.
  try {
    await docker.ping();
  } catch (e) {
    throw new ConfineError('docker-unavailable', `the Docker engine went away while tracing (${dockerMessage(e)}); the trace is incomplete — rerun when the engine is back`);
  }
  // A daemon that restarted quickly answers again, but it stopped the container
  // with SIGTERM (143) or SIGKILL (137): a stop from outside, not the image's own
  // exit. (An out-of-memory kill is the image's behaviour under our limits.)
  const state = await container.inspect().then((i) => i.State, () => undefined);
  if ((exit.code === 143 || exit.code === 137) && !state?.OOMKilled) {
    throw new ConfineError('trace-failed', `the container was stopped from outside while traced (status ${exit.code}: the engine restarted, or someone ran docker stop); the trace is incomplete — rerun`);
  }
}

/** Resolves when `signal` aborts; `stopWatching` removes the listener. */
function abortPromise(signal: AbortSignal | undefined): { promise: Promise<void>; stopWatching: () => void } {
  let stopWatching = () => undefined as void;
  const promise = new Promise<void>((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve();
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    stopWatching = () => signal.removeEventListener('abort', onAbort);
  });
  return { promise, stopWatching };
}

function errnoName(n: number): string {
  const name = Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0];
  return name ? `${name}${name === 'E2BIG' ? ', argument list too long' : ''}` : `errno ${n}`;
}

async function removeContainer(c: Dockerode.Container): Promise<void> {
  for (let i = 0; i < 3; i++) {
    try {
      await c.remove({ force: true, v: true });
      return;
    } catch (e) {
      const s = statusCode(e);
      if (s === 404) return;
      // 409 "removal already in progress": wait for it.
      await sleep(500);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `p`, or `fallback` after `ms`; the timer is cleared either way so no stray timer keeps the process alive. */
async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The engine's process id, from the pid file dockerd writes: a different one after an
 * early exit means the engine restarted (stopping the container with it), even when
 * the image's own SIGTERM handler made that look like a clean exit.
 */
async function enginePid(): Promise<number | undefined> {
  try {
    const text = await fs.readFile('/var/run/docker.pid', 'utf8');
    return /^\d+\s*$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
