/**
 * Runtime calibration: which syscalls the container runtime itself makes after it has
 * installed the container's seccomp filter (runc's init: capability and prctl set-up,
 * closing fds, the final execve, ...). Every profile must allow them or the container
 * never starts, and no analysis of the image can find them.
 *
 * Measured, not guessed: a one-instruction program (exit_group) runs under a profile
 * with an empty allowlist and `defaultAction: SCMP_ACT_LOG`; the kernel logs every
 * syscall of the container's init process. The program's own exit_group is logged with
 * its own comm; everything logged for that pid before it is the runtime's. runc's init
 * is a Go program, so a syscall or two can depend on scheduling (a preemption signal's
 * rt_sigreturn, a futex); several runs are unioned and each run's set is returned so
 * the variation is visible.
 *
 * The result is keyed by engine and runtime version; storing it is the caller's job.
 */
import { owned } from '../docker/leftovers';
import { watchExit } from '../docker/exit-watch';
import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import { ConfineError } from '../../pipeline/errors';
import type { DockerProfile } from '../../formats/profile/seccomp-types';
import { importFiles, removeContainer, withProfile } from './container';
import { exitElf, pauseElf } from './exit-elf';
import { checkSeccompLogging, followKernelLog, SeccompEvent } from './kernel-log';
import { argumentValues, TrackedArgument } from './syscall-args-trace';
import { createInstance, removeInstance, tracefsRoot } from '../trace/tracefs';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';

export const CALIBRATE_BINARY = '/confine-exit';
/** The exec path's container runs this (only waits) while the exit program is exec'd into it. */
export const PAUSE_BINARY = '/confine-pause';
/** comm of the program after exec: the basename, at most 15 characters. */
const BINARY_COMM = 'confine-exit';
export const ARCHITECTURES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];

export interface RuntimeVersion {
  /** e.g. `docker 20.10.24+dfsg1` */
  engine: string;
  /** e.g. `runc 1.1.5+ds1 (1.1.5+ds1-1+deb12u1)` */
  runtime: string;
}

export interface CalibrationRun {
  /** Runtime syscalls logged in this run, sorted. */
  syscalls: string[];
  /** Records for the container's init pid, runtime and program together. */
  records: number;
  exitCode: number;
  ms: number;
}

export interface Calibration extends RuntimeVersion {
  /** Union over runs: what every profile must allow for this engine and runtime. Sorted. */
  syscalls: string[];
  /** What the probe program itself made (exit_group): proves the split between runtime and program. */
  binary: string[];
  runs: CalibrationRun[];
  /** Records the kernel log overwrote before we read them: if non-zero the set may be short. */
  lostRecords: number;
  /**
   * For each tracked syscall the runtime makes after the filter: the argument values its
   * init passed (tracefs entry events, low 32 bits), unioned over runs. A tracked syscall
   * of `syscalls` missing here was not measured in some run: no rule may narrow it.
   */
  args: Record<string, number[]>;
  /** Why arguments could not be measured at all (no tracefs syscall events), if so. */
  argsUnmeasured?: string;
}

export async function runtimeVersion(docker: Dockerode): Promise<RuntimeVersion> {
  const v = await docker.version();
  const comps = (v as { Components?: Array<{ Name: string; Version: string; Details?: { GitCommit?: string } }> }).Components ?? [];
  const info = (await docker.info()) as { DefaultRuntime?: string; RuncCommit?: { ID?: string } };
  const runtimeName = info.DefaultRuntime ?? 'runc';
  const rt = comps.find((c) => c.Name === runtimeName) ?? comps.find((c) => c.Name === 'runc');
  const commit = rt?.Details?.GitCommit || info.RuncCommit?.ID || '';
  return {
    engine: `docker ${v.Version}`,
    runtime: rt ? `${rt.Name} ${rt.Version}${commit ? ` (${commit})` : ''}` : `${runtimeName} (version unknown${commit ? `, commit ${commit}` : ''})`,
  };
}

/** A stable key for the content store: engine and runtime version, nothing else. */
export function calibrationKey(v: RuntimeVersion): string {
  return createHash('sha256').update(JSON.stringify(['runtime-calibration', 1, v.engine, v.runtime])).digest('hex');
}

