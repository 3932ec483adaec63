/**
 * run-and-trace against the real engine and kernel: a tiny image made here (static
 * programs that fork+exec each other, one dynamic program that dlopens a plugin) is
 * traced, and what the kernel saw is compared with what the programs are known to do.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import * as tar from 'tar-stream';
import { traceContainer, type TraceResult } from '../../system/docker/container-runner';
import { connectDocker } from '../../system/docker/client';
import { OWNER_LABEL, owned, removeLeftovers } from '../../system/docker/leftovers';
import { parseRunOptions } from '../../system/docker/run-options';
import { ConfineError } from '../../pipeline/errors';
import { tracefsRoot } from '../../system/trace/tracefs';

jest.setTimeout(180_000);

const PARENT = `
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void bye(int s) { (void)s; _exit(0); }
/* Each argument: cd:DIR changes directory, exit:N exits with N at the end, anything else is fork+exec'd and waited for. */
int main(int argc, char **argv) {
  int code = -1;
  signal(SIGTERM, bye);
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "cd:", 3)) { if (chdir(argv[i] + 3)) return 90; continue; }
    if (!strncmp(argv[i], "exit:", 5)) { code = atoi(argv[i] + 5); continue; }
    pid_t p = fork();
    if (p == 0) { char *args[] = { argv[i], 0 }; execv(argv[i], args); _exit(127); }
    int st; waitpid(p, &st, 0);
  }
  printf("parent done\\n");
  fflush(stdout);
  if (code >= 0) return code;
  for (;;) pause();
}
`;
const CHILD = `
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) { printf("child %s ran\\n", argv[0]); fflush(stdout); usleep(1500 * 1000); return 0; }
`;
const PLUGIN = `int plug(void) { return 42; }`;
const DL = `
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  void *h = dlopen("/plugins/libplug.so", RTLD_NOW);
  if (!h) { printf("dlopen: %s\\n", dlerror()); return 1; }
  int (*plug)(void) = (int (*)(void))dlsym(h, "plug");
  printf("plugin says %d\\n", plug());
  fflush(stdout);
  sleep(2);
  return 0;
}
`;
const LOUD = `
#include <string.h>
#include <unistd.h>
int main(void) { char b[65536]; memset(b, 'x', sizeof b); for (int i = 0; i < 4096; i++) write(1, b, sizeof b); write(1, "LAST-LINE\\n", 10); return 0; }
`;

const REF = `confine-trace-test/forker:${process.pid}`;
const TEST_LABEL = 'confine.trace-test';
let docker: Docker;
let tmp: string;
let imageId: string;

function cc(name: string, source: string, args: string[]): string {
  const src = path.join(tmp, `${name}.c`);
  const out = path.join(tmp, name);
  fs.writeFileSync(src, source);
  execFileSync('gcc', ['-O2', '-o', out, src, ...args]);
  return out;
}

async function importImage(ref: string, files: { path: string; content: Buffer }[]): Promise<string> {
  const pack = tar.pack();
  const dirs = new Set<string>();
  for (const f of files) {
    for (let d = path.posix.dirname(f.path); d !== '/'; d = path.posix.dirname(d)) dirs.add(d);
  }
  for (const d of [...dirs].sort()) pack.entry({ name: d.slice(1), type: 'directory', mode: 0o755 });
  for (const f of files) pack.entry({ name: f.path.slice(1), mode: 0o755 }, f.content);
  pack.finalize();
  const [repo, tag] = ref.split(':');
  const stream = await docker.importImage(pack as unknown as NodeJS.ReadableStream, { repo, tag });
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve())));
  return (await docker.getImage(ref).inspect()).Id;
}

function run(cmd: string[], durationSec: number, extra: Partial<Parameters<typeof traceContainer>[0]> = {}): Promise<TraceResult> {
  return traceContainer({
    docker,
    image: imageId,
    spec: { ...parseRunOptions(''), entrypoint: ['/parent'], cmd },
    durationSec,
    runLabel: 'trace-test',
    labels: { [TEST_LABEL]: String(process.pid) },
    ...extra,
  });
}

async function ourContainers(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${process.pid}`] } });
  return list.map((c) => c.Id);
}

function ourInstances(): string[] {
  return fs.readdirSync(path.join(tracefsRoot(), 'instances')).filter((n) => n.startsWith(`confine-${process.pid}-`));
}

beforeAll(async () => {
  docker = await connectDocker();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-trace-'));
  const parent = cc('parent', PARENT, ['-static']);
  const child = cc('child', CHILD, ['-static']);
  const loud = cc('loud', LOUD, ['-static']);
  const plugin = cc('libplug.so', PLUGIN, ['-shared', '-fPIC']);
  const dl = cc('dl', DL, []);
  // The dynamic program needs the host's loader and libc inside the image, at the paths it names.
  const interp = execFileSync('readelf', ['-l', dl]).toString().match(/interpreter: (\S+?)\]/)![1];
  const libc = execFileSync('ldd', [dl]).toString().match(/libc\.so\.6 => (\S+)/)![1];
  imageId = await importImage(REF, [
    { path: '/parent', content: fs.readFileSync(parent) },
    { path: '/bin/child', content: fs.readFileSync(child) },
    { path: '/sub/rel', content: fs.readFileSync(child) },
    { path: '/loud', content: fs.readFileSync(loud) },
    { path: '/dl', content: fs.readFileSync(dl) },
    { path: '/plugins/libplug.so', content: fs.readFileSync(plugin) },
    { path: interp, content: fs.readFileSync(interp) },
    { path: libc, content: fs.readFileSync(libc) },
  ]);
});

