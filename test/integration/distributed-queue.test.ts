import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { confine, CONFINE, SummaryRow } from './cli-harness';

/**
 * A batch through the queue on this machine: a real redis-server on a loopback port
 * (with a password), two `confine worker`s and a submitter on this engine, four small
 * sample images. One worker is SIGKILLed while it traces an image; BullMQ's stalled-job
 * check hands that image to the other worker, the machine's next worker removes the
 * killed one's container, and the batch finishes with every profile byte-identical to
 * a single-process run of the same list. A resubmission reuses every artifact.
 */
const IMAGES = ['c-static', 'c-musl', 'c-glibc', 'busybox'];
// Ports left to the engine: this batch runs next to a local run and other suites.
const LIST = [
  "1;c-static;confine-sample/c-static:latest;['Web Servers'];0;Unofficial;-p 8080",
  "2;c-musl;confine-sample/c-musl:latest;['Web Servers'];0;Unofficial;-p 8080",
  "3;c-glibc;confine-sample/c-glibc:latest;['Web Servers'];0;Unofficial;-p 8080",
  "4;busybox;confine-sample/busybox:latest;['Base Images', 'Web Servers'];0;Unofficial;-p 80",
];
const DURATION = ['--duration', '4'];
const PASSWORD = `pw-${process.pid}-${Date.now()}`;
const docker = new Dockerode();

let dir: string;
let redis: ChildProcess | undefined;
let url: string;
const workers: { proc: ChildProcess; log: () => string }[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function startRedis(port?: number): Promise<void> {
  port ??= await freePort();
  const redisDir = path.join(dir, 'redis');
  execFileSync('mkdir', ['-p', redisDir]);
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD], { stdio: 'ignore' });
  url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const pong = execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, REDISCLI_AUTH: PASSWORD } });
      if (pong.trim() === 'PONG') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis-server did not start');
}

/** The password travels in the environment, as docs/fleet.md advises, not on the command line. */
const env = () => ({ ...process.env, REDISCLI_AUTH: PASSWORD });

function startWorker(): { proc: ChildProcess; log: () => string } {
  const proc = spawn(CONFINE, ['worker', '--queue', url, '--cache', 'store', '--jobs', '1', '--lock-sec', '10'], { cwd: dir, env: env(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let text = '';
  proc.stderr!.on('data', (d) => (text += d));
  const w = { proc, log: () => text };
  workers.push(w);
  return w;
}

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 180_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function submit(extra: string[] = [], list = 'images.list') {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(CONFINE, ['profiles', '-i', list, '--queue', url, '--cache', 'store', '-r', 'queued', ...DURATION, ...extra], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The node pid of every worker this file started (from its log lines): whose containers it checks. */
const workerPids = () => workers.map((w) => /confine worker [^:]+:(\d+):/.exec(w.log())?.[1]).filter((p): p is string => !!p);

/** Containers of this file's workers, live or dead (other sessions' containers on the shared engine are not its business). */
async function ourContainers(): Promise<string[]> {
  const ids: string[] = [];
  for (const pid of workerPids()) {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`confine.owner-pid=${pid}`] } })) ids.push(`${c.Id.slice(0, 12)} (worker ${pid}, ${c.State})`);
  }
  return ids;
}

const summary = (results: string): SummaryRow[] => JSON.parse(readFileSync(path.join(dir, results, 'run-summary.json'), 'utf8')).rows;

beforeAll(async () => {
  for (const name of IMAGES) {
    await docker.getImage(`confine-sample/${name}:latest`).inspect().catch(() => {
      throw new Error(`sample image confine-sample/${name} is missing: run images/build.sh (make images)`);
    });
  }
  try {
    execFileSync('redis-server', ['--version']);
  } catch {
    throw new Error('redis-server is missing: run scripts/setup.sh (it installs Debian redis-server)');
  }
  dir = mkdtempSync(path.join(os.tmpdir(), 'confine-queue-'));
  writeFileSync(path.join(dir, 'images.list'), LIST.join('\n') + '\n');
  await startRedis();
});

