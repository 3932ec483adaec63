import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { confine, readSummary, tempWorkdir } from './cli-harness';
import { buildRobustnessImage, BuiltImage } from './robustness-images';

/**
 * Misbehaving and hostile containers through `confine profiles` on the real engine:
 * each image either profiles or fails alone with a clear message, the duration bound
 * holds for a container that ignores SIGTERM, a container printing without end does
 * not grow confine's memory, every traced container runs confined (inspected through
 * the Docker API while it runs), and a hostile filesystem never reaches the host.
 */
const docker = new Dockerode();
const TAG = `confine-robust/misbehave:${process.pid}`;
let img: BuiltImage;

beforeAll(() => {
  img = buildRobustnessImage(TAG);
}, 120000);
afterAll(() => {
  try {
    // Only ours: other sessions on this engine may have confine containers running.
    execFileSync('sh', ['-c', `docker ps -aq --filter label=confine=1 --filter ancestor=${TAG} | xargs -r docker rm -f`], { stdio: 'ignore' });
  } catch {
    /* nothing left */
  }
  img?.cleanup();
});

const line = (rank: number, name: string, flags: string) => `${rank};${name};${TAG};['Test'];0;Unofficial;${flags}`;

/** Sum of RSS (KiB) of every process in the group: bin/confine → tsx → node. */
function groupRssKb(pgid: number): number {
  try {
    return execFileSync('ps', ['-o', 'rss=', '-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim())
      .reduce((a, l) => a + Number(l.trim()), 0);
  } catch {
    return 0;
  }
}

describe('misbehaving containers', () => {
  it('exits at once, crashes, crash-loops, never stops, floods stdout: bounded time and memory, confined, each profiled', async () => {
    const DURATION = 4;
    const dir = tempWorkdir([
      line(1, 'quick', '--entrypoint /bin/quick'),
      line(2, 'crash', '--entrypoint /bin/crash'),
      line(3, 'crashloop', '--entrypoint /bin/crashloop'),
      line(4, 'forever', '--entrypoint /bin/forever -p 19191:8080 -p 127.0.0.1:19192:8081'),
      line(5, 'flood', '--entrypoint /bin/flood'),
    ]);
    const hostConfigs = new Map<string, Dockerode.ContainerInspectInfo>();
    // Only this test's containers: others on the machine may run confine at the same time.
    const imageId = (await docker.getImage(TAG).inspect()).Id;
    let maxRssKb = 0;
    const r = await confine(['profiles', '-i', 'images.list', '--duration', String(DURATION), '--jobs', '3'], dir, (p) => {
      const poll = setInterval(async () => {
        maxRssKb = Math.max(maxRssKb, groupRssKb(p.pid!));
        try {
          for (const c of await docker.listContainers({ filters: { label: ['confine=1'], status: ['running'] } })) {
            if (c.ImageID !== imageId || c.Labels['confine.helper'] || hostConfigs.has(c.Id)) continue;
            hostConfigs.set(c.Id, await docker.getContainer(c.Id).inspect());
          }
        } catch {
          /* a container removed between list and inspect */
        }
      }, 150);
      p.on('close', () => clearInterval(poll));
    });
    process.stdout.write(`misbehaving batch: ${r.ms} ms, confine max RSS ${(maxRssKb / 1024).toFixed(0)} MB, ${hostConfigs.size} containers inspected\n`);
    expect(r.stderr).not.toMatch(/internal/);
    const rows = readSummary(dir);
    for (const name of ['quick', 'crash', 'crashloop', 'forever', 'flood']) {
      expect(rows.find((x) => x.image === name)).toMatchObject({ failed: 0, skipped: 0, interrupted: 0 });
      await fsp.access(path.join(dir, 'results', `${name}.seccomp.json`)).catch(async () => {
        const files = await fsp.readdir(path.join(dir, 'results'));
        throw new Error(`no profile for ${name} in results/: ${files.join(', ')}`);
      });
    }
    expect(r.code).toBe(0);
    // Two rounds of three containers: each at most DURATION + stop timeout + setup; never "until it exits".
    expect(r.ms).toBeLessThan(2 * (DURATION + 2 + 8) * 1000 + 15000);
    expect(maxRssKb / 1024).toBeLessThan(800);

    // Confinement of the traced containers, as the engine reports it.
    expect(hostConfigs.size).toBeGreaterThanOrEqual(2);
    for (const info of hostConfigs.values()) {
      const h = info.HostConfig;
      expect({ privileged: h.Privileged, capAdd: h.CapAdd ?? [] }).toEqual({ privileged: false, capAdd: [] });
      expect(h.Memory).toBeGreaterThan(0);
      expect(h.PidsLimit).toBeGreaterThan(0);
      expect((h.NanoCpus ?? 0) > 0 || (h.CpuQuota ?? 0) > 0).toBe(true);
      for (const bindings of Object.values(h.PortBindings ?? {}) as { HostIp: string }[][]) for (const b of bindings) expect(b.HostIp).toBe('127.0.0.1');
      // The flood container wrote 438 MB in 5 s to an unbounded log once.
      expect(h.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } });
    }
    const forever = [...hostConfigs.values()].find((i) => i.Path === '/bin/forever');
    expect(Object.keys(forever?.HostConfig.PortBindings ?? {}).sort()).toEqual(['8080/tcp', '8081/tcp']);
    expect((await docker.listContainers({ all: true, filters: { label: ['confine=1'] } })).filter((c) => c.ImageID === imageId).map((c) => c.Id)).toEqual([]);
  }, 180000);
});

