/**
 * Records process exec/fork/exit events system-wide through a private tracefs
 * instance, in the kernel's binary record format (raw-events.ts: a file name cannot
 * end or forge a record there, as it can in the text of trace_pipe). Each CPU's
 * trace_pipe_raw is read with O_NONBLOCK, polled: no thread of Node's pool ever sits
 * in a blocking read (several tracers at once would starve fs), and stopping drains
 * exactly what the kernel still holds — a read that says EAGAIN after the events were
 * switched off means nothing is left.
 */
import { constants, closeSync, existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfineError } from '../../pipeline/errors';
import { parseFormat, parsePage, type EventFormat } from './raw-events';
import type { TraceEvent } from './trace-lines';
import { createInstance, monoNowMs, removeInstance, removeInstanceSync, tracefsRoot } from './tracefs';

export const SCHED_EVENTS = ['sched/sched_process_exec', 'sched/sched_process_fork', 'sched/sched_process_exit'];
/**
 * Enabled too when the kernel has them: an exec whose file name is too long for a
 * ring-buffer record (~4 KB) is dropped from sched_process_exec without a trace, but
 * its syscall still returns, so a hidden exec is at least known (process-tree.ts).
 */
export const EXEC_RETURN_EVENTS = ['syscalls/sys_exit_execve', 'syscalls/sys_exit_execveat'];
/**
 * Enabled too when the kernel has it: which processes runc moves into a container's
 * cgroup, so a container's init is known by its cgroup (a host-only act), never by a
 * process name another container can take (system/docker/container-runner.ts findInitPid).
 */
export const CGROUP_ATTACH_EVENT = 'cgroup/cgroup_attach_task';

const POLL_MS = 50;
/** Events stamped this close to a drain's start may still be committing on another CPU. */
const WATERMARK_SLACK_MS = 2;

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
  /** Decoded but newer than what every CPU has surely delivered: held so events leave in time order. */
  private held: TraceEvent[] = [];
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private stopped = false;
  /** Events the kernel dropped because the buffer overflowed between reads: an incomplete trace. */
  lost = 0;
  /** Pages read (all CPUs). */
  pagesRead = 0;
  /** Why a record did not decode, if one did not: the trace is then not to be trusted. */
  malformed?: string;
  /** Whether cgroup attachments are recorded ('cgroup-attach' events). */
  get cgroupAttachments(): boolean {
    return [...this.formats.values()].some((f) => f.name === 'cgroup_attach_task');
  }

  private constructor(
    readonly dir: string,
    private readonly cpus: { cpu: number; fd: fs.FileHandle }[],
    private readonly formats: Map<number, EventFormat>,
    private readonly pageSize: number,
  ) {}

  /** `bufferKb`: per-CPU ring buffer (default 4 MB); tests shrink it to make the kernel drop events. */
  static async start(opts: { bufferKb?: number } = {}): Promise<ExecTracer> {
    const root = tracefsRoot();
    const events = [...SCHED_EVENTS, ...[...EXEC_RETURN_EVENTS, CGROUP_ATTACH_EVENT].filter((e) => existsSync(path.join(root, 'events', e)))];
    const dir = await createInstance({ events, clock: 'mono', ...(opts.bufferKb !== undefined ? { bufferKb: opts.bufferKb } : {}) });
    const cpus: { cpu: number; fd: fs.FileHandle }[] = [];
    const closeAll = () => {
      for (const c of cpus) {
        try {
          closeSync(c.fd.fd);
        } catch {
          /* already closed */
        }
      }
    };
    let formats: Map<number, EventFormat>;
    let pageSize = 4096;
    try {
      formats = new Map();
      for (const ev of events) {
        const f = parseFormat(await fs.readFile(path.join(dir, 'events', ev, 'format'), 'utf8'));
        formats.set(f.id, f);
      }
      // Kernels ≥ 6.8 can use sub-buffers larger than a page; a read returns one.
      const kb = await fs.readFile(path.join(dir, 'buffer_subbuf_size_kb'), 'utf8').then((t) => Number(t.trim()), () => 4);
      if (Number.isInteger(kb) && kb > 0) pageSize = kb * 1024;
      const names = (await fs.readdir(path.join(dir, 'per_cpu'))).filter((n) => /^cpu\d+$/.test(n));
      for (const n of names) {
        cpus.push({ cpu: Number(n.slice(3)), fd: await fs.open(path.join(dir, 'per_cpu', n, 'trace_pipe_raw'), constants.O_RDONLY | constants.O_NONBLOCK) });
      }
      if (!cpus.length) throw new Error('no per_cpu/cpuN/trace_pipe_raw');
    } catch (e) {
      closeAll();
      await removeInstance(dir).catch(() => undefined);
      throw new ConfineError('trace-failed', `cannot open the binary trace of ${dir}: ${(e as Error).message}`);
    }
    const t = new ExecTracer(dir, cpus, formats, pageSize);
    holdCleanupHooks();
    open.set(dir, () => {
      closeAll();
      removeInstanceSync(dir);
    });
    t.schedule();
    return t;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.reading = this.drain(false).then(
        () => this.schedule(),
        () => this.schedule(),
      );
    }, POLL_MS);
  }

  /**
   * Reads every CPU's buffer until it has nothing more right now, then releases in
   * time order what is older than the moment the reads began (a CPU read earlier may
   * still deliver events from just before it); `all` releases everything (at stop).
   */
  private async drain(all: boolean): Promise<void> {
    const watermark = monoNowMs() - WATERMARK_SLACK_MS;
    const buf = Buffer.alloc(this.pageSize);
    for (const { cpu, fd } of this.cpus) {
      for (;;) {
        let n: number;
        try {
          n = (await fd.read(buf, 0, buf.length, null)).bytesRead;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw e;
        }
        if (n === 0) break;
        this.pagesRead++;
        const page = parsePage(buf.subarray(0, n), this.formats);
        this.lost += page.lost;
        if (page.lost) this.held.push({ kind: 'lost', cpu, count: page.lost });
        if (page.malformed && this.malformed === undefined) this.malformed = `cpu${cpu}: ${page.malformed}`;
        this.held.push(...page.events);
      }
    }
    this.held.sort((a, b) => timeOf(a) - timeOf(b));
    const cut = all ? this.held.length : this.held.findIndex((e) => timeOf(e) > watermark);
    const n = cut < 0 ? this.held.length : cut;
    this.pending.push(...this.held.splice(0, n));
  }

  /** Events seen since the last call, in time order; the caller keeps what concerns it, so memory stays bounded. */
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
      await this.drain(true).catch(() => undefined);
    } finally {
      for (const c of this.cpus) await c.fd.close().catch(() => undefined);
      open.delete(this.dir);
      releaseCleanupHooks();
      await removeInstance(this.dir);
    }
  }
}

/** 'lost' markers sort with the events around them (by arrival; they carry no time). */
function timeOf(e: TraceEvent): number {
  return e.kind === 'lost' ? -Infinity : e.t;
}
