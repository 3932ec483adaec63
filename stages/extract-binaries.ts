import { promises as fs } from 'node:fs';
import { extractBinaries } from '../extract/extract-binaries';
import { storedFilePath } from '../extract/store-files';
import type { Stage } from '../pipeline/stage';
import type { ExtractArtifact, TraceArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import type { ImageEntry } from './image-list';
import type { Services } from './services';
import { parseRunOptions } from '../docker/run-options';

/**
 * Takes the executed programs, their interpreters, their DT_NEEDED closure and the
 * run-time-mapped objects out of the image (never starting it), storing each file
 * once under -o by sha256.
 */
export function extractBinariesStage(services: Services): Stage<{ 'run-and-trace': TraceArtifact }, ExtractArtifact, RunConfig> {
  return {
    name: 'extract-binaries',
    version: 1,
    schema: 'confine/extract/v1',
    scope: 'image',
    needs: ['run-and-trace'],
    // It creates a container but never starts it: I/O, not a traced run.
    resource: 'io',
    configSlice: (c) => ({ outDir: c.outDir, allBinaries: c.allBinaries }),
    // The files live under -o, outside the cache: a hit is only good while they do.
    stillValid: async (out, config) => {
      for (const f of out.files) {
        try {
          await fs.access(storedFilePath(config.outDir, f.digest));
        } catch {
          return false;
        }
      }
      return true;
    },
    run: async (deps, ctx, unit, config) => {
      const trace = deps['run-and-trace'];
      const image = unit.data as ImageEntry;
      const spec = parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
      const result = await extractBinaries(await services.docker(), {
        imageId: trace.imageId,
        executed: trace.executedPaths,
        mapped: trace.mappedObjects,
        all: config.allBinaries,
        env: spec.env,
        outDir: config.outDir,
        onProgress: (m: string) => ctx.progress(m),
      });
      ctx.log(`${result.files.length} files extracted, ${result.missing.length} needed libraries not found`);
      for (const m of result.missing) ctx.log(`missing: ${m.name} (needed by ${m.neededBy})`);
      return { imageId: trace.imageId, files: result.files, missing: result.missing, notScanned: result.notScanned };
    },
  };
}
