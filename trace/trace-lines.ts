/**
 * Parsers for the lines the kernel writes to a tracefs trace_pipe for the sched
 * process events. Pure, so they are tested on captured lines.
 *
 *   nginx-4242  [001] d..2.  1234.567890: sched_process_fork: comm=nginx pid=4242 child_comm=nginx child_pid=4250
 *   sh-4250     [000] .....  1234.600000: sched_process_exec: filename=/usr/sbin/nginx pid=4250 old_pid=4250
 *
 * pids here are host thread ids: fork events also report new threads, which is what
 * we want — a thread of a traced process that forks still has traced descendants.
 */
export type TraceEvent =
  | { kind: 'fork'; t: number; parent: number; child: number; parentComm: string; childComm: string }
  | { kind: 'exec'; t: number; pid: number; oldPid: number; filename: string; comm: string }
  | { kind: 'exit'; t: number; pid: number; comm: string };

const HEAD = /^\s*(.*?)-(\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(\d+)\]\s+\S+\s+(\d+\.\d+):\s+(sched_process_\w+):\s(.*)$/;
const EXEC = /^filename=(.*) pid=(\d+) old_pid=(\d+)$/;
const FORK = /^comm=(.*) pid=(\d+) child_comm=(.*) child_pid=(\d+)$/;
const EXIT = /^comm=(.*) pid=(\d+) prio=-?\d+(?: group_dead=\w+)?$/;

export function parseTraceLine(line: string): TraceEvent | undefined {
  const h = HEAD.exec(line);
  if (!h) return undefined;
  const [, comm, , , ts, event, rest] = h;
  const t = Math.round(Number(ts) * 1000);
  if (event === 'sched_process_exec') {
    const m = EXEC.exec(rest);
    return m ? { kind: 'exec', t, filename: m[1], pid: Number(m[2]), oldPid: Number(m[3]), comm } : undefined;
  }
  if (event === 'sched_process_fork') {
    const m = FORK.exec(rest);
    return m ? { kind: 'fork', t, parentComm: m[1], parent: Number(m[2]), childComm: m[3], child: Number(m[4]) } : undefined;
  }
  if (event === 'sched_process_exit') {
    const m = EXIT.exec(rest);
    return m ? { kind: 'exit', t, comm: m[1], pid: Number(m[2]) } : undefined;
  }
  return undefined;
}

export type ExecEvent = Extract<TraceEvent, { kind: 'exec' }>;

/**
 * The tids descending from a root, and the execs they made, fed with events in
 * kernel order. Events from before the root was known are fed first, so the race
 * between starting a container and learning its pid loses nothing.
 */
export class ProcessTree {
  readonly members: Set<number>;
  readonly execs: ExecEvent[] = [];

  constructor(readonly root: number) {
    this.members = new Set([root]);
  }

  feed(e: TraceEvent): void {
    if (e.kind === 'fork' && this.members.has(e.parent)) this.members.add(e.child);
    else if (e.kind === 'exec' && (this.members.has(e.pid) || this.members.has(e.oldPid))) {
      this.members.add(e.pid);
      this.execs.push(e);
    } else if (e.kind === 'exit' && e.pid !== this.root) this.members.delete(e.pid);
  }
}
