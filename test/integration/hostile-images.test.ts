import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { confine, readSummary, tempWorkdir } from './cli-harness';
import { compile, containersOfImage, dirEntry, file, importImage, tempDir, type Built } from './hostile-images';

/**
 * Images built to break the security model (docs/security.md) (issue 17), each through
 * `confine profiles` on the real engine: the batch never hangs, image text never
 * reaches the terminal raw, only containers confine created are removed, exec
 * events cannot be hidden or forged by file names, the file analysed is the file
 * that ran, and no executed program is silently left out.
 */
const built: Built[] = [];
afterAll(() => {
  for (const b of built) b.cleanup();
});

const tagOf = (name: string) => `confine-hostile/${name}:${process.pid}`;
const line = (rank: number, name: string, tag: string, flags = '') => `${rank};${name};${tag};['Test'];0;Unofficial;${flags}`;
const ESC = '\x1b';

/** Whatever a confine run left anywhere a user would read it: the terminal and the results. */
function allOutput(dir: string, r: { stdout: string; stderr: string }): string {
  const results = path.join(dir, 'results');
  const texts = readdirSync(results).filter((f) => /\.(json|txt|csv|html)$/.test(f)).map((f) => readFileSync(path.join(results, f), 'utf8'));
  return [r.stdout, r.stderr, ...texts].join('\n');
}

describe('ld.so.conf built to hang the batch', () => {
  it('a backtracking-bomb include glob and escape codes in patterns and lines: the run completes, nothing raw reaches the terminal', async () => {
    const dir = tempDir();
    const quick = compile(dir, 'quick', 'int main(void) { return 0; }');
    // Prints escape codes and runs a program whose name is one: both reach logs and messages.
    const launch = compile(dir, 'launch', `#include <stdio.h>
#include <unistd.h>
int main(void) { printf("\\033[2J\\033[HALL-IMAGES-OK\\n"); fflush(stdout); char *a[] = {"/bin/\\033[2JALL-IMAGES-OK", 0}; execv(a[0], a); return 1; }`);
    const tag = tagOf('ldconf');
    const bomb = '*a'.repeat(29) + '*b';
    built.push(
      importImage(tag, dir, [
        dirEntry('bin'), dirEntry('etc'), dirEntry('etc/x'),
        file('bin/quick', readFileSync(quick)),
        file('bin/launch', readFileSync(launch)),
        file(`bin/${ESC}[2JALL-IMAGES-OK`, readFileSync(quick)),
        file('etc/ld.so.conf', `include /etc/x/${bomb}\ninclude /etc/x/[${ESC}[2J${ESC}[HALL-IMAGES-OK\n${ESC}[2J${ESC}[HALL-IMAGES-OK\n/usr/local/lib\n`, 0o644),
        file(`etc/x/${'a'.repeat(80)}`, '/opt/a\n', 0o644),
        file(`etc/x/${'a'.repeat(79)}b`, '/opt/b\n', 0o644),
      ], { cmd: ['/bin/launch'] }),
    );
    const work = tempWorkdir([line(1, 'ldconf', tag)]);
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '2', '-d'], work);
    expect(readSummary(work).find((x) => x.image === 'ldconf')).toMatchObject({ failed: 0, skipped: 0 });
    expect(r.code).toBe(0);
    const out = allOutput(work, r);
    expect(out).not.toContain(ESC);
    // The ignored line is named (escaped) in the stage's log, not hidden.
    expect(r.stderr).toMatch(/ld\.so\.conf:3: ignored a line/);
    // The program with an escape code for a name ran, was analysed, and is named escaped.
    expect(r.stderr).toContain('/bin/\\u001b[2JALL-IMAGES-OK');
  }, 240000);
});

