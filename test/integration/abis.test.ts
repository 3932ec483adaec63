/**
 * The compat ABIs against the real pipeline and the real kernel: `confine profiles`
 * refuses i386 and x32 for an image whose reached code makes neither kind of call, and
 * keeps each for an image that does, saying why; then the written profiles run.
 *
 * A kernel may have no usable i386 ABI at all (ia32_emulation off, or a hypervisor where
 * `int $0x80` faults: a 64-bit program dies with SIGSEGV, exit 139, with no filter), and
 * one built without x32 answers its calls with ENOSYS after the filter let them through.
 * Each claim is therefore measured against the same call with no filter first, and the
 * test says what this kernel showed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { admitsAbi, withoutAbis } from '../../formats/profile/abis';
import type { DockerProfile } from '../../formats/profile/seccomp-types';
import { importFiles } from '../../system/verify/container';
import { confine, containersOfDeadOwners, readSummary, tempWorkdir } from './cli-harness';
import { exitStatusUnder } from './run-under';

jest.setTimeout(600_000);

const docker = new Docker();
const images: string[] = [];

/**
 * Sleeps when run bare (the trace sees a server that stays up); with an argument makes
 * getpid one way and exits 0 (a pid), 38 (ENOSYS: the filter let it through, the kernel
 * lacks the ABI), 1 (EPERM from the filter) or 6 (another error). `int $0x80` is in the
 * i386 build only, the bit-30 number in the x32 build only.
 */
const PROG = (abi: 'plain' | 'i386' | 'x32') => String.raw`
#include <unistd.h>
int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    long r;
    ${abi === 'i386' ? '__asm__ volatile("int $0x80" : "=a"(r) : "0"(20L) : "memory");' : ''}
    ${abi === 'x32' ? '__asm__ volatile("syscall" : "=a"(r) : "0"(0x40000027L) : "rcx", "r11", "memory");' : ''}
    ${abi === 'plain' ? 'r = getpid();' : ''}
    return r > 0 ? 0 : r == -38 ? 38 : r == -1 ? 1 : 6;
  }
  sleep(60);
  return 0;
}
`;

async function buildImage(dir: string, abi: 'plain' | 'i386' | 'x32'): Promise<string> {
  writeFileSync(path.join(dir, `${abi}.c`), PROG(abi));
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(dir, abi), path.join(dir, `${abi}.c`)]);
  const ref = `confine-test/abi-${abi}:${process.pid}`;
  await importFiles(docker, ref, [{ path: '/prog', content: readFileSync(path.join(dir, abi)), mode: 0o755 }]);
  images.push(ref);
  return ref;
}

/** Exit status of `/prog call` (or `cmd`) in the image under the profile, or with no filter at all. */
function run(ref: string, profile: DockerProfile | 'unconfined', cmd = ['/prog', 'call']): Promise<number> {
  return exitStatusUnder(docker, ref, profile, cmd);
}

afterAll(async () => {
  for (const ref of images) await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
  expect(containersOfDeadOwners()).toEqual([]);
});

const SIGSYS = 128 + 31;
const SIGSEGV = 128 + 11;

