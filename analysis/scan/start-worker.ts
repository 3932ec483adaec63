import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ScanWorkerData } from './scan-worker';

/**
 * Starts a scan worker on `script`: the compiled file as it is, or TypeScript sources
 * (tsx, jest), where a worker does not inherit tsx's loader for its entry file and so
 * registers tsx's require hook before loading the script. Throws when it cannot start.
 */
export function startScanWorker(script: string, workerData: ScanWorkerData): Worker {
  if (path.extname(script) === '.js') return new Worker(script, { workerData });
  const tsx = require.resolve('tsx/cjs');
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(script)});`, { eval: true, workerData });
}
