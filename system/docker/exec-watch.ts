/**
 * What the trace of one container sees while it runs: the process tree rooted at its
 * init, the programs its execs ran (by path, or through /proc/PID/exe for an exec by
 * descriptor), and the files its processes map. Fed from the kernel's exec tracer and
 * /proc; knows nothing of the engine (container-runner.ts starts and stops the container).
 */
import { promises as fs } from 'node:fs';
import { ConfineError } from '../../pipeline/errors';
import { decodePathBytes, fromLatin1 } from '../image/path-bytes';
import { findInitPid } from '../trace/container-init';
import type { ExecTracer } from '../trace/exec-tracer';
import { EXE_SWITCH_SLACK_MS, contradictsExeRead, isSelfExe, namesProgramIndirectly, programOfExeLink, type ExeRead } from '../trace/fd-exec';
import { mappedPaths, resolveExecPath, toContainerPath } from '../trace/maps';
import { ProcessTree, type TreeExec } from '../trace/process-tree';
import type { TraceEvent } from '../trace/trace-lines';
import { monoNowMs } from '../trace/tracefs';

export interface WatchedExec {
  pid: number;
  ppid?: number;
  path: string;
  comm?: string;
  tMs: number;
}

type Where = { image: string; stage: string };

const GONE = 'the process was gone before /proc showed which program it ran';

export class ExecWatch {
  /** Events are buffered until the tree knows its root; after that each is fed and dropped. */
  private early: TraceEvent[] = [];
  private tree: ProcessTree | undefined;
  private readonly resolved = new Map<TreeExec, string>();
  /** Execs through a descriptor or /proc whose program is not a file that can be had, and why (system/trace/fd-exec.ts). */
  private readonly unobtainable = new Map<TreeExec, string>();
  /**
   * Execs resolved through /proc/PID/exe, with the moment it was read: if the pid
   * exec'd again or exited before that moment, the link may show another program.
   */
  private readonly exeReads: (ExeRead & { x: TreeExec })[] = [];
  /** Forks and cgroup moves from the container's start: which process was its init (system/trace/container-init.ts). */
  private readonly startEvents: TraceEvent[] = [];
  readonly mapped = new Set<string>();
  readonly mappedCode = new Set<string>();
  /** Execs the kernel returned from without recording them (process-tree.ts), and what /proc said they run. */
  private unrecordedSeen = 0;
  readonly unrecorded: { pid: number; exe?: string }[] = [];

  constructor(
    private readonly tracer: ExecTracer,
    private readonly mergedDir: string | undefined,
    private readonly startedMono: number,
    private initPid: number,
  ) {
    if (initPid > 0) this.tree = new ProcessTree(initPid);
  }

  get init(): number {
    return this.initPid;
  }

  get execCount(): number {
    return this.tree?.execs.length ?? 0;
  }

  /** Takes what the tracer has and feeds it to the tree. */
  async pump(): Promise<void> {
    const events = this.tracer.take();
    for (const e of events) if ((e.kind === 'fork' || e.kind === 'cgroup-attach') && e.t <= this.startedMono + 5) this.startEvents.push(e);
    const tree = this.tree;
    if (!tree) {
      this.early.push(...events);
      return;
    }
    for (const e of events) {
      if (e.kind !== 'lost' && this.exeReads.length) {
        for (const r of this.exeReads) if (contradictsExeRead(e, r)) this.unobtainable.set(r.x, 'it ran another program or exited about when /proc showed which one it ran');
        // Events come in time order: a read this much older than this event can no longer be contradicted.
        while (this.exeReads.length && this.exeReads[0].readAt + EXE_SWITCH_SLACK_MS < e.t) this.exeReads.shift();
      }
      const before = tree.execs.length;
      tree.feed(e);
      if (tree.execs.length > before) {
        const x = tree.execs[tree.execs.length - 1];
        if (isSelfExe(x.filename) && x.previous) continue; // the program it ran before: resolved at the end
        if (namesProgramIndirectly(x.filename)) await this.resolveThroughExe(x);
        else if (!x.filename.startsWith('/')) await resolveRelative(x, this.mergedDir, this.resolved);
      }
    }
    await this.checkUnrecorded(tree);
  }

  /** Records the files the tree's processes map now (dlopen'd libraries never appear in DT_NEEDED). */
  async sampleMaps(): Promise<void> {
    if (!this.tree) return;
    await Promise.all(
      this.tree.pids().map(async (pid) => {
        try {
          // latin1: one char per byte, so a name that is not UTF-8 keeps its bytes (system/image/path-bytes.ts).
          const maps = await fs.readFile(`/proc/${pid}/maps`, 'latin1');
          for (const p of mappedPaths(maps)) this.mapped.add(toContainerPath(fromLatin1(p), this.mergedDir));
          for (const p of mappedPaths(maps, true)) this.mappedCode.add(toContainerPath(fromLatin1(p), this.mergedDir));
        } catch {
          /* exited between listing and reading */
        }
      }),
    );
  }

