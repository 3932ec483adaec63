import * as fs from 'fs';
import * as path from 'path';
import { sha256Hex } from '../cache/digest';
import { scanFile } from '../stages/scan-file';
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
    expect(pool.stats).toEqual({ inWorker: jobs.length, inline: 0 });
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
