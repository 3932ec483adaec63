import type Dockerode from 'dockerode';
import { readDynamicInfo, type DynamicInfo } from '../elf/dynamic-info';
import { openImageFs } from '../docker/image-fs';
import { ConfineError } from '../pipeline/errors';
import { computeClosure } from './closure';
import { DEFAULT_MAX_FILE_BYTES } from './image-reader';
import { storeFiles, type StoredFileRow } from './store-files';

export interface ExtractOptions {
  imageId: string;
  executed: string[];
  mapped: string[];
  all: boolean;
  /** The run's -e values; the image's own Config.Env is read here and comes first. */
  env?: string[];
  outDir: string;
  onProgress?: (message: string) => void;
  maxFileBytes?: number;
  labels?: Record<string, string>;
}

export interface ExtractResult {
  files: StoredFileRow[];
  missing: { name: string; neededBy: string }[];
  notScanned: { path: string; reason: string }[];
  timings: { indexMillis: number; closureMillis: number; storeMillis: number };
}

/**
 * The stage's core: one export pass indexes the image and parses every ELF object's
 * dynamic section on the way (so following DT_NEEDED costs no more engine round
 * trips), the closure is computed on that index, and the chosen files are stored
 * by content. The helper container is removed whatever happens.
 */
export async function extractBinaries(docker: Dockerode, opts: ExtractOptions): Promise<ExtractResult> {
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const progress = opts.onProgress ?? (() => undefined);
  let imageEnv: string[] = [];
  try {
    imageEnv = ((await docker.getImage(opts.imageId).inspect()).Config?.Env as string[] | undefined) ?? [];
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) throw new ConfineError('image-not-found', `image ${opts.imageId} is not in the local engine`);
    throw new ConfineError('docker-unavailable', `inspecting ${opts.imageId}: ${(e as Error).message}`);
  }

  const infoCache = new Map<string, DynamicInfo | ConfineError>();
  progress('indexing the image filesystem');
  const fs = await openImageFs(docker, opts.imageId, {
    ...(opts.labels ? { labels: opts.labels } : {}),
    elfMaxBytes: maxBytes,
    onElfFile: (p, buf) => {
      try {
        infoCache.set(p, readDynamicInfo(buf, p));
      } catch (e) {
        infoCache.set(p, e instanceof ConfineError ? e : new ConfineError('elf-malformed', String(e), { file: p }));
      }
    },
    keepSmallFile: (p) => p === '/etc/ld.so.conf' || p.startsWith('/etc/ld.so.conf.d/') || /^\/etc\/ld-musl-[^/]*\.path$/.test(p),
  });
  try {
    const t0 = performance.now();
    progress(`indexed in ${Math.round(fs.indexMillis)} ms; following dependencies`);
    const closure = await computeClosure(
      fs,
      { executed: opts.executed, mapped: opts.mapped, all: opts.all, env: [...imageEnv, ...(opts.env ?? [])] },
      { infoCache, maxBytes },
    );
    const t1 = performance.now();
    progress(`storing ${closure.files.length} files`);
    const stored = await storeFiles(fs, closure.files, opts.outDir, { maxBytes, onProgress: progress });
    const t2 = performance.now();
    return {
      files: stored.rows,
      missing: closure.missing,
      notScanned: [...closure.notScanned, ...stored.failed],
      timings: { indexMillis: fs.indexMillis, closureMillis: t1 - t0, storeMillis: t2 - t1 },
    };
  } finally {
    await fs.close();
  }
}
