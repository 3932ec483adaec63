import { execFileSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import Ajv from 'ajv';
import { confine, containersOfDeadOwners, readSummary, REPO, tempWorkdir, TEST_START_SEC } from './cli-harness';

/**
 * End to end on the real engine with the two smallest sample images (a static glibc
 * and a static musl server; `make images` builds them): the first run does every
 * stage, a rerun reuses them all, a deleted artifact is recomputed alone, a run
 * killed with -9 resumes, and bad input fails only what it concerns.
 */
const LIST = [
  "1;c-static;confine-sample/c-static:latest;['Web Servers'];0;Unofficial;-p 19086:8080",
  "2;c-musl;confine-sample/c-musl:latest;['Web Servers'];0;Unofficial;-p 19087:8080",
];
const ARGS = ['profiles', '-i', 'images.list', '--forms', 'oci,spo', '--duration', '3'];
const docker = new Dockerode();

async function confineContainers(): Promise<string[]> {
  return containersOfDeadOwners();
}

interface LedgerRecord {
  image: string;
  stage: string;
  status: string;
  key?: string;
}
const ledger = (dir: string): LedgerRecord[] =>
  readFileSync(path.join(dir, '.confine-cache', 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

beforeAll(async () => {
  for (const ref of ['confine-sample/c-static:latest', 'confine-sample/c-musl:latest']) {
    await docker.getImage(ref).inspect().catch(() => {
      throw new Error(`sample image ${ref} is missing: run images/build.sh (make images)`);
    });
  }
});

describe('confine profiles on real images', () => {
  const dir = tempWorkdir(LIST);

  it('runs every stage for every image, then a rerun reuses every stage', async () => {
    const first = await confine(ARGS, dir);
    expect(first.stderr).not.toMatch(/internal error/);
    expect(first.code).toBe(0);
    const rows = readSummary(dir);
    const images = rows.filter((r) => !r.image.startsWith('('));
    expect(images.map((r) => r.image).sort()).toEqual(['c-musl', 'c-static']);
    for (const r of rows) expect({ image: r.image, failed: r.failed, skipped: r.skipped, done: r.done > 0 }).toEqual({ image: r.image, failed: 0, skipped: 0, done: true });

    // Every emitted profile in its three forms: Docker's, OCI's and the SPO object.
    const ajv = new Ajv({ strict: false });
    const validOci = ajv.compile(JSON.parse(readFileSync(path.join(REPO, 'formats', 'profile', 'schemas', 'oci-seccomp.schema.json'), 'utf8')));
    const validSpo = ajv.compile(JSON.parse(readFileSync(path.join(REPO, 'formats', 'profile', 'schemas', 'spo-seccompprofile.schema.json'), 'utf8')));
    for (const name of ['c-static', 'c-musl']) {
      const docker = JSON.parse(readFileSync(path.join(dir, 'results', `${name}.seccomp.json`), 'utf8'));
      expect(docker.defaultAction).toBe('SCMP_ACT_ERRNO');
      expect(validOci(JSON.parse(readFileSync(path.join(dir, 'results', `${name}.oci.json`), 'utf8')))).toBe(true);
      expect(validSpo(JSON.parse(readFileSync(path.join(dir, 'results', `${name}.spo.json`), 'utf8')))).toBe(true);
    }

    const second = await confine(ARGS, dir);
    expect(second.code).toBe(0);
    for (const r of readSummary(dir)) expect({ image: r.image, done: r.done, reused: r.reused > 0 }).toEqual({ image: r.image, done: 0, reused: true });
    // Printed, not asserted: timing ratios belong to tools/bench/, not to tests.
    process.stdout.write(`profiles: first run ${first.ms} ms, rerun ${second.ms} ms (${(first.ms / second.ms).toFixed(1)}×)\n`);
    expect(await confineContainers()).toEqual([]);
  });

  it("deleting one stage's artifacts recomputes that stage and nothing upstream", async () => {
    const records = ledger(dir);
    const scanKeys = new Set(records.filter((r) => r.stage === 'symbol-scan' && r.key).map((r) => r.key!));
    expect(scanKeys.size).toBeGreaterThan(0);
    for (const key of scanKeys) await fs.rm(path.join(dir, '.confine-cache', 'objects', key.slice(0, 2), `${key}.json`), { force: true });
    const again = await confine(ARGS, dir);
    expect(again.code).toBe(0);
    const last = ledger(dir).slice(-40);
    const statusOf = (image: string, stage: string) => [...last].reverse().find((r) => r.image === image && r.stage === stage && r.status !== 'running')?.status;
    for (const image of ['c-static', 'c-musl']) {
      expect(statusOf(image, 'run-and-trace')).toBe('reused');
      expect(statusOf(image, 'extract-binaries')).toBe('reused');
      expect(statusOf(image, 'symbol-scan')).toBe('done');
    }
  });

  it('a profile edited on disk is written again on the next run, the stages before it reused', async () => {
    const file = path.join(dir, 'results', 'c-musl.seccomp.json');
    const written = readFileSync(file, 'utf8');
    await fs.writeFile(file, written.replace('"SCMP_ACT_ERRNO"', '"SCMP_ACT_ALLOW"'));
    const again = await confine(ARGS, dir);
    expect(again.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(written);
    const last = ledger(dir).slice(-40);
    const statusOf = (stage: string) => [...last].reverse().find((r) => r.image === 'c-musl' && r.stage === stage && r.status !== 'running')?.status;
    expect(statusOf('syscall-resolve')).toBe('reused');
    expect(statusOf('profile-emit')).toBe('done');
  });

  it('an OCI or SPO form deleted or edited on disk is written again on the next run', async () => {
    const oci = path.join(dir, 'results', 'c-musl.oci.json');
    const spo = path.join(dir, 'results', 'c-musl.spo.json');
    const written = { oci: readFileSync(oci, 'utf8'), spo: readFileSync(spo, 'utf8') };
    await fs.rm(oci);
    await fs.writeFile(spo, written.spo.replace('"SCMP_ACT_ERRNO"', '"SCMP_ACT_ALLOW"'));
    const again = await confine(ARGS, dir);
    expect(again.code).toBe(0);
    expect({ oci: readFileSync(oci, 'utf8'), spo: readFileSync(spo, 'utf8') }).toEqual(written);
    const last = ledger(dir).slice(-40);
    const statusOf = (image: string) => [...last].reverse().find((r) => r.image === image && r.stage === 'profile-emit' && r.status !== 'running')?.status;
    expect(statusOf('c-musl')).toBe('done');
    expect(statusOf('c-static')).toBe('reused');
  });

  it('a run killed with -9 mid-trace leaves containers that the next run removes, and the rerun finishes', async () => {
    const killDir = tempWorkdir(LIST);
    const killed = await confine([...ARGS.slice(0, -1), '20'], killDir, (p) => {
      const poll = setInterval(async () => {
        const mine = await docker.listContainers({ all: true, filters: { label: ['confine=1', 'confine.owner-pid'] } });
        const tracing = mine.some((c) => c.Created >= TEST_START_SEC);
        if (tracing) {
          clearInterval(poll);
          process.kill(-p.pid!, 'SIGKILL');
        }
      }, 200);
      p.on('close', () => clearInterval(poll));
    });
    expect(killed.signal).toBe('SIGKILL');
    // What a crash leaves behind (its owner may take a moment to be reaped after -9).
    let left: string[] = [];
    for (let i = 0; i < 50 && !left.length; i++) {
      left = await confineContainers();
      if (!left.length) await new Promise((r) => setTimeout(r, 100));
    }
    expect(left.length).toBeGreaterThan(0);

    const rerun = await confine([...ARGS.slice(0, -1), '2'], killDir);
    expect(rerun.stderr).toMatch(/removed \d+ container\(s\) left by an earlier run/);
    expect(rerun.code).toBe(0);
    expect(await confineContainers()).toEqual([]);
  });

  it('a bad list line and an image no registry serves fail alone; the good image is profiled; exit status 1', async () => {
    // A registry on loopback that is not there: the engine's pull is refused without leaving the host.
    const ghost = 'localhost:1/confine-sample/does-not-exist:latest';
    const badDir = tempWorkdir([LIST[0], 'x;broken;line', `3;ghost;${ghost};[];0;Official`]);
    const list = path.join(badDir, 'images.list');
    const r = await confine([...ARGS.slice(0, 2), list, ...ARGS.slice(3)], badDir);
    expect(r.code).toBe(1);
    // The list is named as it was typed (absolute here), not relative to the working directory.
    expect(r.stderr).toContain(`${list}:2: bad-input: expected 6 or 7`);
    const rows = readSummary(badDir);
    expect(rows.find((x) => x.image === 'ghost')?.error).toMatch(
      /image ghost, stage run-and-trace: image-pull: could not pull 'localhost:1\/confine-sample\/does-not-exist:latest' from localhost:1: .*127\.0\.0\.1:1.*connection refused/,
    );
    expect(rows.find((x) => x.image === 'c-static')).toMatchObject({ failed: 0, skipped: 0, image: 'c-static' });

    const noPull = await confine([...ARGS, '--no-pull'], badDir);
    expect(noPull.code).toBe(1);
    expect(readSummary(badDir).find((x) => x.image === 'ghost')?.error).toMatch(
      /image-not-found: image 'localhost:1\/confine-sample\/does-not-exist:latest' is not in the local Docker engine, and --no-pull forbids pulling it/,
    );
    expect(readSummary(badDir).find((x) => x.image === 'c-static')).toMatchObject({ failed: 0, skipped: 0 });
  });

  it('an option naming a missing file is refused before any work, naming the option', async () => {
    const r = await confine([...ARGS, '-p', 'nope.json'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/-p nope\.json: no such file/);
    const r2 = await confine(['profiles', '-i', 'images.list', '--jobs', 'zero'], dir);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--jobs expects a whole number/);
  });
});

afterAll(() => {
  // Never leave our containers behind, even when a test failed half-way; others' are not ours to remove.
  for (const id of confineContainersSync()) {
    try {
      execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
});

function confineContainersSync(): string[] {
  return containersOfDeadOwners();
}
