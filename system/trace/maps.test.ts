import { mappedPaths, resolveExecPath, toContainerPath } from './maps';

// /proc/PID/maps of nginx in confine-sample/nginx, read from the host (trimmed), plus odd entries.
const MAPS = `55d0c8a00000-55d0c8a2f000 r--p 00000000 00:3e 1049613                    /usr/sbin/nginx
55d0c8a2f000-55d0c8b30000 r-xp 0002f000 00:3e 1049613                    /usr/sbin/nginx
55d0ca1e9000-55d0ca2a0000 rw-p 00000000 00:00 0                          [heap]
7f1c2c000000-7f1c2c021000 rw-p 00000000 00:00 0 
7f1c2d5c8000-7f1c2d5ee000 r--p 00000000 00:3e 1050123                    /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2d5c8000-7f1c2d5ee000 r--p 00000000 00:3e 1050124                    /usr/lib/x86_64-linux-gnu/libnss_compat.so.2
7f1c2d600000-7f1c2d601000 rw-s 00000000 00:01 2048                       /dev/zero (deleted)
7f1c2d602000-7f1c2d603000 rw-s 00000000 00:05 77                         /dev/zero
7f1c2d604000-7f1c2d605000 r-xp 00000000 00:01 99                         /memfd:runc_cloned:/proc/self/exe (deleted)
7f1c2d606000-7f1c2d607000 r--p 00000000 00:3e 1050999                    /opt/with space/lib.so
7f1c2d608000-7f1c2d609000 r--p 00000000 00:3e 1051000                    /tmp/gone.so (deleted)
7ffc12345000-7ffc12366000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`;

describe('mappedPaths', () => {
  it('lists each regular mapped file once, without pseudo files, memfds or deleted files', () => {
    expect(mappedPaths(MAPS)).toEqual([
      '/usr/sbin/nginx',
      '/usr/lib/x86_64-linux-gnu/libc.so.6',
      '/usr/lib/x86_64-linux-gnu/libnss_compat.so.2',
      '/opt/with space/lib.so',
    ]);
    expect(mappedPaths('')).toEqual([]);
  });
  it('lists only files mapped executable (code) when asked', () => {
    expect(mappedPaths(MAPS, true)).toEqual(['/usr/sbin/nginx']);
  });
});

describe('toContainerPath', () => {
  const merged = '/var/lib/docker/overlay2/5559/merged';
  it('strips the overlay merged dir when a kernel shows host paths, and leaves container paths alone', () => {
    expect(toContainerPath(`${merged}/usr/lib/libc.so.6`, merged)).toBe('/usr/lib/libc.so.6');
    expect(toContainerPath(merged, merged + '/')).toBe('/');
    expect(toContainerPath('/usr/lib/libc.so.6', merged)).toBe('/usr/lib/libc.so.6');
    expect(toContainerPath(`${merged}x/a`, merged)).toBe(`${merged}x/a`);
    expect(toContainerPath('/a', undefined)).toBe('/a');
  });
});

describe('resolveExecPath', () => {
  it('resolves relative exec names against the cwd, dot segments included', () => {
    expect(resolveExecPath('bin/env', '/usr')).toBe('/usr/bin/env');
    expect(resolveExecPath('./run.sh', '/app/')).toBe('/app/run.sh');
    expect(resolveExecPath('../sbin/x', '/usr/bin')).toBe('/usr/sbin/x');
    expect(resolveExecPath('../../../x', '/a')).toBe('/x');
    expect(resolveExecPath('/abs', '/ignored')).toBe('/abs');
  });
});

test('a newline the kernel wrote as \\012 gives both readings of the name', () => {
  const text = '7f0000000000-7f0000001000 r-xp 00000000 08:01 1234 /usr/lib/lib\\012evil.so\n';
  expect(mappedPaths(text).sort()).toEqual(['/usr/lib/lib\nevil.so', '/usr/lib/lib\\012evil.so'].sort());
});
