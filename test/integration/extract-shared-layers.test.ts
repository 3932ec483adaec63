import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { extractBinaries } from '../../system/extract/extract-binaries';
import { IndexShare } from '../../system/extract/index-share';
import { confine, containersOfDeadOwners, tempWorkdir } from './cli-harness';

/**
 * Two image IDs over the very same layers (a sample and a `FROM sample` + LABEL copy
 * built here): one index pass serves both, the extract artifacts are the same, the
 * second one's extraction reused, not redone — and so is everything up to the profile.
 */
const docker = new Dockerode();
const BASE = 'confine-sample/c-glibc:latest';
const COPY = `confine-test/extract-shared-${process.pid}:latest`;
const label = { 'confine.test': `extract-shared-${process.pid}` };
const LIST = [
  `1;base;${BASE};['Web Servers'];0;Unofficial;`,
  `2;copy;${COPY};['Web Servers'];0;Unofficial;`,
];
let baseId: string;
let copyId: string;

beforeAll(async () => {
  baseId = (await docker.getImage(BASE).inspect().catch(() => {
    throw new Error(`sample image ${BASE} is missing: run images/build.sh (make images)`);
  })).Id;
  execFileSync('docker', ['build', '-q', '-t', COPY, '-'], { input: `FROM ${BASE}\nLABEL confine.test.copy=${process.pid}\n` });
  copyId = (await docker.getImage(COPY).inspect()).Id;
}, 120_000);

afterAll(async () => {
  await docker.getImage(COPY).remove({ force: true }).catch(() => undefined);
});

it('the LABEL copy is another image ID over the same layers', async () => {
  expect(copyId).not.toBe(baseId);
  const [a, b] = await Promise.all([baseId, copyId].map(async (id) => (await docker.getImage(id).inspect()).RootFS));
  expect(b).toEqual(a);
});

describe('extractBinaries with a shared index', () => {
  const dir = tempWorkdir([]);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('makes one index pass for both images and gives them the same files', async () => {
    const indexes = new IndexShare();
    const req = (imageId: string) => ({ imageId, executed: ['/tinyhttpd'], mapped: [], all: false, outDir: path.join(dir, 'out'), labels: label, indexes });
    const [a, b] = await Promise.all([extractBinaries(docker, req(baseId)), extractBinaries(docker, req(copyId))]);
    expect(indexes.passes).toBe(1);
    expect([a.timings.indexShared, b.timings.indexShared].sort()).toEqual([false, true]);
    const { timings: _ta, ...ra } = a;
    const { timings: _tb, ...rb } = b;
    expect(rb).toEqual(ra);
    expect(a.files.map((f) => f.path)).toContain('/tinyhttpd');
    expect(a.files.some((f) => f.role === 'interpreter')).toBe(true);
    const left = await docker.listContainers({ all: true, filters: { label: [`confine.test=${label['confine.test']}`] } });
    expect(left).toEqual([]);
  }, 120_000);
});

describe('confine profiles --until extract-binaries on an image and its LABEL copy', () => {
  const dir = tempWorkdir(LIST);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** The extract entries the run wrote, by image name, with their stored log lines. */
  function extracts(): Map<string, { artifact: any; log: string[] }> {
    const out = new Map<string, { artifact: any; log: string[] }>();
    const cache = path.join(dir, '.confine-cache');
    for (const line of readFileSync(path.join(cache, 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line);
      if (r.stage !== 'extract-binaries' || r.status !== 'done') continue;
      const entry = JSON.parse(readFileSync(path.join(cache, 'objects', r.key.slice(0, 2), `${r.key}.json`), 'utf8'));
      out.set(r.image, { artifact: entry.artifact, log: entry.log });
    }
    return out;
  }

  it('extracts once: equal artifacts, the second reused', async () => {
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '2', '--jobs', '2', '--until', 'extract-binaries', '-o', 'out'], dir);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const x = extracts();
    const base = x.get('base')!;
    const copy = x.get('copy')!;
    const a = base.artifact;
    const b = copy.artifact;
    expect(b).toEqual(a);
    expect(a.files.map((f: any) => f.path)).toContain('/tinyhttpd');
    // Exactly one of the two extracted; the other took its result.
    const reused = [base, copy].filter((e) => e.log.some((l) => /files reused from an earlier extraction/.test(l)));
    expect(reused).toHaveLength(1);
    expect(containersOfDeadOwners()).toEqual([]);
  }, 180_000);

  it('scans and resolves once for both; each still gets a profile naming its own image', async () => {
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '2', '--jobs', '2', '-o', 'out'], dir);
    expect(r.code).toBe(0);
    const last = new Map<string, { status: string; key?: string }>();
    for (const line of readFileSync(path.join(dir, '.confine-cache', 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const rec = JSON.parse(line);
      last.set(`${rec.image}/${rec.stage}`, rec);
    }
    for (const stage of ['symbol-scan', 'syscall-resolve']) {
      const both = [last.get(`base/${stage}`)!, last.get(`copy/${stage}`)!];
      expect(both.map((b) => b.status).sort()).toEqual(['done', 'reused']);
      expect(both[0].key).toBe(both[1].key);
    }
    const profileOf = (image: string) => JSON.parse(readFileSync(path.join(dir, 'results', `${image}.seccomp.json`), 'utf8'));
    expect(profileOf('copy')).toEqual(profileOf('base'));
    const emitted = (image: string) => {
      const key = last.get(`${image}/profile-emit`)!.key!;
      return JSON.parse(readFileSync(path.join(dir, '.confine-cache', 'objects', key.slice(0, 2), `${key}.json`), 'utf8')).artifact;
    };
    expect(emitted('base').imageId).toBe(baseId);
    expect(emitted('copy').imageId).toBe(copyId);
  }, 180_000);
});
