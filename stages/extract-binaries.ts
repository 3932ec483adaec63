import { promises as fs } from 'node:fs';
import { canonicalJson } from '../cache/canonical-json';
import { sha256Hex } from '../cache/digest';
import { inspectLayers } from '../system/docker/image-layers';
import { parseRunOptions } from '../system/docker/run-options';
import { extractBinaries, extractionEnv } from '../system/extract/extract-binaries';
import { storedFilePath } from '../system/extract/store-files';
import { execTooNotFoundError } from '../system/extract/exec-too';
import { ConfineError } from '../pipeline/errors';
import type { Stage } from '../pipeline/stage';
import type { ExtractArtifact, TraceArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import type { ImageEntry } from '../formats/image-list';
import type { Services } from './services';

const SCHEMA = 'confine/extract/v3';
/** The stage's and its memo's: a change to what extraction outputs must miss both. */
const VERSION = 12; // 12: a DT_NEEDED name a loaded object answers to (its soname) is that object, not searched again (history: CHANGELOG.md)

/**
 * Takes the executed programs, their interpreters, their DT_NEEDED closure and the
 * run-time-mapped objects out of the image (never starting it), storing each file
 * once under -o by sha256.
 *
 * The files depend on the image's layers, not its ID: the extraction is a memo keyed
 * by layer chain, executed and mapped paths, environment and options, so a re-tag or
 * LABEL copy of an image extracts nothing, and a copy with another CMD shares the
 * index pass (services.indexes) and reads only its own files.
 */
export function extractBinariesStage(services: Services): Stage<{ 'run-and-trace': TraceArtifact }, ExtractArtifact, RunConfig> {
  return {
    name: 'extract-binaries',
    version: VERSION,
    schema: SCHEMA,
    scope: 'image',
    needs: ['run-and-trace'],
    // It creates a container but never starts it: I/O, not a traced run.
    resource: 'io',
    configSlice: (c) => ({ outDir: c.outDir, allBinaries: c.allBinaries }),
    // Only when asked, so an image without exec programs keeps its cache entries.
    externalInputs: async (unit, config) => {
      const image = unit.data as ImageEntry;
      const execToo = execTooFor(config, image);
      const inputs: Record<string, string> = {};
      if (execToo.length) inputs.execToo = JSON.stringify(execToo);
      return inputs;
    },
    // The files live under -o, outside the cache: a hit is only good while they do.
    stillValid: (out, config) => allStored(out, config.outDir),
    run: async (deps, ctx, unit, config) => {
      const trace = deps['run-and-trace'];
      const image = unit.data as ImageEntry;
      const spec = parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
      const execToo = execTooFor(config, image);
      const docker = await services.docker();
      const layers = await inspectLayers(docker, trace.imageId);
      const executed = programsOfTheImage(trace.executedPaths, spec.init === true);
      const mappedCode = programsOfTheImage(trace.mappedCode ?? [], spec.init === true);
      const compute = async (): Promise<ExtractArtifact> => {
        const r = await extractBinaries(docker, {
          imageId: trace.imageId,
          layers,
          indexes: services.indexes,
          executed,
          ...(execToo.length ? { execToo } : {}),
          mapped: trace.mappedObjects,
          mappedCode,
          all: config.allBinaries,
          env: spec.env,
          outDir: config.outDir,
          onProgress: (m: string) => ctx.progress(m),
          signal: ctx.signal,
        });
        // A program asked for that the image lacks: the profile could not do what was asked.
        const notFound = r.execToo && execTooNotFoundError(r.execToo, image.name);
        if (notFound) throw new ConfineError(notFound.kind, notFound.message, { image: image.name, ...(spec.execToo ? { file: image.file, line: image.line } : {}) });
        if (r.unanalysable.length) {
          // Sound, not silent: without these files' code the profile would block what they do.
          const list = r.unanalysable.map((u) => `${u.path} (${u.reason})`);
          throw new ConfineError('analysis-failed', `${list.length} program(s) or libraries the container runs cannot be analysed: ${list.slice(0, 5).join('; ')}${list.length > 5 ? `; and ${list.length - 5} more` : ''}`);
        }
        return {
          layerChain: r.layerChain, files: r.files, missing: r.missing, notScanned: r.notScanned, ...(r.notes.length ? { notes: r.notes } : {}),
          ...(r.execToo ? { execToo: { asked: r.execToo.asked, programs: r.execToo.programs, missingTools: r.execToo.missingTools } } : {}),
        };
      };
      const memo = await ctx.memo<ExtractArtifact>(
        {
          name: 'extract-files',
          version: VERSION,
          schema: SCHEMA,
          config: { outDir: config.outDir, allBinaries: config.allBinaries },
          inputs: {
            layers: layers.layerChain,
            executed: sha256Hex(canonicalJson(executed)),
            mapped: sha256Hex(canonicalJson(trace.mappedObjects)),
            mappedCode: sha256Hex(canonicalJson(mappedCode)),
            env: sha256Hex(canonicalJson(extractionEnv(layers, spec.env))),
            ...(execToo.length ? { execToo: sha256Hex(canonicalJson(execToo)) } : {}),
          },
        },
        compute,
      );
      let result = memo.value;
      if (memo.reused) {
        if (await allStored(result, config.outDir)) ctx.log('files reused from an earlier extraction of the same layers and paths');
        // The same layers hold the same contents: extracting again puts back exactly these files.
        else result = await compute();
      }
      ctx.log(`${result.files.length} files extracted, ${result.missing.length} needed libraries not found`);
      for (const m of result.missing) ctx.log(`missing: ${m.name} (needed by ${m.neededBy})`);
      for (const n of result.notes ?? []) ctx.log(n);
      if (result.execToo) {
        const e = result.execToo;
        ctx.log(`--exec-too ${e.asked.join(',')}: ${e.programs.map((p) => (p.path.endsWith(`/${p.name}`) || p.path === p.name ? p.path : `${p.name} (${p.path})`)).join(', ')} analysed like executed programs`);
        if (e.missingTools.length) ctx.log(`--exec-too shell: not in the image: ${e.missingTools.join(', ')}`);
      }
      // No image ID in the output: a re-tag or LABEL copy yields the very same artifact,
      // so every stage after this one is reused for it.
      return result;
    },
  };
}

/** The image's own --exec-too (its list line) replaces the command line's. */
export function execTooFor(config: Pick<RunConfig, 'execToo'>, image: ImageEntry): string[] {
  const spec = parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
  return spec.execToo ?? config.execToo ?? [];
}

/**
 * The executed programs (or mapped code) the image supplies. With --init the engine
 * bind-mounts its own docker-init over /sbin/docker-init: not a file of the image, so not
 * taken from it (the trace notes it); every other program that ran and is not in the
 * image fails it.
 */
function programsOfTheImage(executed: string[], init: boolean): string[] {
  return init ? executed.filter((p) => p !== '/sbin/docker-init') : executed;
}

async function allStored(out: ExtractArtifact, outDir: string): Promise<boolean> {
  for (const f of out.files) {
    try {
      await fs.access(storedFilePath(outDir, f.digest));
    } catch {
      return false;
    }
  }
  return true;
}