describe('containers that only look like confine\'s', () => {
  it('a container of an image labelled confine=1, started with plain docker run, survives a confine run', async () => {
    const dir = tempDir();
    const quick = compile(dir, 'quick', 'int main(void) { return 0; }');
    const forever = compile(dir, 'forever', '#include <unistd.h>\nint main(void) { for (;;) pause(); }');
    const tag = tagOf('labelled');
    // The owner pid is one that has exited: every label an old confine checked says "leftover".
    const deadPid = spawnSync('true').pid!;
    built.push(
      importImage(tag, dir, [dirEntry('bin'), file('bin/quick', readFileSync(quick)), file('bin/forever', readFileSync(forever))], {
        cmd: ['/bin/forever'],
        labels: { confine: '1', 'confine.owner-pid': String(deadPid), 'confine.run': 'someone-elses' },
      }),
    );
    const name = `not-confines-${process.pid}`;
    execFileSync('docker', ['run', '-d', '--name', name, '--network', 'none', tag], { stdio: 'ignore' });
    try {
      const work = tempWorkdir([line(1, 'labelled', tag, '--entrypoint /bin/quick')]);
      const r = await confine(['profiles', '-i', 'images.list', '--duration', '1', '--until', 'extract-binaries'], work);
      expect(r.code).toBe(0);
      const state = execFileSync('docker', ['inspect', '-f', '{{.State.Running}}', name], { encoding: 'utf8' }).trim();
      expect(state).toBe('true');
    } finally {
      execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    }
  }, 240000);
});

/** The syscalls an image's profile allows. */
function allowed(work: string, name: string): Set<string> {
  const p = JSON.parse(readFileSync(path.join(work, 'results', `${name}.seccomp.json`), 'utf8')) as { syscalls: { names: string[]; action: string }[] };
  return new Set(p.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names));
}

describe('names built to hide what ran', () => {
  it('a program stored as /bin/hid\\nden and one named with a byte that is not UTF-8 (next to a decoy): the programs that ran are the ones analysed', async () => {
    const dir = tempDir();
    const spawnAll = `#include <unistd.h>
#include <sys/wait.h>
static void run(const char *p) { pid_t c = fork(); if (c == 0) { char *a[] = {(char *)p, 0}; execv(p, a); _exit(127); } waitpid(c, 0, 0); }
int main(void) { run("/bin/hid\\nden"); run("/bin/prog\\xff"); return 0; }`;
    const launch = compile(dir, 'launch', spawnAll);
    // Each makes syscalls nothing else in the image makes.
    const hidden = compile(dir, 'hidden', `#include <sys/file.h>
#include <sys/resource.h>
#include <sys/mman.h>
int main(void) { unsigned char v; flock(0, LOCK_SH); getpriority(PRIO_PROCESS, 0); mincore((void *)0x10000, 4096, &v); return 0; }`);
    const prog = compile(dir, 'prog', `#include <sys/personality.h>
#include <sys/sysinfo.h>
int main(void) { struct sysinfo s; personality(0xffffffff); sysinfo(&s); return 0; }`);
    const decoy = compile(dir, 'decoy', `#include <sys/utsname.h>
int main(void) { struct utsname u; return uname(&u); }`);
    const tag = tagOf('names');
    built.push(
      importImage(tag, dir, [
        dirEntry('bin'),
        file('bin/launch', readFileSync(launch)),
        file(Buffer.from('bin/hid\nden'), readFileSync(hidden)),
        file(Buffer.from('bin/prog\xff', 'latin1'), readFileSync(prog)),
        file(Buffer.from('bin/prog\xef\xbf\xbd', 'latin1'), readFileSync(decoy)),
      ], { cmd: ['/bin/launch'] }),
    );
    const work = tempWorkdir([line(1, 'names', tag)]);
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '3'], work);
    expect(readSummary(work).find((x) => x.image === 'names')).toMatchObject({ failed: 0, skipped: 0 });
    expect(r.code).toBe(0);
    const syscalls = allowed(work, 'names');
    for (const s of ['flock', 'getpriority', 'mincore']) expect({ s, allowed: syscalls.has(s) }).toEqual({ s, allowed: true });
    for (const s of ['personality', 'sysinfo']) expect({ s, allowed: syscalls.has(s) }).toEqual({ s, allowed: true });
  }, 240000);
});

