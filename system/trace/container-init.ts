/**
 * Which host pid was a container's init, from the trace alone — for a container that
 * exited before `inspect` could report its pid. runc moves its first process of the
 * container (`runc:[0:PARENT]`) into the container's cgroup before that process forks
 * `runc:[1:CHILD]`, which forks the init (`runc:[2:INIT]`, later the entrypoint). Moving
 * a process into a cgroup of the host's hierarchy is the host's act: a process of
 * another container can name itself `runc:[1:CHILD]` and fork at the same moment, but
 * it cannot enter this container's cgroup, so the init is the first process forked by a
 * `runc:[1:CHILD]` that descends (by fork events after the move) from a process moved
 * into the cgroup named after this container's ID. Pure.
 */
import type { TraceEvent } from './trace-lines';

export type InitFound = { pid: number; how: 'cgroup' | 'name' } | { error: string };

/** Whether a cgroup path is this container's: Docker names it by the ID (cgroupfs `/docker/ID`, systemd `/system.slice/docker-ID.scope`). */
export function isContainerCgroup(path: string, containerId: string): boolean {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return containerId.length >= 12 && (last === containerId || last === `docker-${containerId}.scope`);
}

const RUNC_CHILD = 'runc:[1:CHILD]';

/**
 * `events` in time order. With cgroup attachments recorded, the init is found by the
 * cgroup; without (a kernel without the tracepoint, a runtime that clones straight into
 * the cgroup), only a single `runc:[1:CHILD]` fork in the start window is trusted — two
 * or more may be another container's imitation, and the trace then fails rather than
 * attribute another container's execs to this one.
 */
export function findInitPid(
  events: TraceEvent[],
  opts: { containerId: string; cgroupEvents: boolean; fromMono: number; toMono: number },
): InitFound {
  if (opts.cgroupEvents) {
    const members = new Set<number>();
    for (const e of events) {
      if (e.kind === 'cgroup-attach' && isContainerCgroup(e.path, opts.containerId)) members.add(e.pid);
      else if (e.kind === 'fork' && members.has(e.parent)) {
        if (e.parentComm === RUNC_CHILD) return { pid: e.child, how: 'cgroup' };
        members.add(e.child);
      }
    }
    if (members.size > 0) return { error: `the container's processes entered its cgroup but no ${RUNC_CHILD} among them forked an init` };
  }
  // Name only: a ±5 ms margin around the start call, as the events' clock and ours are read at different moments.
  const forks = events.filter((e) => e.kind === 'fork' && e.parentComm === RUNC_CHILD && e.t >= opts.fromMono - 5 && e.t <= opts.toMono + 5);
  if (forks.length === 1 && forks[0].kind === 'fork') return { pid: forks[0].child, how: 'name' };
  if (forks.length === 0) return { error: `no ${RUNC_CHILD} forked an init while the container started` };
  return { error: `${forks.length} processes named ${RUNC_CHILD} forked while the container started (another container's may imitate runc), and no cgroup record tells which is this container's` };
}
