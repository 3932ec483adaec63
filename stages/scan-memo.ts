import { promises as fs } from 'node:fs';
import type { CacheKey } from '../cache/digest';
import type { StageContext } from '../pipeline/stage';
import type { ElfScanArtifact } from '../schemas/types';
import { scanFile, scanFingerprint } from '../analysis/scan/scan-file';
import { storedFilePath } from '../system/extract/store-files';

/**
 * One extracted file's scan through the stage's memo (shared by every image with that
 * content, read back across runs), under the very key scanFingerprint gives.
 */
export function memoScan(ctx: StageContext, outDir: string, file: { digest: string; path: string }): Promise<{ key: CacheKey; value: ElfScanArtifact; reused: boolean }> {
  const { stage, ...key } = scanFingerprint(file.digest);
  return ctx.memo<ElfScanArtifact>({ name: stage, ...key }, () =>
    ctx.cpu(async () => {
      const bytes = await fs.readFile(storedFilePath(outDir, file.digest));
      // On a worker: the main thread keeps answering signals, and a scan that crawls is cut off.
      const { sharedScanner } = require('../analysis/scan/bounded-scan') as typeof import('../analysis/scan/bounded-scan');
      return sharedScanner((job) => scanFile(job.bytes, job.digest, job.path)).scan({ bytes, digest: file.digest, path: file.path }, ctx.signal);
    }),
  );
}