describe('programs built to be left out', () => {
  it('sstrip\'d and bad-e_shoff programs are analysed from their segments; one that cannot be analysed fails the image by name', async () => {
    const dir = tempDir();
    const { sstrip, badShoff } = await import('../../tools/fuzz/corpus');
    const launch = compile(dir, 'launch', `#include <unistd.h>
#include <sys/wait.h>
static void run(const char *p) { pid_t c = fork(); if (c == 0) { char *a[] = {(char *)p, 0}; execv(p, a); _exit(127); } waitpid(c, 0, 0); }
// Alive a moment first: two containers of one image that both exit before inspect sees their
// pids cannot be told apart (execs of both are kept), and these two must stay apart.
int main(int argc, char **argv) { sleep(1); run("/bin/stripped"); run("/bin/badshoff"); if (argc > 1) run("/bin/\\033[2Jbroken"); return 0; }`);
    const a = compile(dir, 'a', `#include <sys/file.h>
int main(void) { return flock(0, LOCK_SH); }`);
    const b = compile(dir, 'b', `#include <sys/resource.h>
int main(void) { return getpriority(PRIO_PROCESS, 0); }`);
    const c = readFileSync(compile(dir, 'c', 'int main(void) { return 0; }'));
    // A static program runs whatever its PT_DYNAMIC says (the kernel never reads it), but
    // with one that points outside the file nobody can tell what it loads.
    const { parseElf, PT } = await import('../../analysis/elf');
    const broken = Buffer.from(c);
    const h = parseElf(c).header;
    const stack = parseElf(c).programHeaders.findIndex((p) => p.type === PT.GNU_STACK);
    expect(stack).toBeGreaterThanOrEqual(0);
    const ph = h.phoff + stack * h.phentsize;
    broken.writeUInt32LE(PT.DYNAMIC, ph);
    broken.writeBigUInt64LE(0x7fff0000n, ph + 8); // p_offset
    broken.writeBigUInt64LE(0x100n, ph + 32); // p_filesz
    const tag = tagOf('leftout');
    built.push(
      importImage(tag, dir, [
        dirEntry('bin'),
        file('bin/launch', readFileSync(launch)),
        file('bin/stripped', sstrip(readFileSync(a))),
        file('bin/badshoff', badShoff(readFileSync(b))),
        file(`bin/${ESC}[2Jbroken`, broken),
      ], { cmd: ['/bin/launch'] }),
    );
    const work = tempWorkdir([line(1, 'leftout', tag), line(2, 'leftout-broken', tag, '/bin/launch broken')]);
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '3'], work);
    const rows = readSummary(work);
    expect(rows.find((x) => x.image === 'leftout')).toMatchObject({ failed: 0, skipped: 0 });
    const syscalls = allowed(work, 'leftout');
    for (const s of ['flock', 'getpriority']) expect({ s, allowed: syscalls.has(s) }).toEqual({ s, allowed: true });
    const bad = rows.find((x) => x.image === 'leftout-broken');
    expect(bad?.failed).toBe(1);
    expect(bad?.error).toMatch(/analysis-failed: .*\/bin\/\x1b\[2Jbroken/);
    expect(r.code).toBe(1);
    // Named in the summary table and the reports, escaped.
    expect(r.stdout).toMatch(/leftout-broken .*\/bin\/\\u001b\[2Jbroken/);
    expect(allOutput(work, r)).not.toContain(ESC);
  }, 240000);
});

