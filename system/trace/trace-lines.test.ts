import { LineSplitter, parseTraceLine } from './trace-lines';

// Captured from /sys/kernel/tracing/instances/*/trace_pipe on this host (kernel 6.18).
const CAPTURED = `            bash-3651    [000] .....  9193.099078: sched_process_fork: comm=bash pid=3651 child_comm=bash child_pid=3655
         timeout-3656    [001] .....  9193.100278: sched_process_exec: filename=/usr/bin/timeout pid=3656 old_pid=3656
           <...>-3662    [001] .....  9193.406525: sched_process_exec: filename=bin/env pid=3662 old_pid=3662
            true-3660    [001] .....  9193.405997: sched_process_exit: comm=true pid=3660 prio=120 group_dead=true
 memfd:sealed-91-10296   [000] .....  9194.564572: sched_process_fork: comm=memfd:sealed-91 pid=10296 child_comm=memfd:sealed-91 child_pid=3664
  runc:[2:INIT]-19835   [003] .....  9663.881297: sched_process_fork: comm=runc:[2:INIT] pid=19835 child_comm=runc:[2:INIT] child_pid=19836
              sh-19835   [002] .....  9664.049625: sched_process_exec: filename=/usr/bin/sh pid=19835 old_pid=19835
CPU:1 [LOST 42 EVENTS]
            bash-3651    [000] d..2.  9193.1: sched_switch: prev_comm=bash prev_pid=3651
`;

describe('parseTraceLine', () => {
  const events = CAPTURED.split('\n').map(parseTraceLine);

  it('reads fork, exec, exit and lost-events lines as captured', () => {
    expect(events[0]).toEqual({ kind: 'fork', t: 9193099.078, parent: 3651, child: 3655, parentComm: 'bash', childComm: 'bash' });
    expect(events[1]).toEqual({ kind: 'exec', t: 9193100.278, pid: 3656, oldPid: 3656, filename: '/usr/bin/timeout', comm: 'timeout' });
    expect(events[2]).toMatchObject({ kind: 'exec', filename: 'bin/env', comm: '<...>' });
    expect(events[3]).toEqual({ kind: 'exit', t: 9193405.997, pid: 3660, comm: 'true', groupDead: true });
    expect(events[7]).toEqual({ kind: 'lost', cpu: 1, count: 42 });
  });

  it('keeps comms that contain dashes, colons and brackets', () => {
    expect(events[4]).toMatchObject({ kind: 'fork', parent: 10296, child: 3664, parentComm: 'memfd:sealed-91' });
    expect(events[5]).toMatchObject({ kind: 'fork', parent: 19835, child: 19836, parentComm: 'runc:[2:INIT]' });
    expect(events[6]).toMatchObject({ kind: 'exec', pid: 19835, filename: '/usr/bin/sh' });
  });

  it('keeps spaces in file names (the field runs up to " pid=")', () => {
    expect(parseTraceLine('x-1 [000] ..... 1.000001: sched_process_exec: filename=/opt/my app/run pid=7 old_pid=7')).toMatchObject({
      filename: '/opt/my app/run',
      pid: 7,
    });
  });

  it('reads the record-tgid column and a thread exec (old_pid differs)', () => {
    expect(parseTraceLine('  nginx-4250  (   4242) [001] ..... 12.5: sched_process_exec: filename=/usr/sbin/nginx pid=4242 old_pid=4250')).toMatchObject({
      kind: 'exec',
      pid: 4242,
      oldPid: 4250,
    });
  });

  it('ignores other events, blank and garbled lines', () => {
    expect(events[8]).toBeUndefined();
    expect(events[9]).toBeUndefined();
    expect(parseTraceLine('sched_process_exec: filename=/x pid=1 old_pid=1')).toBeUndefined();
    expect(parseTraceLine('a-1 [000] ..... 1.0: sched_process_exec: filename=/x pid=one old_pid=1')).toBeUndefined();
  });
});

describe('LineSplitter', () => {
  it('joins lines split across reads and holds the partial tail', () => {
    const s = new LineSplitter();
    expect(s.push('ab\ncd')).toEqual(['ab']);
    expect(s.push('ef\n\ngh')).toEqual(['cdef', '']);
    expect(s.flush()).toEqual(['gh']);
    expect(s.flush()).toEqual([]);
  });
});
