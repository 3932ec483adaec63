/**
 * Runs an image for a while and records what it executes: every exec in the
 * container's process tree (tracefs sched events, system-wide, started before the
 * container so nothing at start-up is missed) and every file its processes map
 * (/proc/PID/maps, sampled — dlopen'd libraries never appear in DT_NEEDED). The
 * container is stopped and removed in every case: success, error, early exit, abort.
 */
import { promises as fs } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isAlive } from '../trace/tracefs';
import type Dockerode from 'dockerode';
import { ConfineError } from '../../pipeline/errors';
import { decodePathBytes, fromLatin1 } from '../image/path-bytes';
import { findInitPid } from '../trace/container-init';
import { ExecTracer } from '../trace/exec-tracer';
import { EXE_SWITCH_SLACK_MS, contradictsExeRead, isSelfExe, namesProgramIndirectly, programOfExeLink, type ExeRead } from '../trace/fd-exec';
import { TailBuffer } from '../trace/log-tail';
import { mappedPaths, resolveExecPath, toContainerPath } from '../trace/maps';
import { ProcessTree, type TreeExec } from '../trace/process-tree';
import type { TraceEvent } from '../trace/trace-lines';
import { monoNowMs } from '../trace/tracefs';
import { dockerMessage, statusCode } from './client';
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

