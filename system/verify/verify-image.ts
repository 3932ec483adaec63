/**
 * Ground truth for one image and one profile. Two runs:
 *
 * 1. enforced: the profile as it is (defaultAction ERRNO); does the probe pass?
 * 2. logged: the same rules with `defaultAction: SCMP_ACT_LOG` (no defaultErrnoRet),
 *    so nothing is denied and the kernel logs each syscall the profile would have
 *    denied. Each logged syscall made by a process of this container is a false
 *    negative of the analysis that produced the profile.
 *
 * Attribution: the audit record carries the host pid and nothing about containers, so
 * each record's pid is looked up in /proc/PID/cgroup as soon as the record is read
 * (while the process most likely still lives) and matched against the container id;
 * pids seen in the container's cgroup while it runs are remembered too. A record whose
 * pid is already gone can only come from a process under a LOG filter; if no other
 * logged run of ours is active it is this container's, otherwise it is reported as
 * unattributed rather than guessed.
 */
import { owned } from '../docker/leftovers';
import { watchExit } from '../docker/exit-watch';
import * as fs from 'node:fs';
import type Dockerode from 'dockerode';
import { asConfineError, ConfineError } from '../../pipeline/errors';
import type { DockerProfile } from '../../formats/profile/seccomp-types';
import { Probe, ProbeOptions, runProbe } from '../probe/probe';
import { logTail, removeContainer, withProfile } from './container';
import { checkSeccompLogging, followKernelLog, SeccompEvent } from './kernel-log';

export interface FalseNegative {
  syscall: number;
  name: string;
  comm: string;
  exe: string;
  count: number;
}

export interface RunOutcome {
  /** The container stopped on its own before the run was over. */
  exitedEarly: boolean;
  exitCode?: number;
  probeOk?: boolean;
  probeDetail?: string;
  logTail: string;
  ms: number;
}

export interface VerifyImageOptions {
  docker: Dockerode;
  image: string;
  /** Create options as the image needs them (ports bound to 127.0.0.1, env, command...); Image, Labels and seccomp are set here. */
  createOptions?: Dockerode.ContainerCreateOptions;
  profile: DockerProfile;
  probe?: Probe;
  probeOptions?: ProbeOptions;
  /** Seconds each run lasts from start (the probe runs inside this time). Default 5. */
  durationSec?: number;
  /** Skip the enforced run (only look for false negatives). */
  logOnly?: boolean;
  /** Grace period of the stop at the end of each run before SIGKILL. Default 3. (A PID 1 without a SIGTERM handler ignores SIGTERM and always takes all of it.) */
  stopTimeoutSec?: number;
  /** Labels added to ours, e.g. the image's name for clean-up by the caller. */
  labels?: Record<string, string>;
}

export interface VerifyImageResult {
  /** From the enforced run (or the logged run when `logOnly`). */
  probeOk?: boolean;
  probeDetail?: string;
  falseNegatives: FalseNegative[];
  /** LOG records in the window that could not be tied to this container (another logged run was active). */
  unattributed: FalseNegative[];
  /** Either run ended before its time. */
  exitedEarly: boolean;
  /** Output of the enforced run (or the logged one when `logOnly`). */
  logTail: string;
  enforced?: RunOutcome;
  logged: RunOutcome & { probeOk?: boolean };
  /** Kernel log records overwritten before we read them: if non-zero, false negatives may be missing. */
  lostRecords: number;
}

/** The profile with every unmatched syscall logged instead of denied. Rules stay as they are. */
export function toLogProfile(profile: DockerProfile): DockerProfile {
  const copy = structuredClone(profile);
  delete copy.defaultErrnoRet;
  copy.defaultAction = 'SCMP_ACT_LOG';
  return copy;
}

/** Logged runs active in this process: a record from a vanished pid is only ours when we are alone. */
let activeLoggedRuns = 0;

