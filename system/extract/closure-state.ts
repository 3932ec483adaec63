import { readDynamicInfo, type DynamicInfo } from '../../analysis/elf/dynamic-info';
import { ConfineError } from '../../pipeline/errors';
import type { ImageReader } from '../image/image-reader';
import { DEFAULT_MAX_FILE_BYTES } from '../image/image-reader';
import type { ClosureFile, ClosureOptions, ClosureResult } from './closure-types';

/** A closure of a real image takes well under a second; this is a hostile one. */
export const DEFAULT_CLOSURE_TIME_LIMIT_MS = 120_000;
/** How often (ms of busy work) the walk lets the event loop run: a signal handler is a macrotask. */
const YIELD_EVERY_MS = 50;

/**
 * What one closure walk has found so far, and the image it reads: the files taken
 * (each once, by resolved path, the first role wins), the gaps reported, each object's
 * dynamic section (read once), and the walk's clock.
 */
export class ClosureState {
  readonly files = new Map<string, ClosureFile>();
  readonly notes: string[] = [];
  readonly maxBytes: number;
  private readonly missing = new Map<string, { name: string; neededBy: string }>();
  private readonly notScanned = new Map<string, { path: string; reason: string }>();
  private readonly unreadable = new Map<string, { path: string; reason: string }>();
  private readonly infoCache: Map<string, DynamicInfo | ConfineError>;
  private readonly started = Date.now();
  private lastYield = this.started;

  constructor(
    readonly fs: ImageReader,
    private readonly opts: ClosureOptions,
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.infoCache = opts.infoCache ?? new Map();
  }

  /** Called between steps: cached lookups await only microtasks, which never let a signal in. */
  checkpoint = async (): Promise<void> => {
    const now = Date.now();
    if (now - this.lastYield < YIELD_EVERY_MS) return;
    await new Promise((r) => setImmediate(r));
    this.lastYield = Date.now();
    const limit = this.opts.timeLimitMs ?? DEFAULT_CLOSURE_TIME_LIMIT_MS;
    if (this.opts.signal?.aborted) throw new ConfineError('interrupted', 'interrupted while following dependencies');
    if (this.lastYield - this.started > limit) throw new ConfineError('extract-failed', `following the image's dependencies took more than ${Math.round(limit / 1000)} s; an image built to make the search crawl? (refused)`);
  };

  /** Takes a file; false when it was already taken (under any role). */
  add(f: ClosureFile): boolean {
    if (this.files.has(f.resolvedPath)) return false;
    this.files.set(f.resolvedPath, f);
    return true;
  }

  /** A file not analysed, and why; the first reason stays. */
  skip = (path: string, reason: string): void => {
    if (!this.notScanned.has(path)) this.notScanned.set(path, { path, reason });
  };

  /** A file the container loads whose dependencies cannot be known: the image fails with it. */
  cannotRead = (path: string, reason: string): void => {
    this.skip(path, reason);
    if (!this.unreadable.has(path)) this.unreadable.set(path, { path, reason });
  };

  noteMissing(name: string, neededBy: string): void {
    const k = `${name}\0${neededBy}`;
    if (!this.missing.has(k)) this.missing.set(k, { name, neededBy });
  }

  /** The dynamic section of a file of the image, read once; a file that is not a readable ELF object is an error value. */
  async infoOf(resolved: string): Promise<DynamicInfo | ConfineError> {
    let v = this.infoCache.get(resolved);
    if (v) return v;
    try {
      v = readDynamicInfo(await this.fs.readFile(resolved, this.maxBytes), resolved);
    } catch (e) {
      v = e instanceof ConfineError ? e : new ConfineError('elf-malformed', (e as Error).message, { file: resolved });
    }
    this.infoCache.set(resolved, v);
    return v;
  }

  /** soname → files, from every ELF object whose dynamic info is known now. */
  sonames(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const [p, info] of this.infoCache) {
      if (info instanceof ConfineError || !info.soname || this.fs.stat(p)?.type !== 'file') continue;
      const l = m.get(info.soname) ?? [];
      l.push(p);
      m.set(info.soname, l);
    }
    return m;
  }

  result(configNotes: string[]): ClosureResult {
    return {
      files: [...this.files.values()],
      missing: [...this.missing.values()],
      notScanned: [...this.notScanned.values()],
      notes: [...new Set(configNotes), ...this.notes],
      unreadable: [...this.unreadable.values()],
    };
  }
}
