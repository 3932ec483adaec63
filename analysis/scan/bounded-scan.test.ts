import { readFileSync } from 'node:fs';
import { ConfineError } from '../../pipeline/errors';
import { scanFile } from './scan-file';
import { BoundedScanner } from './bounded-scan';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const inline = (job: { bytes: Uint8Array; digest: string; path: string }) => scanFile(job.bytes, job.digest, job.path);
const job = () => ({ bytes: readFileSync(LIBC), digest: 'sha256:' + '1'.repeat(64), path: LIBC });

/** A fallback that must not run: the workers answer. */
const fellBack = (): never => {
  throw new Error('fell back');
};

/** The scanner's answer is the inline scan's, and it leaves no scan running. */
async function givesInlineResult(s: BoundedScanner): Promise<void> {
  try {
    const j = job();
    expect(await s.scan(j)).toEqual(inline(j));
    expect(s.running).toBe(0);
  } finally {
    await s.close();
  }
}

describe('BoundedScanner: scans on workers, stoppable and bounded', () => {
  it('gives what the inline scan gives', () => givesInlineResult(new BoundedScanner(1, 600_000, fellBack)), 120000);

  it('an abort ends the scan at once and leaves no worker running', async () => {
    const s = new BoundedScanner(1, 600_000, inline);
    const ac = new AbortController();
    const p = s.scan(job(), ac.signal);
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ kind: 'interrupted' });
    expect(s.running).toBe(0);
    await s.close();
  }, 120000);

  it('a scan past its time limit is stopped and fails with a message that says so', async () => {
    const s = new BoundedScanner(1, 1, inline);
    const e = await s.scan(job()).catch((x) => x);
    expect(e).toBeInstanceOf(ConfineError);
    expect(e.kind).toBe('analysis-failed');
    expect(e.message).toMatch(/took more than .* and was stopped/);
    expect(s.running).toBe(0);
    await s.close();
  }, 120000);

  it('without a usable worker the scan runs inline', async () => {
    const s = new BoundedScanner(1, 600_000, inline, '/nonexistent/scan-worker.js');
    const j = job();
    expect(await s.scan(j)).toEqual(inline(j));
    await s.close();
  }, 120000);
});

describe('BoundedScanner: a large object decoded by several workers', () => {
  // Small ranges, so libc (1.3 MB of code, under the real threshold) is split here.
  const SPLIT = { minBytes: 0, sliceBytes: 16 * 1024 };

  it('gives what the inline scan gives', () => givesInlineResult(new BoundedScanner(2, 600_000, fellBack, undefined, SPLIT)), 120000);

  it('an abort while ranges are out ends the scan at once; the helper stops and serves the next scan', async () => {
    const s = new BoundedScanner(2, 600_000, inline, undefined, SPLIT);
    const ac = new AbortController();
    const p = s.scan(job(), ac.signal);
    // Aborted the moment a helper is handed ranges: the split is under way.
    const poll = setInterval(() => s.helped > 0 && ac.abort(), 1);
    try {
      await expect(p).rejects.toMatchObject({ kind: 'interrupted' });
    } finally {
      clearInterval(poll);
    }
    expect(s.helped).toBeGreaterThan(0);
    expect(s.running).toBe(0);
    const j = job();
    expect(await s.scan(j)).toEqual(inline(j));
    expect(s.running).toBe(0);
    await s.close();
  }, 120000);
});
