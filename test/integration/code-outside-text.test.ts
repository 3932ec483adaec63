import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { confine, containersOfDeadOwners, readSummary, tempWorkdir } from './cli-harness';
import { compile, dirEntry, file, importImage, tempDir, type Built } from './hostile-images';

/**
 * Issue 23, point 1, on the real engine: a static program whose `.text` objcopy renamed
 * to `.code`, with one function in a section of its own (`.hidcode`, the only code that
 * makes getppid). Before, its code was never decoded: the profile lacked the program's
 * syscalls and the container died under it. Its profile must now let it run with
 * nothing the kernel would have denied.
 */
const built: Built[] = [];
afterAll(() => {
  for (const b of built) b.cleanup();
  expect(containersOfDeadOwners()).toEqual([]);
});

const PROGRAM = String.raw`#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/resource.h>
__attribute__((noinline, section(".hidcode"))) long hidden(void) {
  long r;
  __asm__ volatile ("syscall" : "=a"(r) : "a"(SYS_getppid) : "rcx", "r11", "memory");
  return r;
}
int main(int argc, char **argv) {
  (void)argv;
  sleep(1);
  if (flock(0, LOCK_SH) < 0 && argc > 5) return 3;
  getpriority(PRIO_PROCESS, 0);
  printf("%ld\n", hidden());
  return 0;
}`;

test('a static program with .text renamed and code in its own section runs under its profile: no syscall denied', async () => {
  const dir = tempDir();
  const images: string[] = [];
  for (const [cc, name] of [['gcc', 'glibc'], ['musl-gcc', 'musl']] as const) {
    const prog = compile(dir, name, PROGRAM, cc);
    execFileSync('objcopy', ['--rename-section', '.text=.code', prog, `${prog}.code`]);
    const tag = `confine-hostile/outside-text-${name}:${process.pid}`;
    built.push(importImage(tag, dir, [dirEntry('bin'), file('bin/prog', readFileSync(`${prog}.code`))], { cmd: ['/bin/prog'] }));
    images.push(`${images.length + 1};outside-text-${name};${tag};['Test'];0;Unofficial;`);
  }
  const work = tempWorkdir(images);
  const r = await confine(['verify', '-i', 'images.list', '--duration', '4', '--verify-duration', '4', '--no-pull'], work);
  expect(r.stderr).not.toMatch(/internal error/);
  const rows = readSummary(work);
  const verify = new Map<string, { falseNegatives: unknown[]; lostRecords: number }>();
  for (const l of readFileSync(path.join(work, '.confine-cache', 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const rec = JSON.parse(l);
    if (rec.stage !== 'verify' || !rec.key || (rec.status !== 'done' && rec.status !== 'reused')) continue;
    verify.set(rec.image, JSON.parse(readFileSync(path.join(work, '.confine-cache', 'objects', rec.key.slice(0, 2), `${rec.key}.json`), 'utf8')).artifact);
  }
  for (const name of ['outside-text-glibc', 'outside-text-musl']) {
    expect(rows.find((x) => x.image === name)).toMatchObject({ failed: 0, skipped: 0 });
    const p = JSON.parse(readFileSync(path.join(work, 'results', `${name}.seccomp.json`), 'utf8')) as { syscalls: { names: string[]; action: string }[] };
    const allowed = new Set(p.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names));
    for (const s of ['flock', 'getpriority', 'getppid']) expect({ name, s, allowed: allowed.has(s) }).toEqual({ name, s, allowed: true });
    const v = verify.get(name);
    expect(v).toBeDefined();
    expect(v!.lostRecords).toBe(0);
    expect({ name, falseNegatives: v!.falseNegatives }).toEqual({ name, falseNegatives: [] });
  }
}, 300000);
