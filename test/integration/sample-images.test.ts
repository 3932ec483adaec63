/**
 * Every sample image in images/images.list starts under Docker and answers its
 * probe. This is what makes the corpus trustworthy for everything downstream: a
 * profile verified against an image that never served proves nothing.
 *
 * Needs the Docker engine and the images (images/build.sh). A missing image fails
 * the test: skipping would hide a corpus that silently shrank.
 */
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadProbes, runProbe, type Probe } from '../../system/probe/probe';
import { parseImageList, type ImageEntry } from '../../formats/image-list';

const ROOT = path.resolve(__dirname, '../..');
const LIST_FILE = path.join(ROOT, 'images/images.list');
const PROBES_FILE = path.join(ROOT, 'images/probes.json');
const RUN_ID = `${process.pid}-${Date.now()}`;
// confine.test=1 marks every test container in the project; the run label lets
// this file clean up only what it made, never another suite's containers.
const LABELS = { 'confine.test': '1', 'confine.test.suite': 'sample-images', 'confine.test.run': RUN_ID };

const docker = new Docker();
const listed = parseImageList(fs.readFileSync(LIST_FILE, 'utf8'), LIST_FILE);
const probes = loadProbes(PROBES_FILE);

interface Publish {
  host: number;
  container: string; // "80/tcp"
}
interface SampleRun {
  publish: Publish[];
  env: string[];
}

/**
 * The few docker-run flags the sample list uses (-p, -e). The product's own
 * option parser lives with run-and-trace; this one only has to refuse anything
 * else loudly so the list cannot drift past what this test checks.
 */
