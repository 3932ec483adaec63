import { absolutePathsIn } from './exec-paths';

test('absolute paths are the NUL-terminated strings that start with a slash right after a NUL', () => {
  const bytes = Buffer.from('\0/bin/sh\0-c\0/usr/sbin/sendmail\0/etc/\0/\0x/not/at/start\0/has space\0/ok-1.2+x\0', 'latin1');
  // With every '/' suffix: the linker may merge "/sbin/sendmail" into "/usr/sbin/sendmail".
  expect(absolutePathsIn(bytes)).toEqual(['/bin/sh', '/ok-1.2+x', '/sbin/sendmail', '/sendmail', '/sh', '/usr/sbin/sendmail']);
  // Unterminated at the end of the file: not a string.
  expect(absolutePathsIn(Buffer.from('\0/bin/sh', 'latin1'))).toEqual([]);
});

test("glibc's system() and popen() shell is among libc's strings", () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'].find((p) => fs.existsSync(p))!;
  expect(absolutePathsIn(fs.readFileSync(libc))).toContain('/bin/sh');
});

test('a file made of paths keeps a bounded number of them', () => {
  const { MAX_PATHS } = require('./exec-paths') as typeof import('./exec-paths');
  const many = Buffer.from(Array.from({ length: MAX_PATHS + 5000 }, (_, i) => `\0/p${i}`).join('') + '\0', 'latin1');
  const got = absolutePathsIn(many);
  expect(got.length).toBeGreaterThanOrEqual(MAX_PATHS);
  expect(got.length).toBeLessThan(MAX_PATHS + 200);
});
