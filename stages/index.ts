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
import { verifyStage } from './verify';

/** The pipeline, in the order the DAG runs it. */
export const STAGE_NAMES = ['load-cfgs', 'run-and-trace', 'extract-binaries', 'symbol-scan', 'syscall-resolve', 'profile-emit', 'stats'];

/** The stages of a run; verify (which runs every image twice more) only when asked. */
export function allStages(services: Services, config?: Pick<RunConfig, 'verify'>): Stage<any, any, RunConfig>[] {
  const stages: Stage<any, any, RunConfig>[] = [
    loadCfgsStage(),
    runAndTraceStage(services),
    extractBinariesStage(services),
    symbolScanStage(),
    syscallResolveStage(),
    profileEmitStage(services),
    statsStage(),
  ];
  if (config?.verify) stages.splice(stages.length - 1, 0, verifyStage(services));
  return stages;
}