/** Allows `names` (may be empty) and logs everything else instead of denying it. */
export function logOnlyProfile(names: Iterable<string> = []): DockerProfile {
  const list = [...new Set(names)].sort();
  return {
    defaultAction: 'SCMP_ACT_LOG',
    architectures: [...ARCHITECTURES],
    syscalls: list.length ? [{ names: list, action: 'SCMP_ACT_ALLOW' }] : [],
  };
}

/** Builds (once per content) the image holding only the exit program and the waiting one. */
export async function calibrationImage(docker: Dockerode): Promise<string> {
  const elf = exitElf();
  const pause = pauseElf();
  const digest = createHash('sha256').update(elf).update(pause).digest('hex').slice(0, 12);
  return importFiles(docker, `confine-verify/calibrate-exit:${digest}`, [
    { path: CALIBRATE_BINARY, content: elf, mode: 0o755 },
    { path: PAUSE_BINARY, content: pause, mode: 0o755 },
  ]);
}

export interface CalibrateOptions {
  /** Runs to union. Default 3. */
  runs?: number;
  /** How long to wait for the program's exit record after the container exited. */
  logWaitMs?: number;
  /**
   * Container shapes to measure, unioned: runc's init does more for some (a non-root
   * user makes it fchown the stdio fds; a TTY sets up a console). Default: root, a
   * non-root user, and a TTY — so a profile holds however the image is deployed.
   */
  shapes?: CalibrationShape[];
  /** Syscalls whose arguments to measure (the ones argument rules are written for), and which argument. */
  trackedArgs?: readonly TrackedArgument[];
  /** Which of the runtime's paths to measure. Default `init`. */
  path?: RuntimePath;
}

export interface CalibrationShape {
  user?: string;
  tty?: boolean;
  /** `docker exec -d`: the exec'd program's stdio is not attached (exec path only). */
  detach?: boolean;
}

export const DEFAULT_SHAPES: CalibrationShape[] = [{}, { user: '65534:65534' }, { tty: true }];
/** `docker exec` as operators run it: attached, as another user, with a TTY (-it), detached (-d). */
export const DEFAULT_EXEC_SHAPES: CalibrationShape[] = [{}, { user: '65534:65534' }, { tty: true }, { detach: true }];

/**
 * How the runtime starts the process the filter confines: `init` is `docker run` (runc's
 * init becomes the container's first process), `exec` is `docker exec` (runc's exec path
 * into a running container). Each makes its own calls after the filter.
 */
export type RuntimePath = 'init' | 'exec';

/**
 * Runtime syscalls that a run shows only by chance, always included. runc's init is Go:
 * returning from a preemption signal (SIGURG) goes through rt_sigreturn at any moment —
 * seen in 1 run of 3 on one machine and 0 of 9 on another, where a profile without it
 * killed the container (SIGSEGV, exit 139) before its entrypoint ran; and the Go
 * scheduler yields (osyield: sched_yield) in its spin paths only when threads contend —
 * seen once from runc:[2:INIT] under a load average of 18, never in an idle calibration.
 */
export const RUNTIME_BY_CHANCE: readonly string[] = ['rt_sigreturn', 'sched_yield'];

