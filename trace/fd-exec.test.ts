import { isSelfExe, namesProgramIndirectly, programOfExeLink } from './fd-exec';

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