  /**
   * After the window: the tree's root. When the container exited before inspect saw its
   * pid, the init is found by the container's cgroup; otherwise the trace's own account
   * of the init must agree with the engine's, or neither is trusted.
   */
  async settleInit(initFrom: Omit<Parameters<typeof findInitPid>[1], 'cgroupEvents'>, notes: string[], where: Where): Promise<void> {
    const from = { ...initFrom, cgroupEvents: this.tracer.cgroupAttachments };
    if (this.tree) {
      await this.pump();
      const found = findInitPid(this.startEvents, from);
      if ('pid' in found && found.how === 'cgroup' && found.pid !== this.initPid) {
        throw new ConfineError('trace-failed', `the engine reports init pid ${this.initPid} but the container's cgroup shows ${found.pid}; the trace cannot be attributed — rerun`, where);
      }
      return;
    }
    this.early.push(...this.tracer.take());
    const found = findInitPid(this.early, from);
    if ('error' in found) throw new ConfineError('trace-failed', `the container exited before inspect reported its init pid, and the trace cannot tell which process was its init: ${found.error}; no execs can be attributed to it — rerun`, where);
    notes.push(`init pid ${found.pid} found from the trace by its ${found.how === 'cgroup' ? 'cgroup' : 'runc parent (the only one in the start window)'} (the container exited before inspect saw it)`);
    this.initPid = found.pid;
    const tree = (this.tree = new ProcessTree(found.pid));
    for (const e of this.early) {
      const before = tree.execs.length;
      tree.feed(e);
      // The processes are gone: a descriptor's program cannot be asked of /proc any more.
      if (tree.execs.length > before) {
        const x = tree.execs[tree.execs.length - 1];
        if (namesProgramIndirectly(x.filename) && !(isSelfExe(x.filename) && x.previous)) this.unobtainable.set(x, GONE);
      }
    }
  }

  /**
   * The execs, once settled: /proc/self/exe resolved to the program run before, and a
   * failure for any program that is not a file of the image or whose exec went unrecorded.
   */
  async execs(startMono: number, where: Where): Promise<WatchedExec[]> {
    const tree = this.tree!;
    // /proc/self/exe is the program the process ran before: its path, or the reason there is none.
    for (const x of tree.execs) {
      if (!isSelfExe(x.filename) || !x.previous) continue;
      const why = this.unobtainable.get(x.previous);
      if (why !== undefined) this.unobtainable.set(x, why);
      else this.resolved.set(x, this.resolved.get(x.previous) ?? x.previous.filename);
    }
    if (this.unobtainable.size) {
      // Not a guess: the program's code is not a file confine can read, so no profile can cover it.
      const list = [...this.unobtainable].map(([x, why]) => `pid ${x.pid} exec'd ${x.filename}: ${why}`);
      throw new ConfineError('trace-failed', `the container ran ${list.length} program(s) that are not files of the image: ${list.slice(0, 5).join('; ')}${list.length > 5 ? `; and ${list.length - 5} more` : ''}; their syscalls cannot be known`, where);
    }
    const execs = tree.execs.map((x) => ({
      pid: x.pid,
      // The init's parent is the host's runc, not a process of the container.
      ...(x.ppid !== undefined && x.pid !== this.initPid ? { ppid: x.ppid } : {}),
      path: this.resolved.get(x) ?? x.filename,
      // '<...>' is what the tracer prints when it had no comm cached for the pid.
      ...(x.comm && x.comm !== '<...>' ? { comm: x.comm } : {}),
      tMs: Math.round((x.t - startMono) * 1000) / 1000,
    }));
    await this.checkUnrecorded(tree);
    const lost = this.unrecorded.filter((u) => u.exe === undefined);
    if (lost.length) {
      // Not a guess: the program's code is unknown, so no profile can be trusted.
      throw new ConfineError('trace-failed', `${lost.length} exec(s) in the container (pid ${lost.map((u) => u.pid).join(', ')}) returned without the kernel recording which file ran (a path of about 4 KB or more does that), and the process was gone before /proc showed it; the trace is incomplete`, where);
    }
    return execs;
  }

  /** The exec that would have been the container's command failed, and with which errno. */
  get rootExecError(): number | undefined {
    return this.tree?.rootExecError;
  }

  private async checkUnrecorded(t: ProcessTree): Promise<void> {
    for (; this.unrecordedSeen < t.unrecordedExecs.length; this.unrecordedSeen++) {
      const { pid } = t.unrecordedExecs[this.unrecordedSeen];
      try {
        const exe = await procLink(pid, 'exe', this.mergedDir);
        this.unrecorded.push({ pid, ...(exe.endsWith(' (deleted)') ? {} : { exe }) });
      } catch {
        this.unrecorded.push({ pid });
      }
    }
  }

  /** An exec through a descriptor or /proc: /proc/PID/exe shows the program while the process runs it. */
  private async resolveThroughExe(x: TreeExec): Promise<void> {
    let link: string;
    try {
      link = await procLink(x.pid, 'exe', this.mergedDir);
    } catch {
      this.unobtainable.set(x, GONE);
      return;
    }
    const readAt = monoNowMs();
    const got = programOfExeLink(link);
    if ('path' in got) {
      this.resolved.set(x, got.path);
      this.exeReads.push({ x, pid: x.pid, t: x.t, readAt, shown: got.path });
    } else this.unobtainable.set(x, got.unobtainable);
  }
}

/** Relative filenames are relative to the process's cwd; /proc shows it in container terms (see system/trace/maps.ts). */
async function resolveRelative(x: TreeExec, mergedDir: string | undefined, into: Map<TreeExec, string>): Promise<void> {
  try {
    const cwd = await procLink(x.pid, 'cwd', mergedDir);
    into.set(x, resolveExecPath(x.filename, cwd));
  } catch {
    /* gone already: recorded as given, with a note */
  }
}

/** A process's /proc link (its program or cwd) in container terms, bytes kept (system/image/path-bytes.ts); throws once the process is gone. */
async function procLink(pid: number, link: 'exe' | 'cwd', mergedDir: string | undefined): Promise<string> {
  return toContainerPath(decodePathBytes(await fs.readlink(`/proc/${pid}/${link}`, { encoding: 'buffer' })), mergedDir);
}
