/**
 * A program the traced one may run by a constant path, but did not run while traced:
 * glibc's system() runs "/bin/sh". Its syscalls must be in the profile anyway (found on
 * an image outside the corpus: PHP's shell_exec ran dash, whose vfork the profile
 * denied). The image holds a static server-like program that calls system() only when
 * asked to, and a static /bin/sh that makes a syscall nothing else does (sysfs).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { importFiles } from '../../system/verify/container';
import { confine, containersOfDeadOwners, tempWorkdir } from './cli-harness';

jest.setTimeout(300_000);

const docker = new Docker();
const images: string[] = [];

const PROG = (callsSystem: boolean) => String.raw`
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  (void)argv;
  ${callsSystem ? 'if (argc > 1) return system("exit 0");' : 'if (argc > 1) return 3;'}
  sleep(60);
  return 0;
}
`;
const SHELL = String.raw`
#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
int main(void) { return syscall(SYS_sysfs, 3) < 0; }
`;

async function buildImage(dir: string, tag: string, callsSystem: boolean): Promise<string> {
  const cc = (name: string, src: string) => {
    writeFileSync(path.join(dir, `${name}.c`), src);
    execFileSync('gcc', ['-static', '-O2', '-o', path.join(dir, name), path.join(dir, `${name}.c`)]);
    return readFileSync(path.join(dir, name));
  };
  const ref = `confine-test/exec-candidate-${tag}:${process.pid}`;
  await importFiles(docker, ref, [
    { path: '/prog', content: cc(`prog-${tag}`, PROG(callsSystem)) },
    { path: '/bin/sh', content: cc('shell', SHELL) },
  ]);
  images.push(ref);
  return ref;
}

afterAll(async () => {
  for (const ref of images) await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
  expect(containersOfDeadOwners()).toEqual([]);
});

test("the shell system() runs is analysed although it never ran while traced; a program that cannot exec it does not bring it", async () => {
  const dir = tempWorkdir([]);
  const withSystem = await buildImage(dir, 'system', true);
  const without = await buildImage(dir, 'plain', false);
  writeFileSync(
    path.join(dir, 'images.list'),
    [`1;with-system;${withSystem};['Other'];0;Unofficial;--entrypoint /prog`, `2;without;${without};['Other'];0;Unofficial;--entrypoint /prog`].join('\n') + '\n',
  );
  const run = await confine(['profiles', '-i', 'images.list', '--duration', '2', '--no-pull', '-d'], dir);
  expect(run.code).toBe(0);
  const allowed = (name: string) => {
    const p = JSON.parse(readFileSync(path.join(dir, 'results', `${name}.seccomp.json`), 'utf8')) as { syscalls: { names: string[]; action: string }[] };
    return new Set(p.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));
  };
  // Only /prog ran (it slept): /bin/sh is in the profile because system() names it.
  expect(allowed('with-system').has('sysfs')).toBe(true);
  expect(run.stdout + run.stderr).toMatch(/\/bin\/sh: analysed too, a program that reaches execve refers to "\/bin\/sh"/);
  // Same /bin/sh, but nothing reached can run it.
  expect(allowed('without').has('sysfs')).toBe(false);
});