/** Every file under dir (not following links) with its sha256. */
async function snapshot(dir: string, skip: (p: string) => boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (skip(p)) continue;
      if (e.isDirectory()) await walk(p);
      else if (e.isSymbolicLink()) out.set(p, `-> ${await fsp.readlink(p)}`);
      else if (e.isFile()) out.set(p, createHash('sha256').update(await fsp.readFile(p)).digest('hex'));
      else out.set(p, 'special');
    }
  };
  await walk(dir);
  return out;
}

describe('hostile image', () => {
  it('--allbinaries over escaping links, loops, devices, a FIFO and malformed ELFs: stays inside -o, each bad file a typed value', async () => {
    // The work dir sits in a sandbox of its own with a sibling file, so "outside -o" is observable.
    const sandbox = await fsp.mkdtemp(path.join(os.tmpdir(), 'confine-robust-sandbox-'));
    const dir = path.join(sandbox, 'work');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'images.list'), line(1, 'hostile', '--entrypoint /bin/quick') + '\n');
    await fsp.writeFile(path.join(sandbox, 'sibling'), 'must not change');
    // The host files the image's links aim at (others on this machine may be installing packages, so not whole dirs).
    const targets = ['/etc/shadow', '/etc/passwd', '/lib/x86_64-linux-gnu/libc.so.6'];
    const stamp = async () => [await snapshot(sandbox, (p) => p.startsWith(dir)), await Promise.all(targets.map(async (t) => `${t} ${(await fsp.lstat(t)).mtimeMs} ${createHash('sha256').update(await fsp.readFile(t)).digest('hex')}`))] as const;
    const before = await stamp();
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '2', '--allbinaries', '-o', 'out'], dir);
    expect(r.stderr).not.toMatch(/internal/);
    const row = readSummary(dir).find((x) => x.image === 'hostile');
    expect(row).toMatchObject({ failed: 0, skipped: 0 });
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(60000);
    const after = await stamp();
    expect([...after[0]]).toEqual([...before[0]]);
    expect(after[1]).toEqual(before[1]);
    // -o holds only regular files (no links, devices or FIFOs), and none of them is a host secret.
    const stored = await snapshot(path.join(dir, 'out'), () => false);
    await fsp.rm(sandbox, { recursive: true, force: true }).catch(() => undefined);
    const hostFiles = ['/etc/shadow', '/etc/passwd', '/lib/x86_64-linux-gnu/libc.so.6'].map((f) => createHash('sha256').update(readFileSync(f)).digest('hex'));
    for (const [p, h] of stored) {
      expect({ p, h: h.startsWith('->') || h === 'special' ? h : 'file' }).toEqual({ p, h: 'file' });
      expect(hostFiles).not.toContain(h);
    }
    expect(stored.size).toBeGreaterThanOrEqual(10);
  }, 180000);
});
