/**
 * Records process exec/fork/exit events system-wide through a private tracefs
 * instance. trace_pipe is read with O_NONBLOCK, polled: no thread of Node's pool ever
 * sits in a blocking read (several tracers at once would starve fs), and stopping
 * drains exactly what the kernel still holds — a read that says EAGAIN after the
 * events were switched off means nothing is left.
 */
import { constants, closeSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfineError } from '../pipeline/errors';
import { LineSplitter, parseTraceLine, type TraceEvent } from './trace-lines';
import { createInstance, removeInstance, removeInstanceSync } from './tracefs';

export const SCHED_EVENTS = ['sched/sched_process_exec', 'sched/sched_process_fork', 'sched/sched_process_exit'];

const POLL_MS = 50;
const CHUNK = 1 << 16;

/** Instances of this process still open, removed on exit (SIGINT with no other handler, an uncaught error). */
const open = new Map<string, () => void>();
let exitHookInstalled = false;
const signalHandlers = new Map<NodeJS.Signals, () => void>();

function cleanupAll(): void {
  for (const cleanup of open.values()) cleanup();
  open.clear();
}

/**
 * While a trace is open: on exit, and on SIGINT/SIGTERM when nobody else handles
 * them (the CLI does, and aborts us properly), remove our instances. Our signal
 * handler then re-raises only if it was the last listener, so the default "die"
 * still happens and a caller's own handler is never run twice.
 */
function holdCleanupHooks(): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', cleanupAll);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    if (signalHandlers.has(sig) || process.listenerCount(sig) > 0) continue;
    const handler = () => {
      cleanupAll();
      releaseCleanupHooks();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    signalHandlers.set(sig, handler);
    process.on(sig, handler);
  }
}

function releaseCleanupHooks(): void {
  if (open.size > 0) return;
  for (const [sig, handler] of signalHandlers) process.off(sig, handler);
  signalHandlers.clear();
}

export class ExecTracer {
  private pending: TraceEvent[] = [];
  private splitter = new LineSplitter();
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private stopped = false;
  /** Events the kernel dropped because the buffer overflowed between reads: an incomplete trace. */
  lost = 0;
  linesRead = 0;

  private constructor(
    readonly dir: string,
    private fd: fs.FileHandle,
  ) {}

  static async start(): Promise<ExecTracer> {
    const dir = await createInstance({ events: SCHED_EVENTS, clock: 'mono' });
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(path.join(dir, 'trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      await removeInstance(dir).catch(() => undefined);
      throw new ConfineError('trace-failed', `cannot open ${dir}/trace_pipe: ${(e as Error).message}`);
    }
    const t = new ExecTracer(dir, fh);
    holdCleanupHooks();
    open.set(dir, () => {
      try {
        closeSync(fh.fd);
      } catch {
        /* already closed */
      }
      removeInstanceSync(dir);
    });
    t.schedule();
    return t;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.reading = this.drain().then(
        () => this.schedule(),
        () => this.schedule(),
      );
    }, POLL_MS);
  }

  /** Reads until the pipe has nothing more right now. */
  private async drain(): Promise<void> {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      let n: number;
      try {
        n = (await this.fd.read(buf, 0, CHUNK, null)).bytesRead;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw e;
      }
      if (n === 0) return;
      for (const line of this.splitter.push(buf.toString('utf8', 0, n))) this.consume(line);
    }
  }

  private consume(line: string): void {
    this.linesRead++;
    const e = parseTraceLine(line);
    if (!e) return;
    if (e.kind === 'lost') this.lost += e.count;
    this.pending.push(e);
  }

  /** Events seen since the last call, in kernel order; the caller keeps what concerns it, so memory stays bounded. */
  take(): TraceEvent[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Reads what is left, then removes the instance. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    try {
      await this.reading?.catch(() => undefined);
      await fs.writeFile(path.join(this.dir, 'tracing_on'), '0').catch(() => undefined);
      await this.drain().catch(() => undefined);
      for (const line of this.splitter.flush()) this.consume(line);
    } finally {
      await this.fd.close().catch(() => undefined);
      open.delete(this.dir);
      releaseCleanupHooks();
      await removeInstance(this.dir);
    }
  }
}
