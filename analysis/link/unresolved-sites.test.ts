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

test('the one-line form cuts a long list of reasons and says how many it left out', () => {
  const reasons = [Array.from({ length: 60 }, (_, i) => `rax written by op${i}`).join('; ')];
  const line = formatUnresolvedSite({ object: '/lib/x.so', site: 0x10, function: 'f', reasons });
  expect(line.length).toBeLessThan(320);
  expect(line).toMatch(/^\/lib\/x\.so@0x10 in f: rax written by op0; .*; … \(\d+ more\)$/);
});
