import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, rmdirSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { ConfineError } from '../pipeline/errors';
import { parseTraceLine, TraceEvent } from './trace-lines';

const ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const EVENTS = ['sched/sched_process_exec', 'sched/sched_process_fork', 'sched/sched_process_exit'];
const PREFIX = 'confine-';
let counter = 0;

/** Finds tracefs, mounting it when absent (we run as root). */
export async function tracefsRoot(): Promise<string> {
  for (const r of ROOTS) if (existsSync(path.join(r, 'instances'))) return r;
  await new Promise<void>((resolve) => {
    const p = spawn('mount', ['-t', 'tracefs', 'nodev', ROOTS[0]], { stdio: 'ignore' });
    p.on('close', () => resolve());
    p.on('error', () => resolve());
  });
  if (existsSync(path.join(ROOTS[0], 'instances'))) return ROOTS[0];
  throw new ConfineError('trace-failed', `no tracefs at ${ROOTS.join(' or ')} and mounting it failed; run as root on a kernel with tracefs (CONFIG_FTRACE)`);
}

/**
 * A private tracefs instance recording process exec/fork/exit events system-wide.
 * Each tracer has its own instance (its own ring buffer and event switches), so
 * several containers traced at once, or another tool's tracing, never interfere.
 */
export class ExecTracer {
  private events: TraceEvent[] = [];
  private reader?: ChildProcess;
  private closed?: Promise<void>;

  private constructor(readonly dir: string) {}

  static async start(): Promise<ExecTracer> {
    const root = await tracefsRoot();
    removeStaleInstances(root);
    const dir = path.join(root, 'instances', `${PREFIX}${process.pid}-${++counter}`);
    try {
      await fs.mkdir(dir);
      await fs.writeFile(path.join(dir, 'buffer_size_kb'), '8192').catch(() => undefined);
      for (const ev of EVENTS) await fs.writeFile(path.join(dir, 'events', ev, 'enable'), '1');
    } catch (e) {
      await fs.rmdir(dir).catch(() => undefined);
      throw new ConfineError('trace-failed', `cannot set up tracefs instance ${dir}: ${(e as Error).message}`);
    }
    const tracer = new ExecTracer(dir);
    tracer.read();
    return tracer;
  }

  /** Lines come from `cat trace_pipe`: its blocking reads stay out of Node's thread pool. */
  private read(): void {
    const reader = spawn('cat', [path.join(this.dir, 'trace_pipe')], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.reader = reader;
    this.closed = new Promise((resolve) => reader.on('close', () => resolve()));
    const lines = createInterface({ input: reader.stdout! });
    lines.on('line', (line) => {
      const e = parseTraceLine(line);
      if (e) this.events.push(e);
    });
  }

  /** The events seen since the last call; the caller keeps what concerns it, so memory stays bounded. */
  take(): TraceEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** Events still in the ring buffer when we stop are drained before the reader ends. */
  async stop(): Promise<void> {
    if (!this.reader) return;
    for (const ev of EVENTS) await fs.writeFile(path.join(this.dir, 'events', ev, 'enable'), '0').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 150)); // let cat drain what the buffer still holds
    this.reader.kill('SIGTERM');
    await this.closed;
    this.reader = undefined;
    await removeInstance(this.dir);
  }
}

async function removeInstance(dir: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 50)); // EBUSY while the reader lets go
    }
  }
}

/** Instances of confine processes that were killed (kill -9, a crash) are removed. */
export function removeStaleInstances(root: string): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(path.join(root, 'instances'));
  } catch {
    return removed;
  }
  for (const n of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-\\d+$`).exec(n);
    if (!m || isAlive(Number(m[1]))) continue;
    try {
      rmdirSync(path.join(root, 'instances', n));
      removed.push(n);
    } catch {
      /* still busy: the next run tries again */
    }
  }
  return removed;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
