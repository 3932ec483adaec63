/**
 * Issue 23's attacks on the trace (points 3, 6 and 9), against the real engine and
 * kernel with small images built here: programs run through a descriptor or written
 * at run time, a command that never starts, a trace that lost events, and another
 * container's process that names itself like runc to have its execs attributed to a
 * container that exited before inspect saw its pid.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { connectDocker } from '../../system/docker/client';
import { traceContainer, type TraceResult } from '../../system/docker/container-runner';
import { parseRunOptions } from '../../system/docker/run-options';
import { compile, dirEntry, file, importImage, tempDir, type Built } from './hostile-images';

jest.setTimeout(240_000);

const LABEL = 'confine.trace-attacks';
let docker: Docker;
let image: Built;

const FDEXEC = `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
extern char **environ;
static void copy(int to) { int s = open("/bin/quick", O_RDONLY); char b[65536]; ssize_t n; while ((n = read(s, b, sizeof b)) > 0) write(to, b, n); close(s); }
/* Runs /bin/quick (or itself) the way argv[1] says, in place: no file name of the image in the exec. */
int main(int argc, char **argv) {
  const char *m = argc > 1 ? argv[1] : "";
  char *a[] = {"quick", 0};
  if (!strcmp(m, "fexecve")) fexecve(open("/bin/quick", O_RDONLY), a, environ);
  if (!strcmp(m, "execveat")) syscall(SYS_execveat, open("/bin", O_RDONLY | O_DIRECTORY), "quick", a, environ, 0);
  if (!strcmp(m, "memfd")) { int fd = memfd_create("hidden", 0); copy(fd); fexecve(fd, a, environ); }
  if (!strcmp(m, "tmp")) { int fd = open("/tmp/dropped", O_WRONLY | O_CREAT, 0755); copy(fd); close(fd); execv("/tmp/dropped", a); }
  if (!strcmp(m, "self")) { if (getenv("AGAIN")) return 0; setenv("AGAIN", "1", 1); char *s[] = {"self", "self", 0}; execv("/proc/self/exe", s); }
  return 127;
}`;
/** Lives a moment, so /proc shows what it runs. */
const QUICK = '#include <unistd.h>\nint main(void) { usleep(1500 * 1000); return 0; }';
const INSTANT = 'int main(void) { return 0; }';
/** Threads are created and joined in tens of µs: a fork and an exit event each, far more than a small buffer holds between two reads. */
const FORKS = `#include <pthread.h>
static void *nothing(void *a) { return a; }
int main(void) { for (int i = 0; i < 100000; i++) { pthread_t t; if (pthread_create(&t, 0, nothing, 0) == 0) pthread_join(t, 0); } return 0; }`;
/** Names itself like runc's child and forks processes that exec /x/instant, all the time. */
const IMITATOR = `#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  prctl(PR_SET_NAME, "runc:[1:CHILD]");
  for (;;) { pid_t p = fork(); if (p == 0) { char *a[] = {"/x/instant", 0}; execv(a[0], a); _exit(127); } waitpid(p, 0, 0); usleep(2000); }
}`;

beforeAll(async () => {
  docker = await connectDocker();
  const dir = tempDir();
  image = importImage(`confine-trace-attacks/img:${process.pid}`, dir, [
    dirEntry('bin'), dirEntry('tmp'), dirEntry('x'),
    file('bin/fdexec', readFileSync(compile(dir, 'fdexec', FDEXEC))),
    file('bin/quick', readFileSync(compile(dir, 'quick', QUICK))),
    file('bin/instant', readFileSync(compile(dir, 'instant', INSTANT))),
    file('x/instant', readFileSync(compile(dir, 'instant', INSTANT))),
    file('bin/forks', readFileSync(compile(dir, 'forks', FORKS))),
    file('bin/imitator', readFileSync(compile(dir, 'imitator', IMITATOR))),
  ], { cmd: ['/bin/instant'] });
});

afterAll(() => {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${LABEL}=${process.pid}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
  image?.cleanup();
});

function trace(entrypoint: string[], cmd: string[], durationSec: number, extra: Partial<Parameters<typeof traceContainer>[0]> = {}): Promise<TraceResult> {
  return traceContainer({
    docker,
    image: image.id,
    spec: { ...parseRunOptions('--network none'), entrypoint, cmd },
    durationSec,
    runLabel: 'trace-attacks',
    labels: { [LABEL]: String(process.pid) },
    ...extra,
  });
}

describe('programs run through a descriptor (issue 23.3)', () => {
  it.each([['fexecve'], ['execveat']])('%s of a file of the image is resolved to that file', async (how) => {
    const r = await trace(['/bin/fdexec'], [how], 4);
    expect(r.executedPaths).toEqual(['/bin/fdexec', '/bin/quick']);
  });

  it('/proc/self/exe is the program that ran it, even once the process is gone', async () => {
    const r = await trace(['/bin/fdexec'], ['self'], 3);
    expect(r.executedPaths).toEqual(['/bin/fdexec']);
    expect(r.execs).toHaveLength(2);
  });

  it('a program held in memory (memfd_create + fexecve) fails the trace by name and reason', async () => {
    await expect(trace(['/bin/fdexec'], ['memfd'], 4)).rejects.toMatchObject({
      kind: 'trace-failed',
      message: expect.stringMatching(/not files of the image: pid \d+ exec'd \/dev\/fd\/\d+: a program held in memory \(memfd_create "hidden"\)/),
    });
  });

  it('a program written to /tmp at run time is recorded by its path (extract then fails the image: closure.test.ts)', async () => {
    const r = await trace(['/bin/fdexec'], ['tmp'], 4);
    expect(r.executedPaths).toEqual(['/bin/fdexec', '/tmp/dropped']);
  });
});

describe('a trace that cannot be complete (issue 23.6)', () => {
  it('a command that never starts (E2BIG on a 1 MiB argument) fails, naming the reason', async () => {
    await expect(trace(['/bin/quick'], ['x'.repeat(1 << 20)], 3)).rejects.toMatchObject({
      kind: 'container-start-failed',
      message: expect.stringMatching(/command never started \(its execve failed: E2BIG/),
    });
  });

  it('a trace that lost events is traced again, and fails when the second loses events too', async () => {
    const progress: string[] = [];
    // A page or two per CPU and thousands of thread forks and exits between two reads: the kernel must drop some.
    await expect(trace(['/bin/forks'], [], 10, { traceBufferKb: 4, onProgress: (m) => progress.push(m) })).rejects.toMatchObject({
      kind: 'trace-failed',
      message: expect.stringMatching(/the kernel dropped \d+ trace events/),
    });
    expect(progress.some((m) => /tracing again$/.test(m))).toBe(true);
  });
});

describe("another container's process named like runc (issue 23.9)", () => {
  it('injects nothing into a container that exits before inspect sees its pid', async () => {
    const name = `confine-imitator-${process.pid}`;
    execFileSync('docker', ['run', '-d', '--name', name, '--network', 'none', '--label', `${LABEL}=${process.pid}`, '--entrypoint', '/bin/imitator', image.id], { stdio: 'ignore' });
    try {
      let fromTrace = 0;
      for (let i = 0; i < 6; i++) {
        const r = await trace(['/bin/instant'], [], 2);
        if (r.notes.some((n) => /found from the trace/.test(n))) fromTrace++;
        expect(r.executedPaths).toEqual(['/bin/instant']);
      }
      console.log(`init pid found from the trace (container gone before inspect) in ${fromTrace} of 6 runs`);
    } finally {
      execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    }
  });
});

describe('through confine profiles (issue 23.3, 23.4)', () => {
  const AUDIT = `#include <sys/syscall.h>
