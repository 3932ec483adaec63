/**
 * An image whose reached code makes a syscall with a number the analysis cannot know
 * (here `syscall(atoi(argv[1]))`) keeps its base profile by default and is reported
 * "not hardened", with the site and why, in the run table, run-summary.json and the
 * stats report. --strict (the old name for that) changes nothing; only
 * --narrow-past-unknown-sites narrows it, and says so.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { importFiles } from '../../system/verify/container';
import { dockerDefaultAllowed } from '../../formats/profile/docker-default-allowed';
import { defaultProfile } from '../../formats/profile/read-profile';
import { confine, containersOfDeadOwners, readSummary, tempWorkdir } from './cli-harness';

jest.setTimeout(300_000);

const docker = new Docker();
const PROG = String.raw`
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 1) return syscall(atoi(argv[1]));
  sleep(60);
  return 0;
}
`;

let dir: string;
let ref: string;

beforeAll(async () => {
  dir = tempWorkdir([]);
  writeFileSync(path.join(dir, 'prog.c'), PROG);
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(dir, 'prog'), path.join(dir, 'prog.c')]);
  ref = `confine-test/not-hardened:${process.pid}`;
  await importFiles(docker, ref, [{ path: '/prog', content: readFileSync(path.join(dir, 'prog')) }]);
  writeFileSync(path.join(dir, 'images.list'), `1;unknown-nr;${ref};['Other'];0;Unofficial;--entrypoint /prog\n`);
});

afterAll(async () => {
  await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
  expect(containersOfDeadOwners()).toEqual([]);
});

const ARGS = ['profiles', '-i', 'images.list', '--duration', '2', '--no-pull'];
const allowed = () => {
  const p = JSON.parse(readFileSync(path.join(dir, 'results', 'unknown-nr.seccomp.json'), 'utf8')) as { syscalls: { names: string[]; action: string }[] };
  return new Set(p.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));
};

test('by default: not hardened, the base profile whole, the site and why in the run table, run-summary.json and stats', async () => {
  const run = await confine(ARGS, dir);
  expect(run.code).toBe(0);
  const row = readSummary(dir).find((r) => r.image === 'unknown-nr')!;
  expect(row.hardened).toBe(false);
  expect(row.profileFallback).toMatch(/reached syscall site.* could not recover .*keeps the base profile: \/prog@0x[0-9a-f]+ in \S+: .*return value of call/);
  expect(row.unresolvedSites?.length).toBeGreaterThan(0);
  // The run table: the profile column, and the site list with the verdict.
  expect(run.stdout).toMatch(/^unknown-nr\s.*\snot hardened\s/m);
  expect(run.stdout).toMatch(/unknown-nr: \d+ sites? — not hardened \(base profile\)/);
  expect(run.stdout).toMatch(/\/prog@0x[0-9a-f]+ in \S+: .*return value of call/);
  // Everything Docker's default allows this container stays allowed.
  const base = dockerDefaultAllowed(defaultProfile().profile);
  const mine = allowed();
  expect([...base].filter((n) => !mine.has(n))).toEqual([]);

  const stats = await confine(['stats', '-r', 'results/profile.report.csv', '-e', 'results/profile.report.details.csv', '-o', 'st'], dir);
  expect(stats.code).toBe(0);
  const html = readFileSync(path.join(dir, 'st', 'report.html'), 'utf8');
  const section = html.slice(html.indexOf('<h2>Images that failed or are not hardened</h2>'));
  expect(section).toMatch(/<td>unknown-nr<\/td><td>not hardened: .*\/prog@0x/);
  expect(html).toContain('<td>not hardened (base profile)</td>');
});

test('--strict is accepted and changes nothing', async () => {
  const run = await confine([...ARGS, '--strict'], dir);
  expect(run.code).toBe(0);
  const row = readSummary(dir).find((r) => r.image === 'unknown-nr')!;
  expect(row.done).toBe(0); // every stage reused: the same configuration
  expect(run.stdout).toMatch(/^unknown-nr\s.*\snot hardened\s/m);
});

test('--narrow-past-unknown-sites narrows anyway, and says what it risks', async () => {
  const before = allowed().size;
  const run = await confine([...ARGS, '--narrow-past-unknown-sites'], dir);
  expect(run.code).toBe(0);
  const row = readSummary(dir).find((r) => r.image === 'unknown-nr')!;
  expect(row.hardened).toBe(true);
  expect(row.profileFallback).toBeUndefined();
  expect(run.stdout).toMatch(/^unknown-nr\s.*\snarrowed anyway\s/m);
  expect(run.stdout).toMatch(/profile narrowed anyway \(--narrow-past-unknown-sites\): a syscall made there may be blocked/);
  expect(allowed().size).toBeLessThan(before);
});
