import * as fs from 'fs';
import * as path from 'path';
import { sha256Hex } from '../../cache/digest';
import { scanFile } from './scan-file';
import { compile, tempDir } from '../x86/test-fixtures';
import { ScanPool } from './scan-pool';
import type { ScanJob } from './scan-job';

const PROGRAM = 'int main(void) { return 0; }';

let dir: string;
let jobs: ScanJob[];
beforeAll(() => {
  dir = tempDir('confine-pool-');
  const bins = [compile(dir, 'p.c', PROGRAM, 'dyn', ['-O2']), compile(dir, 'p.c', PROGRAM, 'static', ['-O2', '-static'])];
  const junk = path.join(dir, 'notes.txt');
  fs.writeFileSync(junk, 'not an ELF file');
  jobs = [...bins, junk].map((f) => {
    const bytes = fs.readFileSync(f);
    return { bytes, digest: `sha256:${sha256Hex(bytes)}`, path: f };
  });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('workers answer every job exactly as an inline scan would', async () => {
  const pool = new ScanPool(2, undefined);
  try {
    const got = await Promise.all(jobs.map((j) => pool.scan(j)));
    expect(got).toEqual(jobs.map((j) => scanFile(j.bytes, j.digest, j.path)));
    expect(pool.stats).toEqual({ inWorker: jobs.length, inline: 0, helped: 0 });
  } finally {
    await pool.close();
  }
});

test('a worker that cannot start costs nothing but speed: every job runs inline', async () => {
  const pool = new ScanPool(2, undefined, path.join(dir, 'no-such-worker.js'));
  try {
    const got = await Promise.all(jobs.map((j) => pool.scan(j)));
    expect(got).toEqual(jobs.map((j) => scanFile(j.bytes, j.digest, j.path)));
    expect(pool.stats.inWorker).toBe(0);
    expect(pool.stats.inline).toBe(jobs.length);
  } finally {
    await pool.close();
  }
});

test('size: CONFINE_SCAN_WORKERS decides, and a single job never starts a worker', () => {
  const saved = process.env.CONFINE_SCAN_WORKERS;
  try {
    process.env.CONFINE_SCAN_WORKERS = '3';
    expect(ScanPool.sizeFor(10)).toBe(3);
    expect(ScanPool.sizeFor(2)).toBe(2);
    expect(ScanPool.sizeFor(1)).toBe(0);
    process.env.CONFINE_SCAN_WORKERS = '0';
    expect(ScanPool.sizeFor(10)).toBe(0);
  } finally {
    if (saved === undefined) delete process.env.CONFINE_SCAN_WORKERS;
    else process.env.CONFINE_SCAN_WORKERS = saved;
  }
});

describe('with a store', () => {
  const { ContentStore } = require('../../cache/content-store') as typeof import('../../cache/content-store');
  const { validateArtifact } = require('../../schemas/validate') as typeof import('../../schemas/validate');
  const { fingerprintKey } = require('../../cache/fingerprint') as typeof import('../../cache/fingerprint');
  const { scanFingerprint } = require('./scan-file') as typeof import('./scan-file');

  test('workers answer first and write after; flush returns once every entry is on disk and valid', async () => {
    const store = new ContentStore(path.join(dir, 'store'), validateArtifact);
    const pool = new ScanPool(2, store);
    try {
      const got = await Promise.all(jobs.map((j) => pool.scan(j)));
      await pool.flush();
      for (const [k, j] of jobs.entries()) {
        const back = await store.read(fingerprintKey(scanFingerprint(j.digest)));
        expect(back.status).toBe('hit');
        expect(back.status === 'hit' && back.artifact).toEqual(got[k]);
      }
      expect(pool.stats.inWorker).toBe(jobs.length);
    } finally {
      await pool.close();
    }
  });

  test('a write that fails in a worker fails flush, as it would fail the inline scan', async () => {
    const notADir = path.join(dir, 'a-file');
    fs.writeFileSync(notADir, 'x');
    const store = new ContentStore(notADir, validateArtifact);
    const pool = new ScanPool(2, store);
    try {
      await Promise.all(jobs.map((j) => pool.scan(j)));
      await expect(pool.flush()).rejects.toThrow(/ENOTDIR|EEXIST|not a directory/);
      await expect(cachedScanInline(store)).rejects.toThrow(/ENOTDIR|EEXIST|not a directory/);
    } finally {
      await pool.close();
    }
  });

  const cachedScanInline = async (store: InstanceType<typeof ContentStore>) => {
    const { cachedScan } = require('./scan-job') as typeof import('./scan-job');
    return cachedScan(store, jobs[0]);
  };
});

describe('a large object decoded by several workers', () => {
  const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
  // Small ranges, so libc (1.3 MB of code, under the real threshold) is split here.
  const SPLIT = { minBytes: 0, sliceBytes: 16 * 1024 };

  test('one job: a second worker is started to help, and the artifact is the inline one', async () => {
    const bytes = fs.readFileSync(LIBC);
    const job = { bytes, digest: `sha256:${sha256Hex(bytes)}`, path: LIBC };
    const pool = new ScanPool(2, undefined, undefined, SPLIT);
    try {
      const got = await pool.scan(job);
      expect(pool.stats.helped).toBeGreaterThan(0);
      expect(pool.stats.inWorker).toBe(1);
      expect(got).toEqual(scanFile(job.bytes, job.digest, job.path));
    } finally {
      await pool.close();
    }
  }, 120000);
});
