import type { ExecEvent, TraceEvent } from './trace-lines';

export interface TreeExec {
  pid: number;
  /** The thread that forked this pid (a host tid; for a thread-created child it is that thread, not its leader). */
  ppid?: number;
  filename: string;
  comm: string;
  t: number;
  /**
   * The exec that loaded the program this pid ran until now (its own earlier exec, or
   * its parent's program inherited through fork); absent for the init, which was runc.
   * `/proc/self/exe` names that program, whatever the pid does with its file later.
   */
  previous?: TreeExec;
}

/**
 * The tids descending from a container's init pid and the execs they made, fed with
 * system-wide events in kernel order. Events from before the pid was known are fed
 * too, so the race between starting a container and learning its pid loses nothing.
 *
 * - The init pid is created by runc's fork; seeing that fork restarts the tree, so an
 *   earlier, unrelated process that had the same pid is forgotten.
 * - A pid that exits leaves the tree; a pid forked by someone outside the tree is not
 *   ours even if the number was ours before (pid reuse).
 * - An exec by a non-leader thread shows old_pid = that thread and pid = the leader.
 */
export class ProcessTree {
  private readonly members = new Map<number, number | undefined>(); // tid → parent tid
  readonly execs: TreeExec[] = [];
  /** Pids of the tree whose exec returned with success but left no exec record (its name too long to record). */
  readonly unrecordedExecs: { pid: number; t: number }[] = [];
  /** Pids whose exec record was seen and whose execve has not returned yet. */
  private readonly recorded = new Set<number>();
  /** The exec that loaded each live tid's program (see TreeExec.previous). */
  private readonly program = new Map<number, TreeExec>();
  /** The root's last failed exec (a negative errno): why a command that never started did not. */
  rootExecError?: number;

  constructor(readonly root: number) {
    this.members.set(root, undefined);
  }

  /** Live tids of the tree (the init and every descendant not yet exited). */
  pids(): number[] {
    return [...this.members.keys()];
  }

  has(pid: number): boolean {
    return this.members.has(pid);
  }

  feed(e: TraceEvent): ExecEvent | undefined {
    switch (e.kind) {
      case 'fork':
        if (e.child === this.root) {
          this.members.clear();
          this.members.set(this.root, e.parent);
          this.execs.length = 0;
          this.unrecordedExecs.length = 0;
          this.recorded.clear();
          this.program.clear();
          this.rootExecError = undefined;
        } else if (this.members.has(e.parent)) {
          this.members.set(e.child, e.parent);
          const p = this.program.get(e.parent);
          if (p) this.program.set(e.child, p);
          else this.program.delete(e.child);
        } else {
          this.members.delete(e.child);
          this.program.delete(e.child);
        }
        return undefined;
      case 'exec': {
        if (!this.members.has(e.pid) && !this.members.has(e.oldPid)) return undefined;
        const ppid = this.members.get(e.pid) ?? this.members.get(e.oldPid);
        // The thread that called exec carries the program it ran (a non-leader's is its group's).
        const previous = this.program.get(e.oldPid) ?? this.program.get(e.pid);
        if (e.oldPid !== e.pid) {
          this.members.delete(e.oldPid);
          this.program.delete(e.oldPid);
        }
        this.members.set(e.pid, ppid);
        const x: TreeExec = { pid: e.pid, ppid, filename: e.filename, comm: e.comm, t: e.t, ...(previous ? { previous } : {}) };
        this.execs.push(x);
        this.program.set(e.pid, x);
        this.recorded.add(e.pid);
        return e;
      }
      case 'exec-return':
        if (!this.members.has(e.pid)) return undefined;
        if (e.ret === 0 && !this.recorded.has(e.pid)) this.unrecordedExecs.push({ pid: e.pid, t: e.t });
        if (e.ret < 0 && e.pid === this.root) this.rootExecError = e.ret;
        this.recorded.delete(e.pid);
        return undefined;
      case 'exit':
        // The init's exit ends the container; keep it so late events still attach.
        if (e.pid !== this.root) {
          this.members.delete(e.pid);
          this.program.delete(e.pid);
        }
        return undefined;
      default:
        return undefined;
    }
  }
}
