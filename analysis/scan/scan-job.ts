import { ContentStore } from '../../cache/content-store';
import { fingerprintKey } from '../../cache/fingerprint';
import type { ElfScanArtifact } from '../../schemas/types';
import { scanFile, scanFingerprint } from './scan-file';
import type { SplitOptions } from '../x86/decode-slices';
import { at } from './timing-stamp';

/** One file to scan: its bytes, `sha256:` digest, and the path messages name it by. */
export interface ScanJob {
  bytes: Uint8Array;
  digest: string;
  path: string;
}

/**
 * The scan of one file by content: read back from the store when it holds a valid
 * entry (the store re-checks hash and schema), else computed and written. The same
 * code runs inline and in the pool's workers, so both produce the same entries.
 */
export async function cachedScan(
  store: ContentStore | undefined,
  job: ScanJob,
  /** Given, the new entry's write is handed over instead of awaited: the caller answers first and writes after. */
  deferWrite?: (write: () => Promise<void>) => void,
  /** Where a large object's decode ranges may run (a worker's helpers, slice-help.ts). */
  split?: SplitOptions,
): Promise<ElfScanArtifact> {
  const fp = scanFingerprint(job.digest);
  const t0 = performance.now();
  if (store) {
    const got = await store.read<ElfScanArtifact>(fingerprintKey(fp));
    if (got.status === 'hit') {
      timing(job, `read back in ${ms(t0)}`);
      return got.artifact;
    }
  }
  const t1 = performance.now();
  const art = scanFile(job.bytes, job.digest, job.path, split);
  const t2 = performance.now();
  const write = async () => {
    const t3 = performance.now();
    await store!.write(fp, art);
    timing(job, `stored in ${ms(t3)}`);
  };
  timing(job, `scanned in ${ms(t1, t2)}`);
  if (store) {
    if (deferWrite) deferWrite(write);
    else await write();
  }
  return art;
}

const ms = (from: number, to = performance.now()) => `${((to - from) / 1000).toFixed(2)} s`;

/** CONFINE_ANALYZE_TIMING=1: one line per file on stderr (which thread, how long), for profiling. */
function timing(job: ScanJob, what: string): void {
  if (!process.env.CONFINE_ANALYZE_TIMING) return;
  const { isMainThread, threadId } = require('node:worker_threads') as typeof import('node:worker_threads');
  process.stderr.write(`[analyze] ${at()}${isMainThread ? 'main' : `worker ${threadId}`}: ${job.path} (${(job.bytes.length / 1048576).toFixed(1)} MB) ${what}\n`);
}
