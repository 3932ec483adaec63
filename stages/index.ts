import type { Stage } from '../pipeline/stage';
import type { RunConfig } from './config';
import { extractBinariesStage } from './extract-binaries';
import { loadCfgsStage } from './load-cfgs';
import { profileEmitStage } from './profile-emit';
import { runAndTraceStage } from './run-and-trace';
import type { Services } from './services';
import { statsStage } from './stats';
import { symbolScanStage } from './symbol-scan';
import { syscallResolveStage } from './syscall-resolve';

/** The pipeline, in the order the DAG runs it. */
export const STAGE_NAMES = ['load-cfgs', 'run-and-trace', 'extract-binaries', 'symbol-scan', 'syscall-resolve', 'profile-emit', 'stats'];

export function allStages(services: Services): Stage<any, any, RunConfig>[] {
  return [
    loadCfgsStage(),
    runAndTraceStage(services),
    extractBinariesStage(services),
    symbolScanStage(),
    syscallResolveStage(),
    profileEmitStage(services),
    statsStage(),
  ];
}