export async function verifyImage(o: VerifyImageOptions): Promise<VerifyImageResult> {
  const check = checkSeccompLogging();
  if (!check.ok) throw new ConfineError('trace-failed', `cannot verify: ${check.reasons.join('; ')}`, { image: o.image });
  const durationMs = (o.durationSec ?? 5) * 1000;

  let enforced: RunOutcome | undefined;
  if (!o.logOnly) enforced = await runOnce(o, o.profile, durationMs, 'enforced');

  activeLoggedRuns++;
  const pidCgroup = new Map<number, string | null>();
  const lookup = (pid: number): void => {
    if (pidCgroup.has(pid)) return;
    try {
      pidCgroup.set(pid, fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    } catch {
      pidCgroup.set(pid, null);
    }
  };
  let aloneThroughout = activeLoggedRuns === 1;
  let follower;
  try {
    follower = followKernelLog({
      onEvent: (e) => {
        if (e.action === 'log') lookup(e.pid);
        if (activeLoggedRuns > 1) aloneThroughout = false;
      },
    });
  } catch (e) {
    activeLoggedRuns--;
    throw e;
  }
  const containerPids = new Set<number>();
  let logged: RunOutcome & { containerId: string };
  try {
    logged = await runOnce(o, toLogProfile(o.profile), durationMs, 'logged', (id) => {
      for (const pid of cgroupProcs(id)) containerPids.add(pid);
    });
    // kauditd prints asynchronously; give the last records time to arrive.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    if (activeLoggedRuns > 1) aloneThroughout = false;
    activeLoggedRuns--;
  }
  const { events, lost } = follower.stop();

  const ours: SeccompEvent[] = [];
  const strangers: SeccompEvent[] = [];
  for (const e of events) {
    if (e.action !== 'log') continue;
    const cg = pidCgroup.get(e.pid);
    if (containerPids.has(e.pid) || (cg && cg.includes(logged.containerId))) ours.push(e);
    else if (cg === null && aloneThroughout) ours.push(e);
    else if (cg === null) strangers.push(e);
    // A live process in another cgroup is under some other LOG filter: not ours, not reported.
  }

  const main = enforced ?? logged;
  return {
    probeOk: main.probeOk,
    probeDetail: main.probeDetail,
    falseNegatives: summarize(ours),
    unattributed: summarize(strangers),
    exitedEarly: Boolean(enforced?.exitedEarly) || logged.exitedEarly,
    logTail: main.logTail,
    enforced,
    logged: stripId(logged),
    lostRecords: lost,
  };
}

function stripId<T extends { containerId: string }>(r: T): Omit<T, 'containerId'> {
  const { containerId: _, ...rest } = r;
  return rest;
}

function summarize(events: SeccompEvent[]): FalseNegative[] {
  const m = new Map<string, FalseNegative>();
  for (const e of events) {
    const key = `${e.syscall}\0${e.comm}\0${e.exe}`;
    const fn = m.get(key);
    if (fn) fn.count++;
    else m.set(key, { syscall: e.syscall, name: e.name, comm: e.comm, exe: e.exe, count: 1 });
  }
  return [...m.values()].sort((a, b) => a.name.localeCompare(b.name) || a.comm.localeCompare(b.comm));
}

/** Pids in the container's cgroup (v1 controllers or v2 unified), whichever layout this host has. */
function cgroupProcs(id: string): number[] {
  const candidates = [
    `/sys/fs/cgroup/pids/docker/${id}/cgroup.procs`,
    `/sys/fs/cgroup/memory/docker/${id}/cgroup.procs`,
    `/sys/fs/cgroup/system.slice/docker-${id}.scope/cgroup.procs`,
    `/sys/fs/cgroup/docker/${id}/cgroup.procs`,
  ];
  for (const f of candidates) {
    try {
      return fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((x) => Number(x));
    } catch {
      /* try the next layout */
    }
  }
  return [];
}

async function runOnce(
  o: VerifyImageOptions,
  profile: DockerProfile,
  durationMs: number,
  mode: 'enforced' | 'logged',
  sample?: (containerId: string) => void,
): Promise<RunOutcome & { containerId: string }> {
  const t0 = Date.now();
  const create = withProfile(o.createOptions ?? {}, o.image, profile, { ...(o.labels ?? {}), 'confine.verify.mode': mode });
  let container: Dockerode.Container | undefined;
  const exited = new AbortController();
  let sampler: NodeJS.Timeout | undefined;
  try {
    try {
      container = await o.docker.createContainer(owned(create));
    } catch (e) {
      const ce = asConfineError(e, { image: o.image, stage: 'verify' });
      throw new ConfineError(ce.kind === 'internal' ? 'container-start-failed' : ce.kind, ce.message, ce.where);
    }
    const id = container.id;
    let exitCode: number | undefined;
    const waited = watchExit(container).then((r) => {
      exitCode = r.code;
      exited.abort('container exited');
    });
    if (sample) sampler = setInterval(() => sample(id), 50);
    try {
      await container.start();
    } catch (e) {
      // A profile that denies what the runtime needs fails here: that is a finding, not a crash.
      return {
        containerId: id,
        exitedEarly: true,
        probeOk: o.probe ? false : undefined,
        probeDetail: `container did not start: ${(e as Error).message}`,
        logTail: await logTail(container),
        ms: Date.now() - t0,
      };
    }
    sample?.(id);

    let probeOk: boolean | undefined;
    let probeDetail: string | undefined;
    if (o.probe) {
      const left = Math.max(1000, durationMs - (Date.now() - t0));
      const r = await runProbe(o.probe, { retries: 20, retryDelayMs: 250, deadlineMs: left, ...o.probeOptions, signal: exited.signal });
      probeOk = r.ok;
      probeDetail = r.detail;
    }
    const remaining = durationMs - (Date.now() - t0);
    if (remaining > 0 && !exited.signal.aborted) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, remaining);
        exited.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
    const exitedEarly = exited.signal.aborted;
    if (!exitedEarly) {
      // A graceful stop, so the shutdown path's syscalls are seen too.
      try {
        await container.stop({ t: o.stopTimeoutSec ?? 3 });
      } catch {
        /* already stopped */
      }
    }
    await waited;
    if (sample) sample(id);
    return { containerId: id, exitedEarly, exitCode, probeOk, probeDetail, logTail: await logTail(container, 40, Boolean(o.createOptions?.Tty)), ms: Date.now() - t0 };
  } finally {
    if (sampler) clearInterval(sampler);
    if (container) await removeContainer(container);
  }
}