export async function calibrateRuntime(docker: Dockerode, opts: CalibrateOptions = {}): Promise<Calibration> {
  const check = checkSeccompLogging();
  if (!check.ok) throw new ConfineError('trace-failed', `cannot calibrate the runtime: ${check.reasons.join('; ')}`);
  const version = await runtimeVersion(docker);
  const image = await calibrationImage(docker);
  const runs: CalibrationRun[] = [];
  const union = new Set<string>();
  const binary = new Set<string>();
  let lostRecords = 0;
  const exec = opts.path === 'exec';
  const shapes = opts.shapes ?? (exec ? DEFAULT_EXEC_SHAPES : DEFAULT_SHAPES);
  const tracked = opts.trackedArgs ?? [];
  const events = entryEvents(tracked);
  const values = new Map<string, Set<number>>();
  const unmeasured = new Set<string>();
  const logWaitMs = opts.logWaitMs ?? 3000;
  // The exec path's runs all exec into one waiting container.
  const target = exec ? await ExecCalibrationTarget.start(docker, image) : undefined;
  try {
    for (let i = 0; i < (opts.runs ?? 3) * shapes.length; i++) {
      const shape = shapes[i % shapes.length];
      const r = target ? await measureOnce(logWaitMs, events.available, () => target.execExit(shape)) : await calibrateOnce(docker, image, logWaitMs, shape, events.available);
      runs.push(r.run);
      r.run.syscalls.forEach((s) => union.add(s));
      r.binary.forEach((s) => binary.add(s));
      lostRecords += r.lost;
      // A tracked syscall the kernel logged but tracefs showed no entry of (event missing,
      // buffer overrun) was made with arguments nobody saw: it stays unmeasured.
      for (const t of tracked) {
        if (!r.run.syscalls.includes(t.name)) continue;
        const got = r.args?.get(t.name);
        if (!got?.length) unmeasured.add(t.name);
        else for (const v of got) (values.get(t.name) ?? values.set(t.name, new Set()).get(t.name)!).add(v);
      }
    }
  } finally {
    await target?.remove();
  }
  for (const s of RUNTIME_BY_CHANCE) union.add(s);
  const args: Record<string, number[]> = {};
  for (const [name, vs] of [...values].sort((a, b) => a[0].localeCompare(b[0]))) if (!unmeasured.has(name)) args[name] = [...vs].sort((a, b) => a - b);
  return { ...version, syscalls: [...union].sort(), binary: [...binary].sort(), runs, lostRecords, args, ...(events.missing ? { argsUnmeasured: events.missing } : {}) };
}

/** The tracefs entry events for the tracked syscalls this kernel has (CONFIG_FTRACE_SYSCALLS). */
function entryEvents(tracked: readonly TrackedArgument[]): { available: { events: string[]; tracked: readonly TrackedArgument[] }; missing?: string } {
  if (!tracked.length) return { available: { events: [], tracked } };
  let root: string;
  try {
    root = tracefsRoot();
  } catch (e) {
    return { available: { events: [], tracked: [] }, missing: (e as Error).message };
  }
  const have = tracked.filter((t) => existsSync(path.join(root, 'events', 'syscalls', `sys_enter_${t.name}`)));
  const lacking = tracked.filter((t) => !have.includes(t));
  return {
    available: { events: have.map((t) => `syscalls/sys_enter_${t.name}`), tracked: have },
    ...(lacking.length ? { missing: `this kernel has no tracefs entry event for ${lacking.map((t) => t.name).join(', ')}` } : {}),
  };
}

/** The tracefs entry events to record during one measurement, and which syscalls they stand for. */
interface ArgEvents {
  events: string[];
  tracked: readonly TrackedArgument[];
}

async function calibrateOnce(
  docker: Dockerode,
  image: string,
  logWaitMs: number,
  shape: CalibrationShape = {},
  argEvents: ArgEvents = { events: [], tracked: [] },
): Promise<OneMeasurement> {
  let container: Dockerode.Container | undefined;
  try {
    return await measureOnce(logWaitMs, argEvents, async () => {
      container = await docker.createContainer(
        owned(withProfile(
          {
            Cmd: [CALIBRATE_BINARY],
            ...(shape.user ? { User: shape.user } : {}),
            ...(shape.tty ? { Tty: true } : {}),
            HostConfig: { NetworkMode: 'none', AutoRemove: false },
          },
          image,
          logOnlyProfile(),
          { 'confine.calibrate': '1' },
        )),
      );
      const exited = watchExit(container);
      await container.start();
      const { code } = await exited;
      if (code === undefined) throw new ConfineError('trace-failed', 'calibration: the engine did not tell how the exit program\'s container ended (it was removed, or the engine stopped answering)');
      return code;
    });
  } finally {
    if (container) await removeContainer(container);
  }
}

interface OneMeasurement {
  run: CalibrationRun;
  binary: string[];
  lost: number;
  args?: Map<string, number[]>;
}

/**
 * One measurement: follows the kernel log (and the tracked syscalls' entry events)
 * while `start` runs the exit program to its end, then splits the records of the
 * program's process into the runtime's (before its exec) and the program's own.
 */