function parseSampleOptions(entry: ImageEntry): SampleRun {
  const tokens = entry.extraOptions.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
  const unquote = (t: string) => t.replace(/^(["'])(.*)\1$/, '$2');
  const out: SampleRun = { publish: [], env: [] };
  const where = `${entry.file}:${entry.line} (${entry.name})`;
  for (let i = 0; i < tokens.length; i++) {
    const flag = tokens[i];
    const value = () => {
      const v = tokens[++i];
      if (v === undefined) throw new Error(`${where}: ${flag} needs a value`);
      return unquote(v);
    };
    if (flag === '-p' || flag === '--publish') {
      const m = /^(?:127\.0\.0\.1:)?(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(value());
      if (!m) throw new Error(`${where}: -p ${tokens[i]} is not HOSTPORT:PORT[/proto]`);
      out.publish.push({ host: Number(m[1]), container: `${m[2]}/${m[3] ?? 'tcp'}` });
    } else if (flag === '-e' || flag === '--env') {
      out.env.push(value());
    } else {
      throw new Error(`${where}: option ${flag} is not supported by the sample-image test`);
    }
  }
  return out;
}

async function imageMissing(ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return false;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return true;
    throw e;
  }
}

async function tail(container: Docker.Container): Promise<string> {
  try {
    const buf = (await container.logs({ stdout: true, stderr: true, tail: 15 })) as unknown as Buffer;
    // Multiplexed stream: 8-byte frame headers; strip them for a readable tail.
    const lines: string[] = [];
    for (let off = 0; off + 8 <= buf.length; ) {
      const len = buf.readUInt32BE(off + 4);
      lines.push(buf.subarray(off + 8, off + 8 + len).toString('utf8'));
      off += 8 + len;
    }
    return lines.join('').trimEnd() || '(no output)';
  } catch (e) {
    return `(logs unavailable: ${(e as Error).message})`;
  }
}

const timings: Array<{ name: string; createMs: number; readyMs: number; attempts: number; detail: string }> = [];

beforeAll(async () => {
  await docker.ping();
});

afterAll(async () => {
  // Safety net: the per-test finally already removed them.
  const left = await docker.listContainers({ all: true, filters: { label: [`confine.test.run=${RUN_ID}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  if (timings.length) {
    const rows = [...timings].sort((a, b) => a.name.localeCompare(b.name));
    console.log(
      'sample images: start-to-probe timings\n' +
        rows.map((t) => `  ${t.name.padEnd(10)} create ${String(t.createMs).padStart(5)} ms  ready ${String(t.readyMs).padStart(6)} ms  attempts ${t.attempts}  ${t.detail}`).join('\n'),
    );
  }
});

test('images.list parses cleanly, and each image has a probe on one of its published ports', () => {
  expect(listed.errors.map((e) => e.describe())).toEqual([]);
  expect(listed.images.length).toBeGreaterThanOrEqual(11);
  for (const img of listed.images) {
    const probe = probes[img.name];
    expect({ image: img.name, hasProbe: probe !== undefined }).toEqual({ image: img.name, hasProbe: true });
    const hostPorts = parseSampleOptions(img).publish.map((p) => p.host);
    expect({ image: img.name, probePortPublished: hostPorts.includes(probe.port) }).toEqual({ image: img.name, probePortPublished: true });
  }
  const allHostPorts = listed.images.flatMap((i) => parseSampleOptions(i).publish.map((p) => p.host));
  expect(new Set(allHostPorts).size).toBe(allHostPorts.length);
  expect(Object.keys(probes).sort()).toEqual(listed.images.map((i) => i.name).sort());
});

test.concurrent.each(listed.images.map((img) => [img.name, img] as const))(
  '%s starts and answers its probe',
  async (name, img) => {
    const probe: Probe | undefined = probes[name];
    if (!probe) throw new Error(`${PROBES_FILE} has no probe for ${name}`);
    if (await imageMissing(img.ref)) {
      throw new Error(`image ${img.ref} is missing: run images/build.sh (or images/build.sh ${name})`);
    }
    const run = parseSampleOptions(img);
    const probed = run.publish.find((p) => p.host === probe.port);
    if (!probed) throw new Error(`${name}: probe port ${probe.port} is not published in ${LIST_FILE}`);

    // Host ports are left to Docker (HostPort ''), always on 127.0.0.1: the fixed
    // 18xxx ports in the list would collide with another suite or a demo running
    // the same image at the same time. The probe is pointed at whatever Docker chose.
    const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    const exposed: Record<string, object> = {};
    for (const p of run.publish) {
      portBindings[p.container] = [{ HostIp: '127.0.0.1', HostPort: '' }];
      exposed[p.container] = {};
    }

    const t0 = Date.now();
    const container = await docker.createContainer({
      Image: img.ref,
      name: `confine-test-${name}-${RUN_ID}`,
      Env: run.env,
      Labels: LABELS,
      ExposedPorts: exposed,
      HostConfig: { PortBindings: portBindings },
    });
    const createMs = Date.now() - t0;
    const stopWaiting = new AbortController();
    try {
      await container.start();
      const t1 = Date.now();
      const info = await container.inspect();
      const bound = info.NetworkSettings.Ports?.[probed.container]?.find((b) => b.HostIp === '127.0.0.1');
      if (!bound) throw new Error(`${name}: ${probed.container} was not published on 127.0.0.1: ${JSON.stringify(info.NetworkSettings.Ports)}`);

      // A server that dies at start-up should fail the test now, with its log,
      // not after the probe's whole retry budget.
      let exitCode: number | undefined;
      void container
        .wait()
        .then((r: { StatusCode: number }) => {
          exitCode = r.StatusCode;
          stopWaiting.abort(`container exited with status ${r.StatusCode}`);
        })
        .catch(() => undefined);

      const result = await runProbe(
        { ...probe, port: Number(bound.HostPort) },
        { timeoutMs: 1500, retries: 200, retryDelayMs: 250, deadlineMs: 60_000, signal: stopWaiting.signal },
      );
      timings.push({ name, createMs, readyMs: Date.now() - t1, attempts: result.attempts, detail: result.detail });
      if (!result.ok) {
        const state = exitCode === undefined ? 'still running' : `exited with status ${exitCode}`;
        throw new Error(`${name} (${img.ref}) failed its probe after ${result.attempts} attempts in ${result.elapsedMs} ms: ${result.detail}\ncontainer ${state}; last log lines:\n${await tail(container)}`);
      }
      expect(result.ok).toBe(true);
    } finally {
      stopWaiting.abort('test finished');
      await container.remove({ force: true });
    }
  },
  90_000,
);
