import { ProcessTree } from './process-tree';
import type { TraceEvent } from './trace-lines';

let t = 0;
const fork = (parent: number, child: number, parentComm = 'p'): TraceEvent => ({ kind: 'fork', t: ++t, parent, child, parentComm, childComm: parentComm });
const exec = (pid: number, filename: string, oldPid = pid): TraceEvent => ({ kind: 'exec', t: ++t, pid, oldPid, filename, comm: filename.split('/').pop()! });
const exit = (pid: number): TraceEvent => ({ kind: 'exit', t: ++t, pid, comm: 'x' });

function run(root: number, events: TraceEvent[]): ProcessTree {
  const tree = new ProcessTree(root);
  for (const e of events) tree.feed(e);
  return tree;
}

describe('ProcessTree', () => {
  it('follows runc init into the entrypoint and its descendants, and nothing else', () => {
    const tree = run(100, [
      exec(50, '/proc/self/exe'), // runc's own re-exec: not in the tree
      fork(60, 100, 'runc:[1:CHILD]'),
      fork(100, 101, 'runc:[2:INIT]'), // Go runtime thread of runc init
      exit(101),
      exec(100, '/docker-entrypoint.sh'),
      fork(100, 102),
      exec(102, '/usr/sbin/nginx'),
      fork(102, 103),
      fork(103, 104),
      exec(104, '/bin/helper'),
      fork(7, 8),
      exec(8, '/usr/bin/unrelated'),
    ]);
    expect(tree.execs.map((x) => [x.pid, x.ppid, x.filename])).toEqual([
      [100, 60, '/docker-entrypoint.sh'],
      [102, 100, '/usr/sbin/nginx'],
      [104, 103, '/bin/helper'],
    ]);
    expect(tree.pids().sort()).toEqual([100, 102, 103, 104]);
  });

  it('restarts at the fork that creates the root, forgetting an earlier process with the same pid', () => {
    const tree = run(100, [exec(100, '/usr/bin/old'), fork(100, 5), fork(60, 100), exec(100, '/entry')]);
    expect(tree.execs.map((x) => x.filename)).toEqual(['/entry']);
    expect(tree.has(5)).toBe(false);
  });

  it('forgets exited pids, so a reused pid forked outside the tree is not ours', () => {
    const tree = run(100, [fork(100, 200), exit(200), fork(9, 200), exec(200, '/usr/bin/other'), fork(100, 201), exec(201, '/bin/mine')]);
    expect(tree.execs.map((x) => x.filename)).toEqual(['/bin/mine']);
  });

  it('drops a traced pid that an outsider forks anew even without an exit event (lost or unseen)', () => {
    const tree = run(100, [fork(100, 300), fork(9, 300), exec(300, '/x')]);
    expect(tree.execs).toEqual([]);
  });

  it('attributes an exec by a non-leader thread to the leader pid', () => {
    const tree = run(100, [fork(100, 110), fork(110, 111), exec(110, '/bin/after-thread-exec', 111)]);
    expect(tree.execs).toEqual([expect.objectContaining({ pid: 110, filename: '/bin/after-thread-exec' })]);
    expect(tree.has(111)).toBe(false);
    expect(tree.has(110)).toBe(true);
  });

  it('knows the program each exec replaced (what /proc/self/exe names): its own earlier exec, or its parent\'s through fork', () => {
    const tree = run(100, [fork(60, 100), exec(100, '/entry'), fork(100, 101), exec(101, '/proc/self/exe'), exec(101, '/bin/next'), fork(100, 102), fork(102, 103), exec(103, '/proc/self/exe')]);
    const [entry, self1, next, self2] = tree.execs;
    expect(entry.previous).toBeUndefined();
    expect(self1.previous).toBe(entry);
    expect(next.previous).toBe(self1);
    expect(self2.previous).toBe(entry);
  });

  it('keeps the root after its exit so late events still attach', () => {
    const tree = run(100, [exit(100), exec(100, '/late')]);
    expect(tree.execs.map((x) => x.filename)).toEqual(['/late']);
  });
});

describe('ProcessTree: execs the kernel did not record', () => {
  const ret = (pid: number, r = 0): TraceEvent => ({ kind: 'exec-return', t: ++t, pid, ret: r });
  it('a successful exec return with no exec record before it is an unrecorded exec of that pid', () => {
    const tree = run(100, [
      fork(60, 100, 'runc:[1:CHILD]'),
      exec(100, '/entry'),
      ret(100),
      fork(100, 101),
      ret(101, -2), // a failed attempt (PATH search): nothing ran
      ret(101), // the record of this one was dropped (a ~4 KB name)
      fork(7, 8),
      ret(8), // not ours
    ]);
    expect(tree.execs.map((x) => x.filename)).toEqual(['/entry']);
    expect(tree.unrecordedExecs.map((u) => u.pid)).toEqual([101]);
  });
  it("remembers the root's failed exec: why a command never started", () => {
    const tree = run(100, [fork(60, 100, 'runc:[1:CHILD]'), ret(100, -7), fork(7, 8), ret(8, -2)]);
    expect(tree.execs).toEqual([]);
    expect(tree.rootExecError).toBe(-7);
  });
});
