/**
 * The kernel's tracefs: where it is, and private instances in it. An instance
 * (`instances/NAME`) has its own ring buffer, event switches and clock, so several
 * confine traces at once, and any other tool using the top-level buffer, never see
 * or disturb each other's settings.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, rmdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfineError } from '../../pipeline/errors';

export const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
export const INSTANCE_PREFIX = 'confine-';

let mounted: string | undefined;

/** Finds tracefs, mounting it at /sys/kernel/tracing when absent (needs root). */
export function tracefsRoot(): string {
  if (mounted && existsSync(path.join(mounted, 'instances'))) return mounted;
  for (const r of TRACEFS_ROOTS) if (existsSync(path.join(r, 'instances'))) return (mounted = r);
  const errors: string[] = [];
  const attempts: [string, string[]][] = [
    [TRACEFS_ROOTS[0], ['-t', 'tracefs', 'nodev', TRACEFS_ROOTS[0]]],
    ['/sys/kernel/debug', ['-t', 'debugfs', 'nodev', '/sys/kernel/debug']],
  ];
  for (const [, args] of attempts) {
    try {
      execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      errors.push(`mount ${args.join(' ')}: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`);
    }
    for (const r of TRACEFS_ROOTS) if (existsSync(path.join(r, 'instances'))) return (mounted = r);
  }
  throw new ConfineError(
    'trace-failed',
    `no tracefs at ${TRACEFS_ROOTS.join(' or ')} and mounting it failed (${errors.join('; ')}); confine must run as root on a kernel with tracefs`,
  );
}

/**
 * Whether a confine process still runs. A process killed with -9 whose parent died
 * too may stay a zombie for a while (an init that reaps slowly): it answers kill(0)
 * but will never clean up after itself, so it counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Instance names are `confine-<owner pid>-<n>`: the owner pid lets a later run tell leftovers from live traces. */
export function instanceOwner(name: string): number | undefined {
  const m = new RegExp(`^${INSTANCE_PREFIX}(\\d+)-\\d+$`).exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Removes instances whose confine process is gone (a kill -9 skips every cleanup). */
export function removeStaleInstances(root = tracefsRoot()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(path.join(root, 'instances'));
  } catch {
    return removed;
  }
  for (const n of names) {
    const owner = instanceOwner(n);
    if (owner === undefined || owner === process.pid || isAlive(owner)) continue;
    try {
      rmdirSync(path.join(root, 'instances', n));
      removed.push(n);
    } catch {
      /* busy: the next run tries again */
    }
  }
  return removed;
}

let counter = 0;

export interface InstanceOptions {
  events: string[];
  /** Per-CPU buffer; a burst of forks (a shell script, a pre-fork server) must fit between two reads. */
  bufferKb?: number;
  /** `mono` timestamps are CLOCK_MONOTONIC, the clock of process.hrtime, so events line up with our own times. */
  clock?: string;
  /** Trace options to switch on in this instance (`options/NAME`), e.g. `record-tgid`. */
  options?: string[];
}

/** Creates a private instance with the given events enabled; the caller must `removeInstance` it. */
export async function createInstance(opts: InstanceOptions): Promise<string> {
  const root = tracefsRoot();
  removeStaleInstances(root);
  const dir = path.join(root, 'instances', `${INSTANCE_PREFIX}${process.pid}-${++counter}`);
  try {
    await fs.mkdir(dir);
  } catch (e) {
    throw new ConfineError('trace-failed', `cannot create tracefs instance ${dir}: ${(e as Error).message}`);
  }
  try {
    await fs.writeFile(path.join(dir, 'buffer_size_kb'), String(opts.bufferKb ?? 4096));
    if (opts.clock) await fs.writeFile(path.join(dir, 'trace_clock'), opts.clock);
    for (const o of opts.options ?? []) await fs.writeFile(path.join(dir, 'options', o), '1');
    for (const ev of opts.events) await fs.writeFile(path.join(dir, 'events', ev, 'enable'), '1');
    await fs.writeFile(path.join(dir, 'tracing_on'), '1');
  } catch (e) {
    await removeInstance(dir);
    throw new ConfineError('trace-failed', `cannot set up tracefs instance ${dir}: ${(e as Error).message}`);
  }
  return dir;
}

/** Turns the events off and removes the directory; rmdir fails with EBUSY while a reader holds trace_pipe, so close first. */
export async function removeInstance(dir: string): Promise<void> {
  await fs.writeFile(path.join(dir, 'tracing_on'), '0').catch(() => undefined);
  for (let i = 0; i < 40; i++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new ConfineError('trace-failed', `cannot remove tracefs instance ${dir} (still busy)`);
}

/** The same, synchronously, for process exit handlers. */
export function removeInstanceSync(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* gone or busy; the next run's removeStaleInstances takes it */
  }
}

/** Current CLOCK_MONOTONIC in ms, the clock an instance with `trace_clock=mono` stamps events with. */
export function monoNowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
