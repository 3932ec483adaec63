/**
 * Parsers for what the kernel writes to a tracefs `trace_pipe` for the sched process
 * events. Pure, so they are tested on captured lines. Captured on this host (6.18):
 *
 *       bash-3651    [000] .....  9193.099078: sched_process_fork: comm=bash pid=3651 child_comm=bash child_pid=3655
 *     timeout-3656   [001] .....  9193.100278: sched_process_exec: filename=/usr/bin/timeout pid=3656 old_pid=3656
 *      <...>-3662    [001] .....  9193.406525: sched_process_exec: filename=bin/env pid=3662 old_pid=3662
 *       true-3660    [001] .....  9193.405997: sched_process_exit: comm=true pid=3660 prio=120 group_dead=true
 *   CPU:1 [LOST 42 EVENTS]
 *
 * pids are host thread ids: fork events also report new threads, which is what we
 * want — a thread of a traced process that forks still has traced descendants. The
 * filename of an exec is the path exactly as passed to execve (maybe relative).
 */
export type TraceEvent =
  | { kind: 'fork'; t: number; parent: number; child: number; parentComm: string; childComm: string }
  | { kind: 'exec'; t: number; pid: number; oldPid: number; filename: string; comm: string }
  | { kind: 'exit'; t: number; pid: number; comm: string; groupDead?: boolean }
  /**
   * An execve/execveat returning (binary trace only): a success (ret 0) not preceded by
   * this pid's exec event is an exec whose record the kernel dropped (a file name too
   * long for a ring-buffer record, ~4 KB).
   */
  | { kind: 'exec-return'; t: number; pid: number; ret: number }
  /**
   * A thread group moved into a cgroup (binary trace only; cgroup_attach_task, one per
   * hierarchy on cgroup v1). `path` is the cgroup's path from its hierarchy's root, as
   * the kernel knows it whatever namespace the writer is in: runc moves a container's
   * first process into the container's cgroup, which only the host can do.
   */
  | { kind: 'cgroup-attach'; t: number; pid: number; path: string }
  | { kind: 'lost'; cpu: number; count: number };

export type ExecEvent = Extract<TraceEvent, { kind: 'exec' }>;

// task-pid, optional (tgid) column (options/record-tgid), [cpu], flags, timestamp (seconds), event name.
const HEAD = /^\s*(.*?)-(\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(\d+)\]\s+(?:\S+\s+)?(\d+\.\d+):\s+(sched_process_\w+):\s(.*)$/;
const EXEC = /^filename=(.*) pid=(\d+) old_pid=(\d+)$/;
const FORK = /^comm=(.*) pid=(\d+) child_comm=(.*) child_pid=(\d+)$/;
const EXIT = /^comm=(.*) pid=(\d+) prio=-?\d+(?: group_dead=(\w+))?$/;
const LOST = /^CPU:(\d+) \[LOST (\d+) EVENTS\]$/;

/** One trace_pipe line → an event; undefined for lines of other events or anything unrecognised. */
export function parseTraceLine(line: string): TraceEvent | undefined {
  const lost = LOST.exec(line.trim());
  if (lost) return { kind: 'lost', cpu: Number(lost[1]), count: Number(lost[2]) };
  const h = HEAD.exec(line);
  if (!h) return undefined;
  const [, taskComm, , , ts, event, rest] = h;
  // Timestamps are seconds with µs; kept in ms with the fraction so ordering survives.
  const t = Math.round(Number(ts) * 1e6) / 1e3;
  if (event === 'sched_process_exec') {
    const m = EXEC.exec(rest);
    return m ? { kind: 'exec', t, filename: m[1], pid: Number(m[2]), oldPid: Number(m[3]), comm: taskComm } : undefined;
  }
  if (event === 'sched_process_fork') {
    const m = FORK.exec(rest);
    return m ? { kind: 'fork', t, parentComm: m[1], parent: Number(m[2]), childComm: m[3], child: Number(m[4]) } : undefined;
  }
  if (event === 'sched_process_exit') {
    const m = EXIT.exec(rest);
    if (!m) return undefined;
    return { kind: 'exit', t, comm: m[1], pid: Number(m[2]), ...(m[3] !== undefined ? { groupDead: m[3] === 'true' } : {}) };
  }
  return undefined;
}

/**
 * Splits a chunk stream into lines; the trailing partial line waits for the next
 * chunk. Reads of trace_pipe return whole events in practice, but nothing promises it.
 */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines;
  }

  flush(): string[] {
    const r = this.rest;
    this.rest = '';
    return r ? [r] : [];
  }
}
