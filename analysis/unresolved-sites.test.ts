import { formatUnresolvedSite, UnresolvedSites } from './unresolved-sites';

test('a site reached from several programs is listed once, with every reason and program', () => {
  const u = new UnresolvedSites();
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  u.add('/bin/b', [
    { object: libc, site: 0x86768, function: 'sighandler_setxid', reason: 'rax written by mov from memory' },
    { object: '/bin/b', site: 0x10, function: 'main', reason: 'return value of call to 0x20' },
  ]);
  u.add('/bin/a', [
    { object: libc, site: 0x86768, function: 'sighandler_setxid', reason: 'rax written by mov from memory' },
    { object: libc, site: 0x86768, function: 'sighandler_setxid', reason: 'search limit reached' },
  ]);
  u.add('/bin/c', []);
  expect(u.size).toBe(2);
  expect(u.list()).toEqual([
    { object: '/bin/b', site: 0x10, function: 'main', reasons: ['return value of call to 0x20'], binaries: ['/bin/b'] },
    { object: libc, site: 0x86768, function: 'sighandler_setxid', reasons: ['rax written by mov from memory', 'search limit reached'], binaries: ['/bin/a', '/bin/b'] },
  ]);
  expect(formatUnresolvedSite(u.list()[1])).toBe(`${libc}@0x86768 in sighandler_setxid: rax written by mov from memory; search limit reached`);
});
