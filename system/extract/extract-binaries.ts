import { libraryNamesIn } from '../../analysis/summary/dlopen-names';
import { absolutePathsIn } from '../../analysis/summary/exec-paths';
import type Dockerode from 'dockerode';
import { readDynamicInfo, type DynamicInfo } from '../../analysis/elf/dynamic-info';
import { imageFsOver, openImageFs, type ImageFs } from '../docker/image-fs';
import { inspectLayers, type ImageLayers } from '../docker/image-layers';
import { ConfineError } from '../../pipeline/errors';
import { closureEnv, computeClosure, DEFAULT_PATH } from './closure';
import { envValue } from './library-search';
import { resolveExecToo, type ExecTooResolution } from './exec-too';
import type { IndexedImage, IndexShare } from './index-share';
import { DEFAULT_MAX_FILE_BYTES } from '../image/image-reader';
import { storeFiles, type StoredFileRow } from './store-files';

export interface ExtractOptions {
  imageId: string;
  executed: string[];
  /** --exec-too as asked (`shell`, names, paths): found in the image here, then taken like executed programs. */
  execToo?: string[];
  mapped: string[];
  /** The mapped paths that were mapped executable (closure.ts). */
  mappedCode?: string[];
  all: boolean;
  /** The run's -e values; the image's own Config.Env is read here and comes first. */
  env?: string[];
  outDir: string;
  onProgress?: (message: string) => void;
  maxFileBytes?: number;
  labels?: Record<string, string>;
  /** The image's layer chain and env, when the caller inspected it already (one round trip less). */
  layers?: ImageLayers;
  /** Index passes shared with other images of the same layer chain in this run. */
  indexes?: IndexShare;
  /** Aborts the dependency walk (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

export interface ExtractResult {
  /** The image's layer chain (system/docker/image-layers.ts): the files depend on it, not on the image ID. */
  layerChain: string;
  files: StoredFileRow[];
  missing: { name: string; neededBy: string }[];
  notScanned: { path: string; reason: string }[];
  notes: string[];
  /** --exec-too: what was asked, the programs found, and what was not (asked-for programs missing fail the image). */
  execToo?: ExecTooResolution;
  /**
   * Programs and libraries the container runs or loads that cannot be analysed (too
   * large to take out, dependencies unreadable, content not returned): the image's
   * profile would miss their syscalls, so the stage fails naming them.
   */
  unanalysable: { path: string; reason: string }[];
  /** indexShared: the index came from another image's pass (indexMillis is then that pass's time). */
  timings: { indexMillis: number; indexShared: boolean; closureMillis: number; storeMillis: number };
}

/** What of the image's Config.Env and the run's -e the extraction depends on: key shared work by it. */
export function extractionEnv(layers: Pick<ImageLayers, 'env'>, runEnv: string[] | undefined): string[] {
  return closureEnv([...layers.env, ...(runEnv ?? [])]);
}

const LOADER_CONFIG = (p: string) => p === '/etc/ld.so.conf' || p === '/etc/ld.so.preload' || p.startsWith('/etc/ld.so.conf.d/') || /^\/etc\/ld-musl-[^/]*\.path$/.test(p);

/**
 * The stage's core: one export pass indexes the image and parses every ELF object's
 * dynamic section on the way (so following DT_NEEDED costs no more engine round
 * trips), the closure is computed on that index, and the chosen files are stored
 * by content. The index is shared by every image with the same layer chain (when
 * `indexes` is given); a helper container is created only to read, and removed
 * whatever happens.
 */
export async function extractBinaries(docker: Dockerode, opts: ExtractOptions): Promise<ExtractResult> {
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const progress = opts.onProgress ?? (() => undefined);
  const layers = opts.layers ?? (await inspectLayers(docker, opts.imageId));
  const helperOpts = opts.labels ? { labels: opts.labels } : {};

  let own: ImageFs | undefined;
  const indexPass = async (): Promise<IndexedImage> => {
    const infos = new Map<string, DynamicInfo | ConfineError>();
    const libraryNames = new Map<string, string[]>();
    const execPaths = new Map<string, string[]>();
    progress('indexing the image filesystem');
    own = await openImageFs(docker, opts.imageId, {
      ...helperOpts,
      elfMaxBytes: maxBytes,
      onElfFile: (p, buf) => {
        const names = libraryNamesIn(buf);
        if (names.length) libraryNames.set(p, names);
        const paths = absolutePathsIn(buf);
        if (paths.length) execPaths.set(p, paths);
        try {
          infos.set(p, readDynamicInfo(buf, p));
        } catch (e) {
          infos.set(p, e instanceof ConfineError ? e : new ConfineError('elf-malformed', String(e), { file: p }));
        }
      },
      keepSmallFile: LOADER_CONFIG,
    });
    return { index: own.root.index, kept: own.root.kept, infos, libraryNames, execPaths, indexMillis: own.indexMillis };
  };
  // The size cap decides which ELF objects the pass parses, so it is part of the key.
  const got = opts.indexes ? await opts.indexes.get(`${layers.layerChain} ${maxBytes}`, indexPass) : { value: await indexPass(), shared: false };
  const indexed = got.value;
  const fs = own ?? imageFsOver(docker, opts.imageId, indexed, helperOpts);
  try {
    const t0 = performance.now();
    const env = extractionEnv(layers, opts.env);
    // As `docker exec` finds a program by name: the container's PATH (the image's, then -e).
    const execToo = opts.execToo?.length ? resolveExecToo(fs, opts.execToo, (envValue(env, 'PATH') ?? DEFAULT_PATH).split(':').filter((d) => d.startsWith('/'))) : undefined;
    progress(got.shared ? `index shared with an image of the same layers; following dependencies` : `indexed in ${Math.round(indexed.indexMillis)} ms; following dependencies`);
    const closure = await computeClosure(
      fs,
      { executed: opts.executed, ...(execToo ? { execToo: execToo.programs.map((p) => p.path) } : {}), mapped: opts.mapped, ...(opts.mappedCode ? { mappedCode: opts.mappedCode } : {}), all: opts.all, env },
      // A copy: the closure adds what it reads, and the shared map must not change under other images.
      { infoCache: new Map(indexed.infos), ...(indexed.libraryNames ? { libraryNames: indexed.libraryNames } : {}), ...(indexed.execPaths ? { execPaths: indexed.execPaths } : {}), maxBytes, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    const t1 = performance.now();
    progress(`storing ${closure.files.length} files`);
    const stored = await storeFiles(fs, closure.files, opts.outDir, { maxBytes, onProgress: progress });
    const t2 = performance.now();
    return {
      layerChain: layers.layerChain,
      files: stored.rows,
      missing: closure.missing,
      notScanned: [...closure.notScanned, ...stored.failed],
      notes: closure.notes,
      ...(execToo ? { execToo } : {}),
      unanalysable: [
        ...new Map(
          [
            ...closure.unreadable,
            // Data files mapped at run time (locale archives, databases) may be large; code may not.
            ...stored.failed.filter((f) => {
              const e = fs.stat(f.path);
              return !e || e.elf !== undefined || e.script === true;
            }),
          ].map((u) => [u.path, u] as const),
        ).values(),
      ],
      timings: { indexMillis: indexed.indexMillis, indexShared: got.shared, closureMillis: t1 - t0, storeMillis: t2 - t1 },
    };
  } finally {
    await fs.close();
  }
}