async function measureOnce(logWaitMs: number, argEvents: ArgEvents, start: () => Promise<number>): Promise<OneMeasurement> {
  const t0 = Date.now();
  const follower = followKernelLog();
  // Started before the container, so the init's first calls are in the buffer.
  // record-tgid: runc's init is multi-threaded Go, and the seccomp log names its process.
  const instance = argEvents.events.length ? await createInstance({ events: argEvents.events, bufferKb: 1024, options: ['record-tgid'] }) : undefined;
  try {
    const exitCode = await start();

    // kauditd prints asynchronously: wait for the program's own record, which is the last one.
    const deadline = Date.now() + logWaitMs;
    let exitEvent: SeccompEvent | undefined;
    for (;;) {
      follower.drain();
      exitEvent = follower.events.find((e) => e.comm === BINARY_COMM && e.exe === CALIBRATE_BINARY);
      if (exitEvent || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const { events, lost } = follower.stop();
    if (!exitEvent) {
      throw new ConfineError(
        'trace-failed',
        `calibration: no seccomp record of ${CALIBRATE_BINARY} within ${logWaitMs} ms (exit code ${exitCode}, ${events.length} records seen)`,
      );
    }
    const mine = events.filter((e) => e.pid === exitEvent!.pid);
    const runtime = mine.filter((e) => e.comm !== BINARY_COMM);
    const prog = mine.filter((e) => e.comm === BINARY_COMM);
    // Every entry of the init process counts, the ones before the filter too: a superset
    // of what the filter sees, which only ever allows more. (The program only exits.)
    const read = instance ? argumentValues(await fs.readFile(path.join(instance, 'trace'), 'utf8'), exitEvent.pid, argEvents.tracked) : undefined;
    // A buffer that lost events may hold some of runc's values only: none of them count.
    const args = read?.complete ? read.values : read ? new Map<string, number[]>() : undefined;
    return {
      run: { syscalls: [...new Set(runtime.map((e) => e.name))].sort(), records: mine.length, exitCode, ms: Date.now() - t0 },
      binary: [...new Set(prog.map((e) => e.name))],
      lost,
      ...(args ? { args } : {}),
    };
  } finally {
    follower.stop();
    if (instance) await removeInstance(instance);
  }
}

/**
 * The `docker exec` path: one container runs a program that only waits (under the same
 * log-only profile), and each measurement execs the exit program into it the way the
 * CLI does (attached, or detached with -d; as root, a non-root user, or with a TTY).
 * runc's exec joins the container's namespaces and its init, as for `docker run`, sets
 * up the process and installs the filter before the program's execve, but on a path of
 * its own (setns, no rootfs or console set-up of the container): measured, not assumed
 * to be a subset.
 */
export class ExecCalibrationTarget {
  private constructor(private readonly container: Dockerode.Container) {}

  static async start(docker: Dockerode, image: string): Promise<ExecCalibrationTarget> {
    const container = await docker.createContainer(
      owned(withProfile({ Cmd: [PAUSE_BINARY], HostConfig: { NetworkMode: 'none', AutoRemove: false } }, image, logOnlyProfile(), { 'confine.calibrate': '1' })),
    );
    const target = new ExecCalibrationTarget(container);
    try {
      await container.start();
    } catch (e) {
      await target.remove();
      throw e;
    }
    return target;
  }

  /** Execs the exit program once and returns its exit code. */
  async execExit(shape: CalibrationShape): Promise<number> {
    const exec = await this.container.exec({
      Cmd: [CALIBRATE_BINARY],
      ...(shape.user ? { User: shape.user } : {}),
      ...(shape.tty ? { Tty: true } : {}),
      AttachStdout: !shape.detach,
      AttachStderr: !shape.detach,
    });
    if (shape.detach) await exec.start({ Detach: true });
    else {
      const stream = (await exec.start({ hijack: true, stdin: false, ...(shape.tty ? { Tty: true } : {}) })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
        stream.resume();
      });
    }
    // The stream ends when the program's stdio closes; the engine records the exit a moment later.
    for (const deadline = Date.now() + 10_000; ; ) {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      if (Date.now() > deadline) throw new ConfineError('trace-failed', `calibration: the exec'd ${CALIBRATE_BINARY} did not finish within 10 s`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async remove(): Promise<void> {
    await removeContainer(this.container);
  }
}