afterAll(async () => {
  for (const w of workers) {
    try {
      process.kill(-w.proc.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  redis?.kill('SIGKILL');
  // Had the test failed half-way, the killed workers' containers would still be there.
  for (const pid of workerPids()) {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`confine.owner-pid=${pid}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a batch through BullMQ workers', () => {
  it('survives a SIGKILLed worker, matches a single-process run byte for byte, and leaves no container', async () => {
    const local = await confine(['profiles', '-i', 'images.list', '--cache', 'local-cache', '-r', 'local', ...DURATION], dir);
    expect(local.stderr).not.toMatch(/internal error/);
    expect(local.code).toBe(0);

    const a = startWorker();
    const b = startWorker();
    await until('both workers to connect', () => a.log().includes('waiting for images') && b.log().includes('waiting for images'));
    const submitted = submit();

    // Worker a's node process (its pid is in its log lines) is tracing an image: kill it, no goodbye.
    const aPid = Number(/confine worker [^:]+:(\d+):/.exec(a.log())![1]);
    const victim = await until('worker a to start a traced container', async () => {
      const list = await docker.listContainers({ all: true, filters: { label: [`confine.owner-pid=${aPid}`] } });
      return list[0];
    });
    const image = /taking (\S+)/.exec(a.log())?.[1];
    expect(image).toBeDefined();
    process.kill(-a.proc.pid!, 'SIGKILL');

    // The machine's next worker removes the killed one's container on start.
    const c = startWorker();
    await until('the next worker to start', () => c.log().includes('waiting for images'));
    await until('the killed worker\'s container to be removed', async () => {
      const still = await docker.getContainer(victim.Id).inspect().then(() => true, () => false);
      return !still;
    }, 30_000);

    const run = await submitted;
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    // The killed worker's image was handed on and finished elsewhere.
    expect(b.log() + c.log()).toContain(`taking ${image}`);
    expect(run.stderr).toMatch(/queue: 4\/4 finished \(4 done, 0 failed\)/);

    const rows = summary('queued');
    for (const name of IMAGES) expect(rows.find((r) => r.image === name)).toMatchObject({ failed: 0, skipped: 0, interrupted: 0 });
    for (const name of IMAGES) {
      const file = `${name}.seccomp.json`;
      expect(readFileSync(path.join(dir, 'queued', file), 'utf8')).toBe(readFileSync(path.join(dir, 'local', file), 'utf8'));
    }
    expect(existsSync(path.join(dir, 'queued', 'profile.report.csv'))).toBe(true);
    expect(readFileSync(path.join(dir, 'queued', 'profile.report.csv'), 'utf8')).toBe(readFileSync(path.join(dir, 'local', 'profile.report.csv'), 'utf8'));

    // Resubmitting the same list reuses every finished artifact: no image stage runs again.
    const again = await submit();
    expect(again.code).toBe(0);
    for (const name of IMAGES) expect(summary('queued').find((r) => r.image === name)).toMatchObject({ done: 0, failed: 0 });

    // Workers stop on SIGTERM once idle; nothing of theirs or the killed one's is left.
    for (const w of [b, c]) process.kill(-w.proc.pid!, 'SIGTERM');
    await Promise.all([b, c].map((w) => new Promise((r) => (w.proc.exitCode !== null ? r(null) : w.proc.on('exit', r)))));
    expect(await ourContainers()).toEqual([]);
  }, 600_000);

  it('reports a failing image once: its own faults without retries, an engine refusal after three tries with backoff; binds from the queue refused', async () => {
    writeFileSync(path.join(dir, 'bad.list'), [
      // On a loopback registry nothing listens on: the pull is refused at once, and the
      // engine asks no outside registry (or DNS) about it.
      "1;missing;localhost:1/confine-sample/no-such-image:latest;[];0;Unofficial",
      // Honoured in a local list; from the queue a worker mounts no host path.
      "2;binds;confine-sample/c-static:latest;[];0;Unofficial;-v /etc:/host-etc",
      // The engine refuses to start it: a failure worth other tries (on a sick machine it
      // would be the machine's), so it is tried three times with backoff, reported once.
      "3;noentry;confine-sample/c-static:latest;[];0;Unofficial;--entrypoint /nonexistent",
    ].join('\n') + '\n');
    const w = startWorker();
    await until('the worker to start', () => w.log().includes('waiting for images'));
    const run = await submit(['-r', 'bad'], 'bad.list');
    expect(run.code).toBe(1);
    const rows = summary('bad');
    expect(rows.find((r) => r.image === 'missing')?.error).toMatch(/image-pull: could not pull 'localhost:1\/confine-sample\/no-such-image:latest'/);
    expect(rows.find((r) => r.image === 'binds')?.error).toMatch(/bind mounts \(\/etc:\/host-etc\) are refused/);
    expect(w.log().match(/taking missing/g)).toHaveLength(1);
    // Refused before it is taken on: one line saying why, no retry.
    expect(w.log().match(/binds: failed — .*bind mounts/g)).toHaveLength(1);
    expect(w.log()).not.toMatch(/(missing|binds): .*later try/);
    expect(w.log().match(/taking noentry \(job \S+, try \d of 3\)/g)).toEqual([expect.stringMatching(/try 1/), expect.stringMatching(/try 2/), expect.stringMatching(/try 3/)]);
    expect(rows.filter((r) => r.image === 'noentry')).toHaveLength(1);
    expect(rows.find((r) => r.image === 'noentry')?.error).toMatch(/container-start-failed/);
    expect(run.stderr).toMatch(/queue: 3\/3 finished \(0 done, 3 failed\)/);
    process.kill(-w.proc.pid!, 'SIGTERM');
    await new Promise((r) => (w.proc.exitCode !== null ? r(null) : w.proc.on('exit', r)));
    expect(await ourContainers()).toEqual([]); // the one the engine would not start is removed too
  }, 300_000);

  it('a Redis restarted mid-batch without persistence: the submitter says so and stops; resubmitting reuses what finished', async () => {
    const w = startWorker();
    await until('the worker to start', () => w.log().includes('waiting for images'));
    // A new trace duration: every image is traced again, so the batch takes a while.
    const args = ['-r', 'restart', '--duration', '6'];
    const first = submit(args);
    await until('an image to finish', () => /: finished/.test(w.log()));
    const finished = /(\S+): finished/.exec(w.log())![1];
    redis!.kill('SIGKILL');
    await new Promise((r) => redis!.on('exit', r));
    await startRedis(Number(new URL(url).port));
    const lost = await first;
    expect(lost.code).not.toBe(0);
    expect(lost.stderr + lost.stdout).toMatch(/gone from the queue/);

    const again = await submit(args);
    expect(again.stderr).not.toMatch(/internal error/);
    expect(again.code).toBe(0);
    const rows = summary('restart');
    expect(rows.find((r) => r.image === finished)).toMatchObject({ done: 0, failed: 0 });
    for (const name of IMAGES) expect(rows.find((r) => r.image === name)).toMatchObject({ failed: 0, skipped: 0 });
    process.kill(-w.proc.pid!, 'SIGTERM');
    await new Promise((r) => (w.proc.exitCode !== null ? r(null) : w.proc.on('exit', r)));
    expect(await ourContainers()).toEqual([]);
  }, 400_000);

  it('speaks TLS with rediss:// and refuses a server whose certificate it cannot verify', async () => {
    const tls = path.join(dir, 'tls');
    execFileSync('mkdir', ['-p', tls]);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(tls, 'key.pem'), '-out', path.join(tls, 'cert.pem'),
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    const port = await freePort();
    const server = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--dir', tls, '--save', '',
      '--tls-cert-file', path.join(tls, 'cert.pem'), '--tls-key-file', path.join(tls, 'key.pem'), '--tls-auth-clients', 'no', '--requirepass', PASSWORD], { stdio: 'ignore' });
    try {
      const tlsUrl = `rediss://localhost:${port}`;
      // Not trusted: the worker stops at once, saying why.
      await until('the TLS server', async () => (await confine(['worker', '--queue', tlsUrl, '--cache', 'store'], dir)).stderr.match(/certificate/), 30_000);
      // Trusted (its CA added), with the password: it connects and waits for images.
      const proc = spawn(CONFINE, ['worker', '--queue', tlsUrl, '--cache', 'store'], { cwd: dir, env: { ...env(), NODE_EXTRA_CA_CERTS: path.join(tls, 'cert.pem') }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let log = '';
      proc.stderr!.on('data', (d) => (log += d));
      workers.push({ proc, log: () => log });
      await until('the worker on TLS', () => log.includes(`waiting for images on ${tlsUrl}`) || proc.exitCode !== null, 60_000);
      expect(log).toContain(`waiting for images on ${tlsUrl}`);
      process.kill(-proc.pid!, 'SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.on('exit', r)));
    } finally {
      server.kill('SIGKILL');
    }
  }, 120_000);

  it('an interrupted submitter withdraws the images no worker holds; the held one finishes into the store', async () => {
    const w = startWorker();
    await until('the worker to start', () => w.log().includes('waiting for images'));
    const p = spawn(CONFINE, ['profiles', '-i', 'images.list', '--queue', url, '--cache', 'store', '-r', 'interrupted', '--duration', '7'], { cwd: dir, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    await until('the worker to take an image', () => /taking (\S+)/.exec(w.log())?.[1]);
    const held = /taking (\S+)/.exec(w.log())![1];
    p.kill('SIGINT');
    expect(await exited).toBe(130);
    const port = new URL(url).port;
    const waiting = execFileSync('redis-cli', ['-p', port, 'llen', 'confine:images:wait'], { encoding: 'utf8', env: env() }).trim();
    expect(waiting).toBe('0');
    await until('the held image to finish', () => w.log().includes(`${held}: finished`));
    expect(w.log().match(/taking /g)).toHaveLength(1);
    process.kill(-w.proc.pid!, 'SIGTERM');
    await new Promise((r) => (w.proc.exitCode !== null ? r(null) : w.proc.on('exit', r)));
    expect(await ourContainers()).toEqual([]);
  }, 300_000);
});
