import { ContentStore } from '../cache/content-store';
import { fingerprintKey } from '../cache/fingerprint';
import type { ElfScanArtifact } from '../schemas/types';
import { scanFile, scanFingerprint } from '../stages/scan-file';

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
export async function cachedScan(store: ContentStore | undefined, job: ScanJob): Promise<ElfScanArtifact> {
  const fp = scanFingerprint(job.digest);
  if (store) {
    const got = await store.read<ElfScanArtifact>(fingerprintKey(fp));
    if (got.status === 'hit') return got.artifact;
  }
  const art = scanFile(job.bytes, job.digest, job.path);
  if (store) await store.write(fp, art);
  return art;
}
