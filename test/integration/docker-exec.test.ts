/**
 * `docker exec` into a hardened container runs under its profile. With `--exec-too
 * shell` the operator's first command works, and logs nothing in log mode (0 false
 * negatives, the runtime's exec path included); without it the same exec is denied.
 *
 * The image is small and made here: a static program that only sleeps (the service),
 * and the host's dash as /bin/sh with ls and cat and their libraries (no ps, env, id:
 * the report lists them as not found).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { checkSeccompLogging, followKernelLog, type SeccompEvent } from '../../system/verify/kernel-log';
import { importFiles } from '../../system/verify/container';
import { confine, containersOfDeadOwners, readSummary, tempWorkdir } from './cli-harness';

jest.setTimeout(600_000);

const docker = new Docker();
const LIB = '/lib/x86_64-linux-gnu';
const ref = `confine-test/docker-exec:${process.pid}`;
const containers: string[] = [];
const COMMAND = ['sh', '-c', 'ls /; cat /etc/hostname'];
/** The programs of the image an exec may run: their records in log mode are false negatives. */
const PROGRAMS = new Set(['/bin/sh', '/bin/ls', '/bin/cat']);

const SERVICE = String.raw`
#include <unistd.h>
int main(void) { for (;;) sleep(3600); }
`;

async function buildImage(dir: string): Promise<void> {
  writeFileSync(path.join(dir, 'service.c'), SERVICE);
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(dir, 'service'), path.join(dir, 'service.c')]);
  const host = (p: string) => readFileSync(realpathSync(p));
  await importFiles(docker, ref, [
    { path: '/service', content: readFileSync(path.join(dir, 'service')) },
    { path: '/bin/sh', content: host('/usr/bin/dash') },
    { path: '/bin/ls', content: host('/usr/bin/ls') },
    { path: '/bin/cat', content: host('/usr/bin/cat') },
    { path: '/lib64/ld-linux-x86-64.so.2', content: host('/lib64/ld-linux-x86-64.so.2') },
    ...['libc.so.6', 'libselinux.so.1', 'libpcre2-8.so.0'].map((l) => ({ path: `${LIB}/${l}`, content: host(`${LIB}/${l}`) })),
  ]);
}

function startUnder(profileFile: string): string {
  const id = execFileSync('docker', ['run', '-d', '--label', 'confine=1', '--network', 'none', '--security-opt', `seccomp=${profileFile}`, '--entrypoint', '/service', ref], { encoding: 'utf8' }).trim();
  containers.push(id);
  return id;
}

/** `docker exec` as an operator runs it; as another user too (runc's exec path then fchowns the stdio: its own calls are calibrated). */
function dockerExec(id: string, user?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('docker', ['exec', ...(user ? ['-u', user] : []), id, ...COMMAND], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(async () => {
  for (const id of containers) spawnSync('docker', ['rm', '-f', id]);
  await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
  expect(containersOfDeadOwners()).toEqual([]);
});

test('with --exec-too shell an exec runs under the profile with 0 false negatives; without it the same exec is denied', async () => {
  const logging = checkSeccompLogging();
  expect(logging.reasons).toEqual([]);
  const dir = tempWorkdir([]);
  await buildImage(dir);
  writeFileSync(
    path.join(dir, 'images.list'),
    [`1;with-shell;${ref};['Other'];0;Unofficial;--exec-too shell --entrypoint /service`, `2;no-exec;${ref};['Other'];0;Unofficial;--entrypoint /service`].join('\n') + '\n',
  );
  const run = await confine(['profiles', '-i', 'images.list', '--duration', '2', '--no-pull', '-d'], dir);
  const out = run.stdout + run.stderr;
  if (run.code !== 0) console.error(out);
  expect(run.code).toBe(0);

  const profile = (name: string) => path.join(dir, 'results', `${name}.seccomp.json`);
  // Enforced: the operator's first command works.
  const hardened = startUnder(profile('with-shell'));
  for (const user of [undefined, '65534:65534']) {
    const enforced = dockerExec(hardened, user);
    expect({ user, stderr: enforced.stderr, status: enforced.status }).toEqual({ user, stderr: '', status: 0 });
    expect(enforced.stdout.split('\n')).toEqual(expect.arrayContaining(['bin', 'service', hardened.slice(0, 12)]));
  }

  // Log mode: the same allowlist, logging instead of denying; every record of the exec'd
  // programs or of runc's init (the exec path) while the exec runs is a false negative.
  const logProfile = { ...JSON.parse(readFileSync(profile('with-shell'), 'utf8')), defaultAction: 'SCMP_ACT_LOG' };
  delete logProfile.defaultErrnoRet;
  const logFile = path.join(dir, 'with-shell.log.json');
  writeFileSync(logFile, JSON.stringify(logProfile));
  const id = startUnder(logFile);
  const follower = followKernelLog();
  let events: SeccompEvent[];
  try {
    for (const user of [undefined, '65534:65534']) expect(dockerExec(id, user).status).toBe(0);
    await new Promise((r) => setTimeout(r, 1500)); // kauditd prints asynchronously
    follower.drain();
    events = follower.stop().events;
  } finally {
    follower.stop();
  }
  const falseNegatives = events.filter((e) => PROGRAMS.has(e.exe) || e.comm.startsWith('runc:[2:INIT]') || e.exe === '/service');
  expect(falseNegatives.map((e) => `${e.comm} ${e.exe} ${e.name}`)).toEqual([]);

  // Without --exec-too: the same exec is denied.
  const denied = dockerExec(startUnder(profile('no-exec')));
  expect(denied.status).not.toBe(0);

  // The cost is visible: the table's column, the found programs and the tools not found.
  const rows = readSummary(dir);
  const cost = rows.find((r) => r.image === 'with-shell')!.execToo!;
  expect(cost.asked).toEqual(['shell']);
  expect(cost.programs).toEqual(['/bin/sh', '/bin/ls', '/bin/cat']);
  expect(cost.missingTools).toEqual(['ps', 'env', 'id']);
  expect(cost.allowedWith).toBeGreaterThan(cost.allowedWithout);
  expect(rows.find((r) => r.image === 'no-exec')!.execToo).toBeUndefined();
  expect(run.stdout).toContain(`${cost.allowedWithout} → ${cost.allowedWith} with shell`);
  expect(out).toMatch(/docker exec: with-shell \d+ → \d+ with shell: \/bin\/sh, \/bin\/ls, \/bin\/cat; not in the image: ps, env, id; adds /);

  // explain names the exec program behind an added syscall.
  const byProgram = cost.added.find((a) => a.by.some((b) => PROGRAMS.has(b)))!;
  expect(byProgram).toBeDefined();
  const explained = await confine(['explain', 'with-shell', byProgram.syscall], dir);
  expect(explained.stdout).toMatch(new RegExp(`allowed only for docker exec \\(--exec-too shell\\): needed by .*${byProgram.by[0].replace(/\//g, '\\/')}`));
});
