import { parseRunOptions } from '../docker/run-options';
import { traceContainer } from '../docker/container-runner';
import type { Stage } from '../pipeline/stage';
import type { TraceArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import type { ImageEntry } from './image-list';
import type { Services } from './services';

/**
 * Runs the image for --duration seconds and records every program executed in it and
 * every shared object its processes mapped. Keyed by image ID, its docker-run options
 * and the duration: a rerun on an unchanged image reuses the trace.
 */
export function runAndTraceStage(services: Services): Stage<{}, TraceArtifact, RunConfig> {
  return {
    name: 'run-and-trace',
    // 2: binary trace records (names can no longer hide or forge execs), unrecorded execs detected
    version: 2,
    schema: 'confine/trace/v1',
    scope: 'image',
    needs: [],
    resource: 'container',
    configSlice: (c) => ({ durationSec: c.durationSec }),
    externalInputs: async (unit, _config, ctx) => {
      const image = unit.data as ImageEntry;
      // Parse first: a bad flag is the user's to fix and needs no Docker to report.
      parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
      // The first stage that needs the image: one missing from the engine is pulled here.
      const id = await services.imageId(image.ref, { progress: (m) => ctx.progress(m), signal: ctx.signal });
      return { image: id, options: image.extraOptions };
    },
    run: async (_deps, ctx, unit, config) => {
      const image = unit.data as ImageEntry;
      const spec = parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
      for (const note of spec.notes) ctx.log(note);
      const result = await traceContainer({
        docker: await services.docker(),
        image: await services.imageId(image.ref),
        spec,
        durationSec: config.durationSec,
        runLabel: services.runLabel,
        onProgress: (m) => ctx.progress(m),
        signal: ctx.signal,
      });
      ctx.log(`${result.executedPaths.length} programs executed, ${result.mappedObjects.length} objects mapped${result.exitedEarly ? `, exited early (code ${result.exitCode})` : ''}`);
      for (const note of result.notes) ctx.log(note);
      return { ...result, imageRef: image.ref };
    },
  };
}
