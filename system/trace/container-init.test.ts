import { findInitPid, isContainerCgroup } from './container-init';
import type { TraceEvent } from './trace-lines';

const ID = 'c0ffee'.repeat(10) + 'abcd';
const OTHER = 'beef'.repeat(16);
let t = 100;
const fork = (parent: number, child: number, parentComm: string): TraceEvent => ({ kind: 'fork', t: ++t, parent, child, parentComm, childComm: parentComm });
const attach = (pid: number, path: string): TraceEvent => ({ kind: 'cgroup-attach', t: ++t, pid, path });
const exec = (pid: number, filename: string): TraceEvent => ({ kind: 'exec', t: ++t, pid, oldPid: pid, filename, comm: '' });
const window = { fromMono: 0, toMono: 10_000 };

/** runc's start of a container as the tracer sees it (system/trace/README.md), its first process moved into `cgroup`. */
const runcStart = (base: number, cgroup: string): TraceEvent[] => [
  exec(base, '/proc/self/exe'),
  attach(base, cgroup),
  attach(base, cgroup.replace('/docker/', '/docker/')), // cgroup v1: one per hierarchy
  fork(base, base + 1, 'runc:[0:PARENT]'),
  fork(base + 1, base + 2, 'runc:[1:CHILD]'),
  exec(base + 2, '/bin/quick'),
];

describe('findInitPid', () => {
  it('finds the init by the container cgroup, not by the name of its parent', () => {
    // Another container's process names itself runc:[1:CHILD] and forks, before and during the start.
    const imitation = [fork(900, 901, 'runc:[1:CHILD]'), exec(901, '/bin/quick'), fork(900, 902, 'runc:[1:CHILD]')];
    const events = [imitation[0], imitation[1], ...runcStart(500, `/docker/${ID}`), imitation[2]];
    expect(findInitPid(events, { containerId: ID, cgroupEvents: true, ...window })).toEqual({ pid: 502, how: 'cgroup' });
  });

  it("a concurrent container's own start (its cgroup another ID) is not this container's", () => {
    const events = [...runcStart(700, `/docker/${OTHER}`), ...runcStart(500, `/system.slice/docker-${ID}.scope`)];
    expect(findInitPid(events, { containerId: ID, cgroupEvents: true, ...window })).toEqual({ pid: 502, how: 'cgroup' });
  });

  it('a process of the container that later names itself runc:[1:CHILD] does not replace the init', () => {
    const events = [...runcStart(500, `/docker/${ID}`), fork(502, 503, 'x'), fork(503, 504, 'runc:[1:CHILD]')];
    expect(findInitPid(events, { containerId: ID, cgroupEvents: true, ...window })).toEqual({ pid: 502, how: 'cgroup' });
  });

  it('without cgroup records, only a single runc:[1:CHILD] fork in the start window is trusted; two fail', () => {
    const own = runcStart(500, '/ignored').filter((e) => e.kind !== 'cgroup-attach');
    expect(findInitPid(own, { containerId: ID, cgroupEvents: false, ...window })).toEqual({ pid: 502, how: 'name' });
    const withImitation = [fork(900, 901, 'runc:[1:CHILD]'), ...own];
    expect(findInitPid(withImitation, { containerId: ID, cgroupEvents: false, ...window })).toEqual({ error: expect.stringMatching(/2 processes named runc:\[1:CHILD\]/) });
    expect(findInitPid([], { containerId: ID, cgroupEvents: false, ...window })).toEqual({ error: expect.stringMatching(/no runc:\[1:CHILD\]/) });
  });

  it('a cgroup path is the container\'s only when its last component is the ID (cgroupfs) or docker-ID.scope (systemd)', () => {
    expect(isContainerCgroup(`/docker/${ID}`, ID)).toBe(true);
    expect(isContainerCgroup(`/system.slice/docker-${ID}.scope`, ID)).toBe(true);
    expect(isContainerCgroup(`/docker/${ID}/sub`, ID)).toBe(false);
    expect(isContainerCgroup(`/docker/${ID}x`, ID)).toBe(false);
    expect(isContainerCgroup('/docker/', '')).toBe(false);
  });
});
