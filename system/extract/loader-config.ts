import { normalizeImagePath } from '../image/image-index';
import type { ImageReader } from '../image/image-reader';
import type { ClosureState } from './closure-state';
import { buildSearchConfigWith, envValue, findLibrary, isMuslInterp, walkLdSoConf, type Checkpoint, type LoadedObject, type SearchConfig } from './library-search';

/**
 * The image's loader configuration as the closure reads it: ld.so.conf with its includes
 * and musl's path files (read once, in batches), one search configuration per loader
 * flavour, and the objects the loader maps into every dynamic program (LD_PRELOAD,
 * LD_AUDIT, /etc/ld.so.preload).
 */
export class LoaderConfigs {
  private readonly configs = new Map<string, SearchConfig>();

  private constructor(
    private readonly state: ClosureState,
    private readonly texts: Map<string, string>,
    private readonly sonames: Map<string, string[]>,
    private readonly env: string[] | undefined,
  ) {}

  /** Reads the configuration files; the soname map is of the objects whose dynamic info is known before the walk. */
  static async read(state: ClosureState, env: string[] | undefined): Promise<LoaderConfigs> {
    const texts = await readConfigTexts(state.fs, state.checkpoint);
    return new LoaderConfigs(state, texts, state.sonames(), env);
  }

  /** The search of programs whose loader is `interp` (all glibc programs share one). */
  async configFor(interp: string | undefined): Promise<SearchConfig> {
    const key = isMuslInterp(interp) ? `musl:${interp}` : 'glibc';
    let c = this.configs.get(key);
    if (!c) {
      c = await buildSearchConfigWith(this.state.fs, (p) => this.texts.get(normalizeImagePath(p)), { interp, env: this.env, sonames: this.sonames }, this.state.checkpoint);
      this.configs.set(key, c);
    }
    return c;
  }

  /** One dynamic program per search configuration: what dlopen and preloading find is searched as each loader flavour among the programs would. */
  async flavoursOf(exes: LoadedObject[]): Promise<Map<SearchConfig, LoadedObject>> {
    const byFlavour = new Map<SearchConfig, LoadedObject>();
    for (const e of exes) {
      if (!e.info.interp) continue;
      const cfg = await this.configFor(e.info.interp);
      if (!byFlavour.has(cfg)) byFlavour.set(cfg, e);
    }
    return byFlavour;
  }

  /**
   * ld.so maps LD_PRELOAD, LD_AUDIT and /etc/ld.so.preload objects into every dynamic
   * program, before its own libraries: their constructors run, their exports interpose
   * any symbol or are called back by ld.so (la_*), so they are taken like objects mapped
   * at run time (every export a root). (LD_AUDIT is split at ':' by glibc; splitting at
   * blanks too only adds names, and musl ignores it: more files, never fewer.)
   * A process that lives shorter than the trace's maps sampling would miss them.
   * Returns the paths found; a name no flavour finds is reported missing.
   */
  preloads(byFlavour: Map<SearchConfig, LoadedObject>): Set<string> {
    const found = new Set<string>();
    for (const [source, names] of [
      ...LOADER_INJECTION_VARS.map((key) => [key, preloadNames(envValue(this.env, key))] as const),
      ['/etc/ld.so.preload', preloadNames(this.texts.get('/etc/ld.so.preload'))] as const,
    ]) {
      for (const name of names) {
        let any = false;
        for (const [cfg, exe] of byFlavour) {
          const hit = findLibrary(this.state.fs, name, [exe], cfg);
          if (hit) {
            found.add(hit.path);
            any = true;
          }
        }
        if (!any && byFlavour.size) this.state.noteMissing(name, source);
      }
    }
    return found;
  }

  /** What of the configuration was ignored or cut short, each configuration's notes in turn. */
  notes(): string[] {
    return [...this.configs.values()].flatMap((c) => c.notes ?? []);
  }
}

/**
 * Variables that make glibc's ld.so load objects into every dynamic program before
 * it runs: LD_PRELOAD objects interpose symbols, LD_AUDIT objects are auditors whose
 * la_* callbacks ld.so calls (in a namespace of their own, with their own libraries).
 * Both run code the program never names, so both are taken like LD_PRELOAD.
 */
export const LOADER_INJECTION_VARS = ['LD_PRELOAD', 'LD_AUDIT'] as const;

/** The loader splits LD_PRELOAD and /etc/ld.so.preload at blanks and colons. */
export function preloadNames(text: string | undefined): string[] {
  return (text ?? '').split(/[\s:]+/).filter(Boolean);
}

const CONFIG_TEXT_MAX = 1024 * 1024;

/**
 * The small text files the loader's search reads: ld.so.conf, whatever it includes,
 * and musl's path files. Include patterns are only known after parsing, so parse
 * with what is read so far and read what was asked for, until nothing new is asked.
 */
async function readConfigTexts(fs: ImageReader, checkpoint: Checkpoint): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  const tried = new Set<string>();
  const want = new Set<string>(['/etc/ld.so.conf', '/etc/ld.so.preload']);
  for (const [p, e] of fs.entries()) {
    if (e.type !== 'file' && e.type !== 'symlink') continue;
    if (/^\/etc\/ld-musl-[^/]*\.path$/.test(p) || p.startsWith('/etc/ld.so.conf.d/')) want.add(p);
  }
  for (let round = 0; round < 8 && [...want].some((p) => !tried.has(p)); round++) {
    const batch = new Map<string, string[]>(); // resolved → the names asked for
    for (const p of want) {
      if (tried.has(p)) continue;
      tried.add(p);
      const r = fs.resolve(p);
      const e = r !== undefined ? fs.stat(r) : undefined;
      if (r === undefined || !e || e.type !== 'file' || e.size > CONFIG_TEXT_MAX) continue;
      batch.set(r, [...(batch.get(r) ?? []), p]);
    }
    await readConfigBatch(fs, batch, texts, checkpoint);
    await walkLdSoConf(fs, (p) => {
      const n = normalizeImagePath(p);
      if (!texts.has(n)) want.add(n);
      return texts.get(n);
    }, checkpoint);
  }
  return texts;
}

/**
 * Reads a round's config files in one request (an export pass for many: an image can
 * include 256 files, and one archive request each took ~0.1 s with no abort between),
 * else, when one of them fails that request, one by one with a checkpoint between. A
 * file that cannot be read is left out: the loader would ignore it too.
 */
async function readConfigBatch(fs: ImageReader, batch: Map<string, string[]>, texts: Map<string, string>, checkpoint: Checkpoint): Promise<void> {
  if (!batch.size) return;
  const put = (resolved: string, content: Buffer) => {
    for (const p of batch.get(resolved) ?? []) texts.set(p, content.toString('utf8'));
  };
  await checkpoint();
  try {
    await fs.eachFile([...batch.keys()], CONFIG_TEXT_MAX, async (p, content) => {
      const parts: Buffer[] = [];
      for await (const c of content as AsyncIterable<Buffer>) parts.push(c);
      put(p, Buffer.concat(parts));
    });
    return;
  } catch {
    // one unreadable file fails the whole request: the rest are read one by one
  }
  for (const [r, asked] of batch) {
    if (texts.has(asked[0])) continue;
    await checkpoint();
    try {
      put(r, await fs.readFile(r, CONFIG_TEXT_MAX));
    } catch {
      // unreadable config: the loader would ignore it too
    }
  }
}