/* ld.so calls la_version of every LD_AUDIT object first; this one makes a syscall nothing else here makes. */
unsigned int la_version(unsigned int v) {
  long r; unsigned char vec;
  __asm__ volatile("syscall" : "=a"(r) : "a"((long)SYS_mincore), "D"(0x10000L), "S"(4096L), "d"(&vec) : "rcx", "r11", "memory");
  return v;
}`;
  /** Writes a library to /tmp at run time (a copy of one in the image), dlopens it and stays a moment. */
  const DLWRITE = `#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
  int s = open("/opt/audit.so", O_RDONLY), d = open("/tmp/written.so", O_WRONLY | O_CREAT, 0755); char b[65536]; ssize_t n;
  while ((n = read(s, b, sizeof b)) > 0) write(d, b, n);
  close(d);
  if (!dlopen("/tmp/written.so", RTLD_NOW)) return 1;
  sleep(2);
  return 0;
}`;
  let built: Built | undefined;
  afterAll(() => built?.cleanup());

  it('a program written at run time, or a library written and dlopened, fails its image by name; an LD_AUDIT object given with -e is analysed', async () => {
    const { confine, readSummary, tempWorkdir } = await import('./cli-harness');
    const path = await import('node:path');
    const dir = tempDir();
    const dyn = compile(dir, 'dyn', INSTANT, 'gcc', []);
    const audit = compile(dir, 'audit.so', AUDIT, 'gcc', ['-shared', '-fPIC']);
    const interp = execFileSync('readelf', ['-l', dyn]).toString().match(/interpreter: (\S+?)\]/)![1];
    const libc = execFileSync('ldd', [dyn]).toString().match(/libc\.so\.6 => (\S+)/)![1];
    const parents = (p: string) => p.split('/').slice(1, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));
    const dirs = [...new Set([...parents(interp), ...parents(libc), 'bin', 'tmp', 'opt'])];
    const tag = `confine-trace-attacks/cli:${process.pid}`;
    built = importImage(tag, dir, [
      ...dirs.map(dirEntry),
      file('bin/fdexec', readFileSync(compile(dir, 'fdexec', FDEXEC))),
      file('bin/quick', readFileSync(compile(dir, 'quick', QUICK))),
      file('bin/dyn', readFileSync(dyn)),
      file('bin/dlwrite', readFileSync(compile(dir, 'dlwrite', DLWRITE, 'gcc', []))),
      file('opt/audit.so', readFileSync(audit)),
      file(interp.slice(1), readFileSync(interp)),
      file(libc.slice(1), readFileSync(libc)),
    ], { cmd: ['/bin/dyn'] });
    const line = (rank: number, name: string, flags: string) => `${rank};${name};${tag};['Test'];0;Unofficial;${flags}`;
    const work = tempWorkdir([line(1, 'dropped', '--entrypoint /bin/fdexec tmp'), line(2, 'audited', '-e LD_AUDIT=/opt/audit.so'), line(3, 'dlopened', '--entrypoint /bin/dlwrite')]);
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '3'], work);
    const rows = readSummary(work);
    expect(rows.find((x) => x.image === 'dropped')).toMatchObject({ failed: 1, error: expect.stringMatching(/analysis-failed: .*\/tmp\/dropped \(not in the image/) });
    expect(r.stdout).toMatch(/dropped .*\/tmp\/dropped/);
    expect(rows.find((x) => x.image === 'dlopened')).toMatchObject({ failed: 1, error: expect.stringMatching(/analysis-failed: .*\/tmp\/written\.so \(mapped at run time but not in the image/) });
    expect(rows.find((x) => x.image === 'audited')).toMatchObject({ failed: 0, skipped: 0 });
    const profile = JSON.parse(readFileSync(path.join(work, 'results', 'audited.seccomp.json'), 'utf8')) as { syscalls: { names: string[]; action: string }[] };
    const allowed = new Set(profile.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names));
    expect(allowed.has('mincore')).toBe(true);
  });
});
