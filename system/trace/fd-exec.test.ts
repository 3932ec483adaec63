import { contradictsExeRead, isSelfExe, namesProgramIndirectly, programOfExeLink } from './fd-exec';

describe('execs through a descriptor', () => {
  it('recognises what the kernel records for fexecve, execveat and /proc paths', () => {
    for (const f of ['/dev/fd/3', '/dev/fd/4/quick', '/proc/self/fd/3', '/proc/self/exe', '/proc/12/exe', '/dev/stdin']) expect({ f, fd: namesProgramIndirectly(f) }).toEqual({ f, fd: true });
    for (const f of ['/bin/sh', '/devx/fd/3', 'dev/fd/3', '/procfs/x']) expect({ f, fd: namesProgramIndirectly(f) }).toEqual({ f, fd: false });
    expect(isSelfExe('/proc/self/exe')).toBe(true);
    expect(isSelfExe('/proc/thread-self/exe')).toBe(true);
    expect(isSelfExe('/proc/1/exe')).toBe(false);
  });

  it('a file of the image is a path; a memfd, a deleted file or an anonymous object cannot be had', () => {
    expect(programOfExeLink('/bin/quick')).toEqual({ path: '/bin/quick' });
    expect(programOfExeLink('/memfd:hidden (deleted)')).toEqual({ unobtainable: expect.stringMatching(/memfd_create "hidden"/) });
    expect(programOfExeLink('/tmp/x (deleted)')).toEqual({ unobtainable: expect.stringMatching(/^\/tmp\/x, deleted/) });
    expect(programOfExeLink('anon_inode:[x]')).toEqual({ unobtainable: expect.stringMatching(/not a file/) });
  });
});

describe('contradictsExeRead', () => {
  const read = { pid: 50, t: 100, readAt: 200, shown: '/bin/quick' };
  const exec = (t: number, filename: string, pid = 50, oldPid = pid) => ({ kind: 'exec' as const, t, pid, oldPid, filename, comm: '' });
  const exit = (t: number, pid = 50) => ({ kind: 'exit' as const, t, pid, comm: '' });
  it('another exec of the pid before the read finished, or an exit (the pid may be reused), contradicts it', () => {
    expect(contradictsExeRead(exec(150, '/bin/other'), read)).toBe(true);
    expect(contradictsExeRead(exec(150, '/bin/other', 50, 51), read)).toBe(true);
    expect(contradictsExeRead(exit(199), read)).toBe(true);
  });
  it('an exec just after the read contradicts it when it may be the program the read showed', () => {
    expect(contradictsExeRead(exec(210, '/bin/quick'), read)).toBe(true);
    expect(contradictsExeRead(exec(210, '/dev/fd/3'), read)).toBe(true);
    expect(contradictsExeRead(exec(210, 'rel/quick'), read)).toBe(true);
    expect(contradictsExeRead(exec(210, '/bin/other'), read)).toBe(false);
  });
  it('events of other pids, before the exec, after the read (exit) or long after (exec) do not', () => {
    expect(contradictsExeRead(exec(150, '/bin/x', 51), read)).toBe(false);
    expect(contradictsExeRead(exec(90, '/bin/x'), read)).toBe(false);
    expect(contradictsExeRead(exit(201), read)).toBe(false);
    expect(contradictsExeRead(exec(200 + 1001, '/bin/quick'), read)).toBe(false);
  });
});