afterAll(async () => {
  if (docker) {
    for (const id of await ourContainers()) await docker.getContainer(id).remove({ force: true });
    await docker.getImage(REF).remove({ force: true }).catch(() => undefined);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

afterEach(async () => {
  // Whatever a test did, nothing of ours may be left: no container, no tracefs instance.
  expect(await ourContainers()).toEqual([]);
  expect(ourInstances()).toEqual([]);
});

it('records every program the container executes: absolute, relative to the cwd, and dynamic with its dlopened plugin', async () => {
  const t0 = Date.now();
  const r = await run(['/bin/child', 'cd:/sub', './rel', '/dl'], 7);
  const wall = Date.now() - t0;
  console.log(`traced for 7 s in ${wall} ms; execs: ${JSON.stringify(r.execs)}; mapped: ${r.mappedObjects.join(' ')}; notes: ${r.notes.join(' | ')}`);
  expect(r.exitedEarly).toBe(false);
  expect(r.exitCode).toBeUndefined();
  expect(r.imageId).toBe(imageId);
  expect(r.executedPaths).toEqual(['/parent', '/bin/child', '/sub/rel', '/dl']);
  // runc's own execs (/proc/self/exe, its memfd copy) are outside the init's tree.
  expect(r.executedPaths.some((p) => p.startsWith('/proc') || p.startsWith('/dev'))).toBe(false);
  const [parent, ...children] = r.execs;
  expect(parent.path).toBe('/parent');
  expect(parent.ppid).toBeUndefined();
  for (const c of children) expect(c.ppid).toBe(parent.pid);
  expect(r.execs.map((x) => x.tMs)).toEqual([...r.execs.map((x) => x.tMs)].sort((a, b) => a - b));
  expect(parent.tMs).toBeGreaterThanOrEqual(0);
  // Measured from the container's start, not the epoch or the host's boot: within the traced window.
  expect(parent.tMs).toBeLessThan(r.durationSec * 1000);
  expect(r.mappedObjects).toEqual(expect.arrayContaining(['/plugins/libplug.so', '/dl', '/parent']));
  expect(r.mappedObjects.some((p) => /\/libc\.so\.6$/.test(p))).toBe(true);
  expect(r.mappedObjects.some((p) => p.includes('/var/lib/docker'))).toBe(false);
  expect(r.logTail).toContain('child /bin/child ran');
  expect(r.logTail).toContain('plugin says 42');
  expect(r.logTail).toContain('parent done');
  expect(wall).toBeLessThan(7000 + 6000);
  await expect(docker.getContainer(r.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
});

it('records an early exit with its code and the execs made before it', async () => {
  const t0 = Date.now();
  const r = await run(['/bin/child', 'exit:3'], 30);
  expect(Date.now() - t0).toBeLessThan(15_000);
  expect(r.exitedEarly).toBe(true);
  expect(r.exitCode).toBe(3);
  expect(r.executedPaths).toEqual(['/parent', '/bin/child']);
  expect(r.notes.join('\n')).toMatch(/exited on its own with status 3/);
});

it('finds the execs of a container that is gone before inspect can see its pid', async () => {
  // No child, immediate exit: often gone before inspect; either way the entrypoint's exec must be there.
  const r = await run(['exit:0'], 10);
  console.log(`instant exit notes: ${r.notes.join(' | ')}`);
  expect(r.exitedEarly).toBe(true);
  expect(r.exitCode).toBe(0);
  expect(r.executedPaths).toEqual(['/parent']);
});

it('keeps concurrent traces apart', async () => {
  const [a, b] = await Promise.all([run(['/bin/child'], 4), run(['/sub/rel'], 4)]);
  expect(a.executedPaths).toEqual(['/parent', '/bin/child']);
  expect(b.executedPaths).toEqual(['/parent', '/sub/rel']);
});

it('keeps only the last 4 KB of a container that prints 256 MB', async () => {
  const before = process.memoryUsage().rss;
  const r = await run(['/loud', 'exit:0'], 60);
  expect(r.exitedEarly).toBe(true);
  const grew = process.memoryUsage().rss - before;
  console.log(`256 MB of output: rss grew ${(grew / 1e6).toFixed(1)} MB`);
  expect(r.logTail.length).toBeLessThanOrEqual(4096);
  expect(r.logTail).toMatch(/xLAST-LINE\nparent done\n$/);
  // Kept whole, 256 MB would not fit in this bound.
  expect(grew).toBeLessThan(128 * 1024 * 1024);
});

it('runs the probe while the container runs', async () => {
  let sawRunning = false;
  const r = await run(['/bin/child'], 3, {
    probe: async () => {
      await new Promise((res) => setTimeout(res, 500));
      const list = await docker.listContainers({ filters: { label: [`${TEST_LABEL}=${process.pid}`] } });
      sawRunning = list.length === 1;
      throw new Error('probe says no');
    },
  });
  expect(sawRunning).toBe(true);
  expect(r.notes).toContain('probe failed: probe says no');
});

it('removes the container and the trace instance when aborted', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 1500);
  const t0 = Date.now();
  const e = await run([], 60, { signal: ac.signal }).catch((x) => x);
  expect(e).toBeInstanceOf(ConfineError);
  expect((e as ConfineError).kind).toBe('interrupted');
  expect(Date.now() - t0).toBeLessThan(10_000);
});

it("leaves no listener on the run's abort signal, which every image's trace shares", async () => {
  // One left per trace piled up to MaxListenersExceededWarning in every batch of 11+ images.
  const ac = new AbortController();
  await run(['exit:0'], 10, { signal: ac.signal });
  await run(['/bin/child'], 2, { signal: ac.signal });
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
});

describe('tracefs instances outlive no confine process', () => {
  const holders = new Set<import('node:child_process').ChildProcess>();
  afterEach(() => {
    for (const h of holders) h.kill('SIGKILL');
    holders.clear();
  });
  const script = () => {
    const f = path.join(tmp, 'hold-tracer.ts');
    fs.writeFileSync(
      f,
      `import { ExecTracer } from ${JSON.stringify(path.join(__dirname, '../../system/trace/exec-tracer'))};\n` +
        `ExecTracer.start().then((t) => { console.log('READY ' + t.dir); setInterval(() => t.take(), 100); });\n`,
    );
    return f;
  };
  const startHolder = async () => {
    const { spawn } = await import('node:child_process');
    // `node --import tsx` runs in this one process; the tsx wrapper would add a parent that relays signals.
    const child = spawn(process.execPath, ['--import', 'tsx', script()], { cwd: path.join(__dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
    const dir = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /READY (\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
      setTimeout(() => reject(new Error('holder did not start in 20 s')), 20_000).unref();
    });
    expect(fs.existsSync(dir)).toBe(true);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, sig) => r(sig)));
    holders.add(child);
    return { child, dir, exited };
  };

  it('removes its instance on SIGINT and still dies of the signal', async () => {
    const { child, dir, exited } = await startHolder();
    child.kill('SIGINT');
    expect(await exited).toBe('SIGINT');
    holders.delete(child);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it("removes a kill -9'd process's instance at the next start", async () => {
    const { child, dir, exited } = await startHolder();
    child.kill('SIGKILL');
    await exited;
    holders.delete(child);
    expect(fs.existsSync(dir)).toBe(true);
    const { ExecTracer } = await import('../../system/trace/exec-tracer');
    const t = await ExecTracer.start();
    await t.stop();
    expect(fs.existsSync(dir)).toBe(false);
  });
});

it('says image-not-found for an image the engine does not have', async () => {
  const e = await traceContainer({
    docker,
    image: 'sha256:' + '0'.repeat(64),
    spec: parseRunOptions(''),
    durationSec: 1,
    runLabel: 'trace-test',
  }).catch((x) => x);
  expect(e).toBeInstanceOf(ConfineError);
  expect((e as ConfineError).kind).toBe('image-not-found');
});

it("says container-start-failed with Docker's message when the entrypoint does not exist", async () => {
  const e = await traceContainer({
    docker,
    image: imageId,
    spec: { ...parseRunOptions(''), entrypoint: ['/no/such/program'] },
    durationSec: 1,
    runLabel: 'trace-test',
    labels: { [TEST_LABEL]: String(process.pid) },
  }).catch((x) => x);
  expect(e).toBeInstanceOf(ConfineError);
  expect((e as ConfineError).kind).toBe('container-start-failed');
  expect((e as ConfineError).message).toMatch(/no such file or directory/);
});

it('removes leftovers of a dead owner and keeps those of a live one', async () => {
  const dead = spawnSync('true').pid!; // a pid that has exited
  const mk = async (owner: number) =>
    (
      await docker.createContainer(owned({
        Image: imageId,
        Entrypoint: ['/parent'],
        Labels: { confine: '1', [OWNER_LABEL]: String(owner), 'confine.run': 'leftover-test', [TEST_LABEL]: String(process.pid) },
      }))
    ).id;
  const deadOnes = [await mk(dead)];
  const liveOne = await mk(process.pid);
  const removed = await removeLeftovers(docker, { onlyDeadOwners: true });
  const removedIds = removed.map((r) => r.id);
  expect(removedIds).toEqual(expect.arrayContaining(deadOnes));
  expect(removedIds).not.toContain(liveOne);
  await expect(docker.getContainer(deadOnes[0]).inspect()).rejects.toMatchObject({ statusCode: 404 });
  await docker.getContainer(liveOne).remove({ force: true });
});
