import { parseRunOptions } from '../system/docker/run-options';
import { traceContainer } from '../system/docker/container-runner';
import { runProbe } from '../system/probe/probe';
import { describeProbeWindow, probeThroughWindow, type ProbeWindowResult } from '../system/probe/probe-window';
import type { Stage } from '../pipeline/stage';
import type { TraceArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import type { ImageEntry } from '../formats/image-list';
import { probeFor, probeInput } from './probes';
import type { Services } from './services';

/**
 * Runs the image for --duration seconds and records every program executed in it and
 * every shared object its processes mapped. When --probes declares a probe for the
 * image, it is sent to 127.0.0.1 during the window (system/probe/probe-window.ts), so the
 * programs a request makes the server exec are traced too; a failing probe is a
 * warning here (verify is where it counts). Keyed by image ID, its docker-run options,
 * the duration and its probe (only when it has one, so images without a probe keep
 * their entries when a probes file is added): a rerun on an unchanged image reuses
 * the trace, unless the image's probe never passed while it ran (then it traces again).
 */
export function runAndTraceStage(services: Services): Stage<{}, TraceArtifact, RunConfig> {
  return {
    name: 'run-and-trace',
    // 4: execs through a descriptor resolved to their file, init found by its cgroup (history: CHANGELOG.md)
    version: 4,
    schema: 'confine/trace/v1',
    scope: 'image',
    needs: [],
    resource: 'container',
    configSlice: (c) => ({ durationSec: c.durationSec }),
    // The probe never passed (server too slow to start, a transient failure): the next
    // run traces again rather than reuse a trace that may lack what requests run.
    stillValid: async (out) => traceComplete(out),
    externalInputs: async (unit, config, ctx) => {
      const image = unit.data as ImageEntry;
      // Parse first: a bad flag is the user's to fix and needs no Docker to report.
      parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
      // The first stage that needs the image: one missing from the engine is pulled here.
      const id = await services.imageId(image.ref, { progress: (m) => ctx.progress(m), signal: ctx.signal });
      const probe = probeFor(config, image.name);
      return { image: id, options: image.extraOptions, ...(probe ? { probe: probeInput(probe) } : {}) };
    },
    run: async (_deps, ctx, unit, config) => {
      const image = unit.data as ImageEntry;
      const spec = parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
      for (const note of spec.notes) ctx.log(note);
      const probe = probeFor(config, image.name);
      let probed: ProbeWindowResult | undefined;
      const result = await traceContainer({
        docker: await services.docker(),
        image: await services.imageId(image.ref),
        spec,
        durationSec: config.durationSec,
        runLabel: services.runLabel,
        onProgress: (m) => ctx.progress(m),
        signal: ctx.signal,
        ...(probe
          ? {
              probe: async (windowOver: AbortSignal) => {
                probed = await probeThroughWindow((o) => runProbe(probe, o), { signal: windowOver, windowMs: config.durationSec * 1000 });
              },
            }
          : {}),
      });
      ctx.log(`${result.executedPaths.length} programs executed, ${result.mappedObjects.length} objects mapped${result.exitedEarly ? `, exited early (code ${result.exitCode})` : ''}`);
      for (const note of result.notes) ctx.log(note);
      if (probe) ctx.log(probed ? describeProbeWindow(probed).line : 'warning: the probe had not finished when the trace ended; its requests may not all have been traced');
      if (probe && !probed?.ready) ctx.log('the next run traces this image again (its probe never passed)');
      return { ...result, imageRef: image.ref, ...(probe ? { probeWindow: { ready: probed?.ready ?? false, passed: probed?.passed ?? 0, failed: probed?.failed ?? 0 } } : {}) };
    },
  };
}

/** A trace is reused unless the image's probe was sent during it and never passed. */
export function traceComplete(t: Pick<TraceArtifact, 'probeWindow'>): boolean {
  return t.probeWindow?.ready !== false;
}