describe('a signal while CPU-bound work runs', () => {
  it.each([
    ['once', 1],
    // The same interrupt delivered twice (tsx's relay, a signal to the process group) is not a second Ctrl-C.
    ['twice within 50 ms', 2],
  ])('SIGTERM (%s) during a long scan: the scan is stopped (not finished first), exit 130, every container removed', async (_how, times) => {
    const dir = tempDir();
    // 40 MB of code in one function: seconds of decoding, the kind of object built to make the analysis crawl.
    const big = Buffer.concat([Buffer.alloc(40_000_000, 0x90), Buffer.from([0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05])]);
    const base = 0x400000;
    const hdr = Buffer.alloc(64 + 56);
    hdr.write('\x7fELF', 0, 'latin1');
    hdr[4] = 2; hdr[5] = 1; hdr[6] = 1;
    hdr.writeUInt16LE(2, 16); hdr.writeUInt16LE(62, 18); hdr.writeUInt32LE(1, 20);
    hdr.writeBigUInt64LE(BigInt(base + 120), 24); hdr.writeBigUInt64LE(64n, 32);
    hdr.writeUInt16LE(64, 52); hdr.writeUInt16LE(56, 54); hdr.writeUInt16LE(1, 56);
    hdr.writeUInt32LE(1, 64); hdr.writeUInt32LE(5, 68);
    hdr.writeBigUInt64LE(BigInt(base), 80); hdr.writeBigUInt64LE(BigInt(base), 88);
    hdr.writeBigUInt64LE(BigInt(120 + big.length), 96); hdr.writeBigUInt64LE(BigInt(120 + big.length), 104); hdr.writeBigUInt64LE(0x1000n, 112);
    const crawl = Buffer.concat([hdr, big]);
    const forever = compile(dir, 'forever', '#include <unistd.h>\nint main(void) { for (;;) pause(); }');
    const tag = tagOf('crawl');
    const image = importImage(tag, dir, [dirEntry('bin'), file('bin/crawl', crawl), file('bin/forever', readFileSync(forever))], { cmd: ['/bin/crawl'] });
    built.push(image);
    const work = tempWorkdir([line(1, 'crawl', tag), line(2, 'sleeper', tag, '--entrypoint /bin/forever')]);
    // The sleeper's container is traced for a minute: it is running when the signal comes.
    let sent = false;
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '60', '--jobs', '2', '-d'], work, (p) => {
      let err = '';
      p.stderr!.on('data', (d) => {
        err += d;
        if (!sent && /\[crawl\] symbol-scan: 1\/1 \/bin\/crawl/.test(err)) {
          sent = true;
          // One SIGTERM to the process doing the work, as `kill PID` would send it. (Under
          // tsx that is its child: a signal to the whole group reaches it twice, through
          // tsx's relay too, and a second signal means "quit now, skip the clean-up".)
          const child = spawnSync('pgrep', ['-P', String(p.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
          const target = child.length ? Number(child[0]) : p.pid!;
          process.kill(target, 'SIGTERM');
          if (times > 1) setTimeout(() => process.kill(target, 'SIGTERM'), 50);
        }
      });
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    // This image's containers only: other sessions on this engine leave theirs for their next run.
    expect(containersOfImage(image.id)).toEqual([]);
    // No scan of /bin/crawl was stored: it was ended, not run to completion before the signal was heard.
    const digest = 'sha256:' + createHash('sha256').update(crawl).digest('hex');
    const cache = path.join(work, '.confine-cache', 'objects');
    const scans = readdirSync(cache, { recursive: true })
      .filter((f) => String(f).endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(path.join(cache, String(f)), 'utf8')).fingerprint)
      .filter((fp) => fp.stage === 'elf-scan' && fp.inputs.file === digest);
    expect(scans).toEqual([]);
    const latest = new Map<string, { status: string; error?: { kind: string } }>();
    for (const l of readFileSync(path.join(work, '.confine-cache', 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const rec = JSON.parse(l);
      latest.set(`${rec.image}/${rec.stage}`, rec);
    }
    expect([...latest].filter(([, r]) => r.status === 'running')).toEqual([]);
    expect(latest.get('crawl/symbol-scan')).toMatchObject({ status: 'interrupted', error: { kind: 'interrupted' } });
  }, 240000);
});

describe('an exec the kernel cannot record by name', () => {
  // A 4090-byte name (here /bin/./././…/hidden: execve takes the string as given):
  // sched_process_exec's record would exceed a ring-buffer page and is dropped without
  // a count; the exec's syscall return is still traced.
  const longPath = '/bin/' + './'.repeat(2040) + 'hidden';

  it('a long-lived program run by a ~4 KB name is found through /proc and analysed; one gone at once fails the image', async () => {
    expect(longPath.length).toBe(4091);
    const dir = tempDir();
    const launch = compile(dir, 'launch', `#include <unistd.h>
#include <sys/wait.h>
int main(int argc, char **argv) { sleep(1); pid_t c = fork(); if (c == 0) { char *a[] = {"${longPath}", argc > 1 ? argv[1] : 0, 0}; execv(a[0], a); _exit(127); } waitpid(c, 0, 0); return 0; }`);
    const hidden = compile(dir, 'hidden', `#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>
int main(int argc, char **argv) { flock(0, LOCK_SH); getpriority(PRIO_PROCESS, 0); if (argc < 2) sleep(3); return 0; }`);
    const tag = tagOf('longpath');
    built.push(importImage(tag, dir, [dirEntry('bin'), file('bin/launch', readFileSync(launch)), file('bin/hidden', readFileSync(hidden))], { cmd: ['/bin/launch'] }));
    const work = tempWorkdir([line(1, 'longpath', tag), line(2, 'longpath-quick', tag, '/bin/launch quick')]);
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '6', '--jobs', '1'], work);
    const rows = readSummary(work);
    expect(rows.find((x) => x.image === 'longpath')).toMatchObject({ failed: 0, skipped: 0 });
    const syscalls = allowed(work, 'longpath');
    for (const s of ['flock', 'getpriority']) expect({ s, allowed: syscalls.has(s) }).toEqual({ s, allowed: true });
    expect(rows.find((x) => x.image === 'longpath-quick')?.error).toMatch(/trace-failed: 1 exec\(s\) .* returned without the kernel recording which file ran/);
    expect(r.code).toBe(1);
  }, 240000);
});