describe('compat ABIs: kept only for the image whose reached code uses them', () => {
  let dir: string;
  let out: string;
  const refs: Record<string, string> = {};
  const profile = (name: string): DockerProfile => JSON.parse(readFileSync(path.join(dir, 'results', `${name}.seccomp.json`), 'utf8'));

  beforeAll(async () => {
    dir = tempWorkdir([]);
    for (const abi of ['plain', 'i386', 'x32'] as const) refs[abi] = await buildImage(dir, abi);
    writeFileSync(path.join(dir, 'images.list'), (['plain', 'i386', 'x32'] as const).map((a, i) => `${i + 1};${a};${refs[a]};['Other'];0;Unofficial;--entrypoint /prog`).join('\n') + '\n');
    // The i386 program's int $0x80 site has an i386 number confine does not map, an unknown
    // site that keeps the base profile by default: narrowing past it is what exercises the
    // ABI decision (the default's fallback is covered by test/integration/not-hardened.test.ts).
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '2', '--no-pull', '-d', '--narrow-past-unknown-sites'], dir);
    out = r.stdout + r.stderr;
    expect([r.code, r.stderr.slice(-2000)]).toEqual([0, r.stderr.slice(-2000)]);
  });

  test('the profiles, the log and the run summary say which ABIs each image keeps, and why', () => {
    const abis = (name: string) => readSummary(dir).find((x) => x.image === name)!.abis!;
    expect(abis('plain').map((a) => [a.abi, a.kept])).toEqual([['i386', false], ['x32', false]]);
    expect(abis('i386').map((a) => [a.abi, a.kept])).toEqual([['i386', true], ['x32', false]]);
    expect(abis('i386')[0].reason).toMatch(/^reached code uses it: \/prog@0x[0-9a-f]+ in main: int \$0x80: i386 syscall ABI/);
    expect(abis('x32').map((a) => [a.abi, a.kept])).toEqual([['i386', false], ['x32', true]]);
    expect(abis('x32')[1].reason).toMatch(/syscall number 0x40000027 \(x32 getpid\) at \/prog@0x[0-9a-f]+/);
    for (const [name, i386, x32] of [['plain', false, false], ['i386', true, false], ['x32', false, true]] as const) {
      expect([name, admitsAbi(profile(name), 'i386'), admitsAbi(profile(name), 'x32')]).toEqual([name, i386, x32]);
    }
    // The x32 call is allowed by its name.
    expect(profile('x32').syscalls!.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes('getpid'))).toBe(true);
    expect(out).toMatch(/i386 ABI \(SCMP_ARCH_X86\): refused: no reached syscall site uses it/);
    expect(out).toMatch(/compat ABIs/);
  });

  test('int $0x80: refused under a profile without the i386 ABI; runs as with no filter under the one that keeps it', async () => {
    const bare = await run(refs.i386, 'unconfined');
    const kept = await run(refs.i386, profile('i386'));
    const refused = await run(refs.i386, withoutAbis(profile('i386'), ['i386']));
    if (bare === SIGSEGV) {
      // No i386 ABI on this kernel: no int $0x80 call can be made at all, with or without a filter.
      console.log(`this kernel has no usable i386 ABI: int $0x80 faults with no filter (exit ${bare}); the profile's refusal holds trivially (exit ${refused}), and keeping the ABI changes nothing (exit ${kept})`);
      expect(kept).toBe(SIGSEGV);
      expect([SIGSYS, SIGSEGV]).toContain(refused);
    } else {
      expect(bare).toBe(0);
      expect(kept).toBe(0);
      // The thread meets the bad-arch action: SIGSYS.
      expect(refused).toBe(SIGSYS);
    }
  });

  test('an x32 call: refused under a profile without x32; passes the filter under the one that keeps it', async () => {
    const bare = await run(refs.x32, 'unconfined');
    const kept = await run(refs.x32, profile('x32'));
    const refused = await run(refs.x32, withoutAbis(profile('x32'), ['x32']));
    console.log(`x32 getpid: exit ${bare} with no filter, ${kept} under the profile keeping x32, ${refused} under it without x32`);
    // 0: the kernel runs x32 calls; 38: it is built without x32 (ENOSYS), but only after the filter.
    expect([0, 38]).toContain(bare);
    if (bare === 38) console.log('this kernel is built without the x32 ABI: its calls get ENOSYS once past the filter (exit 38), so "kept" shows as 38 and "refused" as the filter\'s answer');
    expect(kept).toBe(bare);
    expect([SIGSYS, 1]).toContain(refused);
  });

  test('the plain image gets neither ABI and still runs', async () => {
    expect(await run(refs.plain, profile('plain'))).toBe(0);
  });
});

/** An i386 program with no libc: getpid, then exit(7), both through int $0x80. */
const I386_PROGRAM = `
.globl _start
_start:
  movl $20, %eax
  int $0x80
  movl $1, %eax
  movl $7, %ebx
  int $0x80
`;

test('an image with an i386 program (--allbinaries) keeps the base profile, its i386 ABI and the reason, instead of failing', async () => {
  const dir = tempWorkdir([]);
  writeFileSync(path.join(dir, 'plain.c'), PROG('plain'));
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(dir, 'plain'), path.join(dir, 'plain.c')]);
  writeFileSync(path.join(dir, 'tool.s'), I386_PROGRAM);
  execFileSync('as', ['--32', '-o', path.join(dir, 'tool.o'), path.join(dir, 'tool.s')]);
  execFileSync('ld', ['-m', 'elf_i386', '-o', path.join(dir, 'tool'), path.join(dir, 'tool.o')]);
  const ref = `confine-test/abi-prog32:${process.pid}`;
  await importFiles(docker, ref, [
    { path: '/prog', content: readFileSync(path.join(dir, 'plain')), mode: 0o755 },
    { path: '/opt/i386-tool', content: readFileSync(path.join(dir, 'tool')), mode: 0o755 },
  ]);
  images.push(ref);
  writeFileSync(path.join(dir, 'images.list'), `1;prog32;${ref};['Other'];0;Unofficial;--entrypoint /prog\n`);
  const r = await confine(['profiles', '-i', 'images.list', '--duration', '2', '--no-pull', '--allbinaries'], dir);
  expect([r.code, r.stderr.slice(-2000)]).toEqual([0, r.stderr.slice(-2000)]);
  const row = readSummary(dir).find((x) => x.image === 'prog32')!;
  expect(row.profileFallback).toMatch(/32-bit program\(s\) whose code is not analysed \(\/opt\/i386-tool: i386\)/);
  expect(row.abis![0]).toEqual({ abi: 'i386', kept: true, reason: 'the image runs i386 program(s): /opt/i386-tool (not analysed; the base profile is kept whole)' });
  const profile: DockerProfile = JSON.parse(readFileSync(path.join(dir, 'results', 'prog32.seccomp.json'), 'utf8'));
  expect(admitsAbi(profile, 'i386')).toBe(true);
  // Does it run? First without a filter: a kernel without the i386 ABI cannot exec it at all.
  const bare = await run(ref, 'unconfined', ['/opt/i386-tool']).catch((e: Error) => e.message);
  if (bare !== 7) {
    console.log(`this kernel cannot run i386 programs (with no filter: ${String(bare).slice(0, 200)}); the profile keeps the ABI for kernels that can`);
    return;
  }
  expect(await run(ref, profile, ['/opt/i386-tool'])).toBe(7);
});
