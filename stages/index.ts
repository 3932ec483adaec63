import type { Stage } from '../pipeline/stage';
import type { RunConfig } from './config';
import { extractBinariesStage } from './extract-binaries';
import { runAndTraceStage } from './run-and-trace';
import type { Services } from './services';
import { symbolScanStage } from './symbol-scan';

/** The pipeline, in the order the DAG runs it. */
export const STAGE_NAMES = ['load-cfgs', 'run-and-trace', 'extract-binaries', 'symbol-scan', 'syscall-resolve', 'profile-emit', 'stats'];

export function allStages(services: Services): Stage<any, any, RunConfig>[] {
  return [runAndTraceStage(services), extractBinariesStage(services), symbolScanStage()];
}