export interface TraceExec {
  pid: number;
  ppid?: number;
  path: string;
  comm?: string;
  tMs: number;
}

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
  const progress = (m: string) => opts.onProgress?.(m);
  if (opts.signal?.aborted) throw new ConfineError('interrupted', 'interrupted before the container started', where);

  const tracer = await ExecTracer.start(opts.traceBufferKb !== undefined ? { bufferKb: opts.traceBufferKb } : {});
  let container: Dockerode.Container | undefined;
  let logStream: NodeJS.ReadableStream | undefined;
  const tail = new TailBuffer(LOG_TAIL_BYTES);
  // The run's signal is shared by every image: a listener left on it per trace piles up
  // (MaxListenersExceededWarning after ten images), so it is removed when the trace ends.
  let stopWatchingAbort = () => undefined as void;
  const windowOver = new AbortController();
  try {
    try {
      container = await docker.createContainer(owned(toCreateOptions(spec, image, ownLabels(opts.runLabel, opts.labels), opts.limits)));
    } catch (e) {
      if (statusCode(e) === 404) throw new ConfineError('image-not-found', `image ${image} is not in the local Docker engine: ${dockerMessage(e)}`, where);
      throw new ConfineError('container-start-failed', dockerMessage(e), where);
    }
    // Attached before start, so the first line the container prints is kept too.
    logStream = (await container.attach({ stream: true, stdout: true, stderr: true, logs: false })) as NodeJS.ReadableStream;
    docker.modem.demuxStream(logStream, tail, tail);

    let stopping = false;
    let exit: { code?: number; early: boolean } | undefined;
    const exited = container.wait({ condition: 'next-exit' }).then(
      (r: { StatusCode?: number }) => (exit = { code: r?.StatusCode, early: !stopping }),
      () => (exit = { early: !stopping }),
    );

    const startedAt = new Date();
    const engineAtStart = await enginePid();
    const startMono = monoNowMs();
    try {
      await container.start();
    } catch (e) {
      throw new ConfineError('container-start-failed', dockerMessage(e), where);
    }
    const startedMono = monoNowMs();
    const info = await container.inspect();
    const mergedDir = (info.GraphDriver?.Data as { MergedDir?: string } | undefined)?.MergedDir;
    let initPid = info.State?.Pid ?? 0;
    progress(`container ${container.id.slice(0, 12)} running (init pid ${initPid || '?'}) for ${opts.durationSec} s`);

    // Events are buffered until the tree knows its root; after that each is fed and dropped.
    const early: TraceEvent[] = [];
    let tree: ProcessTree | undefined = initPid > 0 ? new ProcessTree(initPid) : undefined;
    const resolved = new Map<TreeExec, string>();
    /** Execs through a descriptor or /proc whose program is not a file that can be had, and why (system/trace/fd-exec.ts). */
    const unobtainable = new Map<TreeExec, string>();
    /**
     * Execs resolved through /proc/PID/exe, with the moment it was read: if the pid
     * exec'd again or exited before that moment, the link may show another program.
     */
    const exeReads: (ExeRead & { x: TreeExec })[] = [];
    /** Forks and cgroup moves from the container's start: which process was its init (system/trace/container-init.ts). */
    const startEvents: TraceEvent[] = [];
    const mapped = new Set<string>();
    const mappedCode = new Set<string>();
    /** Execs the kernel returned from without recording them (process-tree.ts), and what /proc said they run. */
    let unrecordedSeen = 0;
    const unrecorded: { pid: number; exe?: string }[] = [];
    const checkUnrecorded = async (t: ProcessTree) => {
      for (; unrecordedSeen < t.unrecordedExecs.length; unrecordedSeen++) {
        const { pid } = t.unrecordedExecs[unrecordedSeen];
        try {
          const exe = toContainerPath(decodePathBytes(await fs.readlink(`/proc/${pid}/exe`, { encoding: 'buffer' })), mergedDir);
          unrecorded.push({ pid, ...(exe.endsWith(' (deleted)') ? {} : { exe }) });
        } catch {
          unrecorded.push({ pid });
        }
      }
    };

    const pump = async () => {
      const events = tracer.take();
      for (const e of events) if ((e.kind === 'fork' || e.kind === 'cgroup-attach') && e.t <= startedMono + 5) startEvents.push(e);
      if (!tree) {
        early.push(...events);
        return;
      }
      for (const e of events) {
        if (e.kind !== 'lost' && exeReads.length) {
          for (const r of exeReads) if (contradictsExeRead(e, r)) unobtainable.set(r.x, 'it ran another program or exited about when /proc showed which one it ran');
          // Events come in time order: a read this much older than this event can no longer be contradicted.
          while (exeReads.length && exeReads[0].readAt + EXE_SWITCH_SLACK_MS < e.t) exeReads.shift();
        }
        const before = tree.execs.length;
        tree.feed(e);
        if (tree.execs.length > before) {
          const x = tree.execs[tree.execs.length - 1];
          if (isSelfExe(x.filename) && x.previous) continue; // the program it ran before: resolved at the end
          if (namesProgramIndirectly(x.filename)) await resolveThroughExe(x);
          else if (!x.filename.startsWith('/')) await resolveRelative(x, mergedDir, resolved);
        }
      }
      await checkUnrecorded(tree);
    };
    /** An exec through a descriptor or /proc: /proc/PID/exe shows the program while the process runs it. */
    const resolveThroughExe = async (x: TreeExec) => {
      let link: string;
      try {
        link = toContainerPath(decodePathBytes(await fs.readlink(`/proc/${x.pid}/exe`, { encoding: 'buffer' })), mergedDir);
      } catch {
        unobtainable.set(x, 'the process was gone before /proc showed which program it ran');
        return;
      }
      const readAt = monoNowMs();
      const got = programOfExeLink(link);
      if ('path' in got) {
        resolved.set(x, got.path);
        exeReads.push({ x, pid: x.pid, t: x.t, readAt, shown: got.path });
      } else unobtainable.set(x, got.unobtainable);
    };
    const sampleMaps = async () => {
      if (!tree) return;
      await Promise.all(
        tree.pids().map(async (pid) => {
          try {
            // latin1: one char per byte, so a name that is not UTF-8 keeps its bytes (system/image/path-bytes.ts).
            const maps = await fs.readFile(`/proc/${pid}/maps`, 'latin1');
            for (const p of mappedPaths(maps)) mapped.add(toContainerPath(fromLatin1(p), mergedDir));
            for (const p of mappedPaths(maps, true)) mappedCode.add(toContainerPath(fromLatin1(p), mergedDir));
          } catch {
            /* exited between listing and reading */
          }
        }),
      );
    };

    const probeDone = opts.probe
      ? opts.probe(windowOver.signal).then(
          () => undefined,
          (e) => void notes.push(`probe failed: ${(e as Error).message}`),
        )
      : undefined;
    const aborted = new Promise<void>((resolve) => {
      const signal = opts.signal;
      if (!signal) return;
      if (signal.aborted) return resolve();
      const onAbort = () => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
      stopWatchingAbort = () => signal.removeEventListener('abort', onAbort);
    });

    const deadline = Date.now() + opts.durationSec * 1000;
    let lastMaps = 0;
    let lastProgress = Date.now();
    while (Date.now() < deadline && !exit && !opts.signal?.aborted) {
      await pump();
      if (Date.now() - lastMaps >= MAPS_EVERY_MS) {
        await sampleMaps();
        lastMaps = Date.now();
      }
      if (Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        progress(`tracing: ${tree?.execs.length ?? 0} execs, ${mapped.size} mapped files, ${Math.max(0, Math.ceil((deadline - Date.now()) / 1000))} s left`);
      }
      await within(Promise.race([exited, aborted]), Math.min(PUMP_MS, Math.max(0, deadline - Date.now())), undefined);
    }
    windowOver.abort('trace window over');
    if (opts.signal?.aborted) throw new ConfineError('interrupted', 'interrupted while tracing', where);
    if (probeDone) {
      const finished = await within(probeDone.then(() => true), PROBE_GRACE_MS, false);
      if (!finished) notes.push(`probe still running ${PROBE_GRACE_MS / 1000} s after the trace window; not waited for`);
    }
    if (!exit) {
      await pump();
      await sampleMaps();
    }

    stopping = true;
    await container.stop({ t: STOP_TIMEOUT_SEC }).catch(() => undefined);
    await within(exited, STOP_TIMEOUT_SEC * 1000 + 3000, undefined);
    await tracer.stop();
    // A record that does not decode is not skipped: whatever it was, an exec in it would be lost.
    if (tracer.malformed) throw new ConfineError('trace-failed', `the kernel's trace held a record that does not decode (${tracer.malformed}); the trace is not trusted`, where);

    if (tracer.lost > 0) throw new LostTraceEvents('trace-failed', `the kernel dropped ${tracer.lost} trace events (its buffer overflowed: a busy host, or many images traced at once); an exec may be among them, so the trace is incomplete`, where);

    const initFrom = { containerId: container.id, cgroupEvents: tracer.cgroupAttachments, fromMono: startMono, toMono: startedMono };
    if (!tree) {
      early.push(...tracer.take());
      // Exited before inspect could see its pid: the init is found by the container's cgroup.
      const found = findInitPid(early, initFrom);
      if ('error' in found) throw new ConfineError('trace-failed', `the container exited before inspect reported its init pid, and the trace cannot tell which process was its init: ${found.error}; no execs can be attributed to it — rerun`, where);
      notes.push(`init pid ${found.pid} found from the trace by its ${found.how === 'cgroup' ? 'cgroup' : 'runc parent (the only one in the start window)'} (the container exited before inspect saw it)`);
      initPid = found.pid;
      tree = new ProcessTree(initPid);
      for (const e of early) {
        const before = tree.execs.length;
        tree.feed(e);
        // The processes are gone: a descriptor's program cannot be asked of /proc any more.
        if (tree.execs.length > before) {
          const x = tree.execs[tree.execs.length - 1];
          if (namesProgramIndirectly(x.filename) && !(isSelfExe(x.filename) && x.previous)) unobtainable.set(x, 'the process was gone before /proc showed which program it ran');
        }
      }
    } else {
      await pump();
      // The trace's own account of the init must agree with the engine's, or neither is trusted.
      const found = findInitPid(startEvents, initFrom);
      if ('pid' in found && found.how === 'cgroup' && found.pid !== initPid) {
        throw new ConfineError('trace-failed', `the engine reports init pid ${initPid} but the container's cgroup shows ${found.pid}; the trace cannot be attributed — rerun`, where);
      }
    }

    // /proc/self/exe is the program the process ran before: its path, or the reason there is none.
    for (const x of tree.execs) {
      if (!isSelfExe(x.filename) || !x.previous) continue;
      const why = unobtainable.get(x.previous);
      if (why !== undefined) unobtainable.set(x, why);
      else resolved.set(x, resolved.get(x.previous) ?? x.previous.filename);
    }
    if (unobtainable.size) {
      // Not a guess: the program's code is not a file confine can read, so no profile can cover it.
      const list = [...unobtainable].map(([x, why]) => `pid ${x.pid} exec'd ${x.filename}: ${why}`);
      throw new ConfineError('trace-failed', `the container ran ${list.length} program(s) that are not files of the image: ${list.slice(0, 5).join('; ')}${list.length > 5 ? `; and ${list.length - 5} more` : ''}; their syscalls cannot be known`, where);
    }
    const execs: TraceExec[] = tree.execs.map((x) => ({
      pid: x.pid,
      // The init's parent is the host's runc, not a process of the container.
      ...(x.ppid !== undefined && x.pid !== initPid ? { ppid: x.ppid } : {}),
      path: resolved.get(x) ?? x.filename,
      // '<...>' is what the tracer prints when it had no comm cached for the pid.
      ...(x.comm && x.comm !== '<...>' ? { comm: x.comm } : {}),
      tMs: Math.round((x.t - startMono) * 1000) / 1000,
    }));
    await checkUnrecorded(tree);
    const lost = unrecorded.filter((u) => u.exe === undefined);
    if (lost.length) {
      // Not a guess: the program's code is unknown, so no profile can be trusted.
      throw new ConfineError('trace-failed', `${lost.length} exec(s) in the container (pid ${lost.map((u) => u.pid).join(', ')}) returned without the kernel recording which file ran (a path of about 4 KB or more does that), and the process was gone before /proc showed it; the trace is incomplete`, where);
    }
    for (const u of unrecorded) notes.push(`pid ${u.pid} ran ${u.exe} without the kernel recording the exec (a very long path?); taken from /proc/${u.pid}/exe`);
    const executedPaths = [...new Set([...execs.map((x) => toContainerPath(x.path, mergedDir)), ...unrecorded.map((u) => u.exe!)])];
    for (const p of executedPaths) {
      if (!p.startsWith('/')) notes.push(`exec path '${p}' is relative and its process was gone before its cwd could be read; recorded as given`);
      else if (/^\/(proc|dev\/fd)\//.test(p)) notes.push(`exec through a file descriptor (${p}): the program behind it is not known by path`);
    }
    if (spec.init && executedPaths.includes('/sbin/docker-init')) {
      notes.push('--init: /sbin/docker-init is the engine\'s binary bind-mounted into the container, not a file of the image');
    }
    // An engine that restarted during the window stopped the container with it, even
    // if our wait() never heard of it and the image's SIGTERM handler exited cleanly.
    // An engine that is shutting down has stopped its containers before it exits:
    // after an early exit, give it a moment to be gone before trusting the exit.
    if (exit?.early && engineAtStart !== undefined) await new Promise((r) => setTimeout(r, 2000));
    const engineNow = await enginePid();
    if (engineAtStart !== undefined && (engineNow !== engineAtStart || !isAlive(engineAtStart))) {
      throw new ConfineError('docker-unavailable', `the Docker engine restarted while tracing (pid ${engineAtStart} → ${engineNow ?? 'none'}) and stopped the container; the trace is incomplete — rerun`);
    }
    if (exit?.early) {
      // A daemon that stops (or restarts) stops its containers too: that is not the
      // image exiting, and a trace cut short must fail, not be cached as complete.
      try {
        await opts.docker.ping();
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
    // An exec that failed (E2BIG on a huge argument, ENOEXEC) leaves runc's init to exit:
    // a profile then would hold only the runtime's syscalls, and the image's none.
    if (!executedPaths.some((p) => !(spec.init && p === '/sbin/docker-init'))) {
      const why = tree.rootExecError !== undefined ? ` (its execve failed: ${errnoName(-tree.rootExecError)})` : '';
      const out = tail.text().trim();
      throw new ConfineError('container-start-failed', `the container's command never started${why}; no program of the image ran, so there is nothing to profile${out ? `; its output ends: ${JSON.stringify(out.slice(-300))}` : ''}`, where);
    }
    if (exit?.early) notes.push(`container exited on its own with status ${exit.code ?? 'unknown'} after ${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)} s or less`);

    return {
      imageId: image,
      containerId: container.id,
      startedAt: startedAt.toISOString(),
      durationSec: opts.durationSec,
      exitedEarly: !!exit?.early,
      ...(exit?.early && exit.code !== undefined ? { exitCode: exit.code } : {}),
      execs,
      executedPaths,
      mappedObjects: [...mapped].sort(),
      mappedCode: [...mappedCode].sort(),
      logTail: tail.text(),
      notes,
    };
  } finally {
    windowOver.abort('trace over');
    stopWatchingAbort();
    await tracer.stop().catch(() => undefined);
    (logStream as { destroy?: () => void } | undefined)?.destroy?.();
    if (container) await removeContainer(container);
  }
}

function errnoName(n: number): string {
  const name = Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0];
  return name ? `${name}${name === 'E2BIG' ? ', argument list too long' : ''}` : `errno ${n}`;
}

/** Relative filenames are relative to the process's cwd; /proc shows it in container terms (see system/trace/maps.ts). */
async function resolveRelative(x: TreeExec, mergedDir: string | undefined, into: Map<TreeExec, string>): Promise<void> {
  try {
    const cwd = toContainerPath(decodePathBytes(await fs.readlink(`/proc/${x.pid}/cwd`, { encoding: 'buffer' })), mergedDir);
    into.set(x, resolveExecPath(x.filename, cwd));
  } catch {
    /* gone already: recorded as given, with a note */
  }
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
