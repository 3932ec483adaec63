import { libraryNamesIn } from '../../analysis/summary/dlopen-names';
import { absolutePathsIn } from '../../analysis/summary/exec-paths';
import { readDynamicInfo, type DynamicInfo } from '../../analysis/elf/dynamic-info';
import { ConfineError } from '../../pipeline/errors';
import { normalizeImagePath } from '../image/image-index';
import type { ImageReader } from '../image/image-reader';
import { DEFAULT_MAX_FILE_BYTES } from '../image/image-reader';
import { buildSearchConfigWith, envValue, findLibrary, isMuslInterp, walkLdSoConf, type Checkpoint, type LoadedObject, type SearchConfig } from './library-search';

/**
 * Which files of an image a container can run: what it executed, the program
 * interpreters, the loader's DT_NEEDED closure of each, '#!' interpreters, and the
 * objects it mapped at run time with their own closures. Too many files is safe
 * (more syscalls allowed); a missed one is a false negative, so every doubt errs
 * toward including, and every gap is reported (missing, notScanned).
 */
export type ClosureRole = 'executed' | 'interpreter' | 'needed' | 'mapped' | 'dlopen' | 'script-interpreter' | 'exec-candidate' | 'exec-too' | 'all';

/** Roles a path string in reached code can name (and so activate): candidates, and --exec-too programs the container may also run itself. */
const nameable = (role: ClosureRole | undefined): boolean => role === 'exec-candidate' || role === 'exec-too';

export interface ClosureFile {
  /** As executed, needed or mapped, inside the image. */
  path: string;
  /** After following symlinks inside the image root. */
  resolvedPath: string;
  role: ClosureRole;
  neededBy?: string;
  /** For an exec candidate (or an --exec-too program): every path string that names it (symlinked aliases, a script it interprets); any of them activates it. */
  activatedBy?: string[];
}

export interface ClosureRequest {
  executed: string[];
  /** Programs an operator may run with `docker exec` (--exec-too), taken like executed ones (role 'exec-too'). */
  execToo?: string[];
  mapped: string[];
  /** The mapped paths that were mapped executable: code, so one that is not in the image cannot be had. */
  mappedCode?: string[];
  all: boolean;
  /** KEY=VALUE, image Config.Env then the run's -e (later wins): PATH and LD_LIBRARY_PATH matter. */
  env?: string[];
}

export interface ClosureResult {
  files: ClosureFile[];
  missing: { name: string; neededBy: string }[];
  notScanned: { path: string; reason: string }[];
  /** Loader configuration the image holds that was ignored (as ld.so ignores it) or cut short. */
  notes: string[];
  /**
   * ELF objects the container loads (executed, needed, interpreters, mapped) whose
   * dependencies could not be read: what they load is unknown, so the profile would be
   * a guess. The caller fails the image with these.
   */
  unreadable: { path: string; reason: string }[];
}

export interface ClosureOptions {
  /** DynamicInfo already computed (e.g. during the index pass), by resolved path; errors are kept as values. */
  infoCache?: Map<string, DynamicInfo | ConfineError>;
  /** Library names in each ELF object's strings (from the index pass), by resolved path; read from the file when absent. */
  libraryNames?: ReadonlyMap<string, string[]>;
  /** Absolute paths in each ELF object's strings (from the index pass), by resolved path; read from the file when absent. */
  execPaths?: ReadonlyMap<string, string[]>;
  maxBytes?: number;
  /** Stops the walk (a SIGTERM): checked between steps, with the event loop given a turn so signals arrive. */
  signal?: AbortSignal;
  /** Wall-clock bound on the whole walk, in ms: an image built to make it crawl fails instead of stalling the batch. */
  timeLimitMs?: number;
}

/** A closure of a real image takes well under a second; this is a hostile one. */
export const DEFAULT_CLOSURE_TIME_LIMIT_MS = 120_000;
/** How often (ms of busy work) the walk lets the event loop run: a signal handler is a macrotask. */
const YIELD_EVERY_MS = 50;

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Linux follows at most this many nested '#!' interpreters (BINPRM_MAX_RECURSION). */
const MAX_SCRIPT_DEPTH = 4;
/** Library strings of dlopen candidates are followed too, this many rounds. */
const DLOPEN_ROUNDS = 3;
/** Programs run by a constant path may run others by theirs: this many rounds. */
const EXEC_ROUNDS = 3;
const ET_EXEC = 2;
const ET_DYN = 3;

/**
 * The part of an environment the closure reads (PATH for '#!' env lookups,
 * LD_LIBRARY_PATH for the loader), later values winning; PATH as Docker gives a
 * container whose image sets none. Images that differ only in other variables, or in
 * an unset versus default PATH, get the same closure: callers key shared work by this.
 * (LD_PRELOAD and LD_AUDIT are read too: each adds objects to every dynamic program.)
 */
export function closureEnv(env: string[] | undefined): string[] {
  const out = [`PATH=${envValue(env, 'PATH') ?? DEFAULT_PATH}`];
  const llp = envValue(env, 'LD_LIBRARY_PATH');
  if (llp !== undefined) out.push(`LD_LIBRARY_PATH=${llp}`);
  for (const key of LOADER_INJECTION_VARS) {
    const v = envValue(env, key);
    if (v !== undefined) out.push(`${key}=${v}`);
  }
  return out;
}

/**
 * Variables that make glibc's ld.so load objects into every dynamic program before
 * it runs: LD_PRELOAD objects interpose symbols, LD_AUDIT objects are auditors whose
 * la_* callbacks ld.so calls (in a namespace of their own, with their own libraries).
 * Both run code the program never names, so both are taken like LD_PRELOAD.
 */
const LOADER_INJECTION_VARS = ['LD_PRELOAD', 'LD_AUDIT'] as const;

/** The loader splits LD_PRELOAD and /etc/ld.so.preload at blanks and colons. */
export function preloadNames(text: string | undefined): string[] {
  return (text ?? '').split(/[\s:]+/).filter(Boolean);
}

export async function computeClosure(fs: ImageReader, req: ClosureRequest, opts: ClosureOptions = {}): Promise<ClosureResult> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  const started = Date.now();
  const limit = opts.timeLimitMs ?? DEFAULT_CLOSURE_TIME_LIMIT_MS;
  let lastYield = started;
  /** Called between steps: cached lookups await only microtasks, which never let a signal in. */
  const checkpoint = async () => {
    const now = Date.now();
    if (now - lastYield < YIELD_EVERY_MS) return;
    await new Promise((r) => setImmediate(r));
    lastYield = Date.now();
    if (opts.signal?.aborted) throw new ConfineError('interrupted', 'interrupted while following dependencies');
    if (lastYield - started > limit) throw new ConfineError('extract-failed', `following the image's dependencies took more than ${Math.round(limit / 1000)} s; an image built to make the search crawl? (refused)`);
  };
  const infoCache = opts.infoCache ?? new Map<string, DynamicInfo | ConfineError>();
  const files = new Map<string, ClosureFile>();
  const missing = new Map<string, { name: string; neededBy: string }>();
  const notScanned = new Map<string, { path: string; reason: string }>();
  const skip = (path: string, reason: string) => {
    if (!notScanned.has(path)) notScanned.set(path, { path, reason });
  };
  const unreadable = new Map<string, { path: string; reason: string }>();
  const cannotRead = (path: string, reason: string) => {
    skip(path, reason);
    if (!unreadable.has(path)) unreadable.set(path, { path, reason });
  };
  const add = (f: ClosureFile): boolean => {
    if (files.has(f.resolvedPath)) return false;
    files.set(f.resolvedPath, f);
    return true;
  };

  const infoOf = async (resolved: string): Promise<DynamicInfo | ConfineError> => {
    let v = infoCache.get(resolved);
    if (v) return v;
    try {
      v = readDynamicInfo(await fs.readFile(resolved, maxBytes), resolved);
    } catch (e) {
      v = e instanceof ConfineError ? e : new ConfineError('elf-malformed', (e as Error).message, { file: resolved });
    }
    infoCache.set(resolved, v);
    return v;
  };

  const texts = await readConfigTexts(fs, checkpoint);
  const sonames = sonameMap(fs, infoCache);
  const configs = new Map<string, SearchConfig>();
  const configFor = async (interp: string | undefined): Promise<SearchConfig> => {
    const key = isMuslInterp(interp) ? `musl:${interp}` : 'glibc';
    let c = configs.get(key);
    if (!c) {
      c = await buildSearchConfigWith(fs, (p) => texts.get(normalizeImagePath(p)), { interp, env: req.env, sonames }, checkpoint);
      configs.set(key, c);
    }
    return c;
  };

  /** Breadth-first, as ld.so loads: each object's loader chain decides its RPATH search. */
  const loadDeps = async (root: LoadedObject, chainTail: LoadedObject[]) => {
    const exe = chainTail.length ? chainTail[chainTail.length - 1] : root;
    const cfg = await configFor(exe.info.interp ?? root.info.interp);
    const seen = new Set<string>([root.resolvedPath]);
    const queue: LoadedObject[][] = [[root, ...chainTail]];
    while (queue.length) {
      const chain = queue.shift()!;
      const obj = chain[0];
      for (const name of obj.info.needed) {
        await checkpoint();
        const found = findLibrary(fs, name, chain, cfg);
        if (!found) {
          const k = `${name}\0${obj.path}`;
          if (!missing.has(k)) missing.set(k, { name, neededBy: obj.path });
          continue;
        }
        for (const hit of [found, ...found.alternates]) {
          add({ path: hit.path, resolvedPath: hit.resolvedPath, role: 'needed', neededBy: obj.path });
          if (seen.has(hit.resolvedPath)) continue;
          seen.add(hit.resolvedPath);
          const info = await infoOf(hit.resolvedPath);
          if (info instanceof ConfineError) {
            cannotRead(hit.resolvedPath, `dependencies not followed: ${info.message}`);
            continue;
          }
          queue.push([{ path: hit.path, resolvedPath: hit.resolvedPath, info }, ...chain]);
        }
      }
    }
  };

  const pathDirs = (envValue(req.env, 'PATH') ?? DEFAULT_PATH).split(':').filter((d) => d.startsWith('/'));
  const doneExec = new Set<string>();
  const notes: string[] = [];
  /** Exec candidates: the path strings that activate each (by resolved path), and the interpreters a candidate script brings. */
  const candidateNames = new Map<string, Set<string>>();
  const scriptInterpreters = new Map<string, string[]>();
  const nameCandidate = (resolved: string, name: string): void => {
    let set = candidateNames.get(resolved);
    if (!set) candidateNames.set(resolved, (set = new Set()));
    if (set.has(name)) return;
    set.add(name);
    for (const i of scriptInterpreters.get(resolved) ?? []) if (nameable(files.get(i)?.role)) nameCandidate(i, name);
  };

  /** One program as execve would run it; returns its loaded object when it is ELF. */
  const execute = async (path: string, role: ClosureRole, neededBy: string | undefined, depth: number, activatedBy?: string): Promise<void> => {
    await checkpoint();
    const resolved = fs.resolve(path);
    const entry = resolved !== undefined ? fs.stat(resolved) : undefined;
    // A program that ran (or the interpreter of a script that ran) but is not a file of the
    // image was written at run time or comes from a volume: its code cannot be had, so the
    // image fails by its name rather than get a profile that denies what it does. A
    // candidate is only a guess at what may run, so one that is absent is only noted.
    const gap = role === 'executed' || role === 'script-interpreter' ? cannotRead : skip;
    if (resolved === undefined || !entry) return gap(path, 'not in the image (created at run time, or on a volume): its code cannot be analysed');
    if (entry.type !== 'file') return gap(path, `not a regular file in the image (${entry.type})`);
    // Neither ELF nor script: nothing to analyse, so nothing to take out of the image.
    if (!entry.script && !entry.elf) return skip(path, 'neither ELF nor a #! script');
    add({ path, resolvedPath: resolved, role, ...(neededBy !== undefined ? { neededBy } : {}) });
    if (activatedBy !== undefined && nameable(files.get(resolved)?.role)) nameCandidate(resolved, activatedBy);
    if (doneExec.has(resolved)) return;
    doneExec.add(resolved);

    if (entry.script) {
      if (depth >= MAX_SCRIPT_DEPTH) return skip(path, 'too many nested #! interpreters');
      const sb = parseShebang(entry.shebang ?? '');
      if (!sb) return skip(path, '#! line names no interpreter');
      // A candidate script's interpreters are candidates too, run when the script is (activatedBy),
      // and named by every name of the script (nameCandidate).
      const runInterpreter = async (interpreter: string) => {
        if (activatedBy === undefined) return execute(interpreter, role === 'exec-too' ? 'exec-too' : 'script-interpreter', path, depth + 1);
        await execute(interpreter, 'exec-candidate', activatedBy, depth + 1, activatedBy);
        const ri = fs.resolve(interpreter);
        if (ri !== undefined) scriptInterpreters.set(resolved, [...(scriptInterpreters.get(resolved) ?? []), ri]);
      };
      await runInterpreter(sb.interpreter);
      if (/(^|\/)env$/.test(sb.interpreter) && sb.envProgram) {
        const prog = sb.envProgram.includes('/') ? sb.envProgram : lookInPath(fs, sb.envProgram, pathDirs);
        if (prog) await runInterpreter(prog);
        else skip(`${path}: ${sb.envProgram}`, `'${sb.envProgram}' (run through env) is not in PATH ${pathDirs.join(':')}`);
      }
      return;
    }
    const info = await infoOf(resolved);
    if (info instanceof ConfineError) return role === 'all' ? skip(path, `dependencies not followed: ${info.message}`) : cannotRead(path, `dependencies not followed: ${info.message}`);
    const self: LoadedObject = { path, resolvedPath: resolved, info };
    if (info.interp) {
      const ri = fs.resolve(info.interp);
      if (ri === undefined) {
        const k = `${info.interp}\0${path}`;
        if (!missing.has(k)) missing.set(k, { name: info.interp, neededBy: path });
      } else {
        add({ path: info.interp, resolvedPath: ri, role: 'interpreter', neededBy: path });
        const ii = await infoOf(ri);
        // The loader has no DT_NEEDED of its own on glibc or musl; follow it anyway if it does.
        if (!(ii instanceof ConfineError) && ii.needed.length) await loadDeps({ path: info.interp, resolvedPath: ri, info: ii }, []);
      }
    }
    await loadDeps(self, []);
    exes.push(self);
  };

  const exes: LoadedObject[] = [];
  for (const p of req.executed) await execute(normalizeImagePath(p), 'executed', undefined, 0);
  for (const p of req.execToo ?? []) await execute(normalizeImagePath(p), 'exec-too', undefined, 0);

  // ld.so maps LD_PRELOAD, LD_AUDIT and /etc/ld.so.preload objects into every dynamic
  // program, before its own libraries: their constructors run, their exports interpose
  // any symbol or are called back by ld.so (la_*), so they are taken like objects mapped
  // at run time (every export a root). (LD_AUDIT is split at ':' by glibc; splitting at
  // blanks too only adds names, and musl ignores it: more files, never fewer.)
  // A process that lives shorter than the trace's maps sampling would miss them.
  // Searched as each loader flavour among the programs would (glibc and musl differ).
  const preloads = new Set<string>();
  const byFlavour = new Map<SearchConfig, LoadedObject>();
  for (const e of exes) {
    if (!e.info.interp) continue;
    const cfg = await configFor(e.info.interp);
    if (!byFlavour.has(cfg)) byFlavour.set(cfg, e);
  }
  for (const [source, names] of [
    ...LOADER_INJECTION_VARS.map((key) => [key, preloadNames(envValue(req.env, key))] as const),
    ['/etc/ld.so.preload', preloadNames(texts.get('/etc/ld.so.preload'))] as const,
  ]) {
    for (const name of names) {
      let found = false;
      for (const [cfg, exe] of byFlavour) {
        const hit = findLibrary(fs, name, [exe], cfg);
        if (hit) {
          preloads.add(hit.path);
          found = true;
        }
      }
      if (!found && byFlavour.size && !missing.has(`${name}\0${source}`)) missing.set(`${name}\0${source}`, { name, neededBy: source });
    }
  }

  const code = new Set((req.mappedCode ?? []).map(normalizeImagePath));
  for (const raw of [...preloads, ...req.mapped]) {
    await checkpoint();
    const path = normalizeImagePath(raw);
    const resolved = fs.resolve(path);
    const entry = resolved !== undefined ? fs.stat(resolved) : undefined;
    // Data files (a database on a volume) may well be outside the image; code mapped from
    // there (a library written at run time and dlopen'd) is code that cannot be analysed.
    const gap = code.has(path) ? cannotRead : skip;
    if (resolved === undefined || !entry) {
      gap(path, 'mapped at run time but not in the image (created at run time, or on a volume)');
      continue;
    }
    if (entry.type !== 'file') {
      gap(path, `mapped at run time but not a regular file in the image (${entry.type})`);
      continue;
    }
    add({ path, resolvedPath: resolved, role: 'mapped' });
    if (!entry.elf) continue; // data files (locale archives, caches) are mapped too
    const info = await infoOf(resolved);
    if (info instanceof ConfineError) {
      cannotRead(path, `dependencies not followed: ${info.message}`);
      continue;
    }
    // dlopen searches with the caller's and the executable's RPATH; the caller is not
    // known here, so each traced executable's chain is tried (extra finds are harmless).
    const obj: LoadedObject = { path, resolvedPath: resolved, info };
    if (exes.length === 0) await loadDeps(obj, []);
    for (const exe of exes) await loadDeps(obj, [exe]);
  }

  // Libraries a loaded object may dlopen by a constant name (`libnuma.so.1` in libproc2),
  // never seen mapped: taken with their closures as role 'dlopen', `neededBy` naming the
  // string. The walk adds one to a program only if reached code passes that name.
  /** Strings of one kind an object holds: from the index pass when it found them, else read from the file. */
  const stringsOf = (found: ReadonlyMap<string, string[]> | undefined, extract: (bytes: Uint8Array) => string[]) => async (resolved: string): Promise<string[]> => {
    if (found) return found.get(resolved) ?? [];
    try {
      return extract(await fs.readFile(resolved, maxBytes));
    } catch {
      return [];
    }
  };
  const namesOf = stringsOf(opts.libraryNames, libraryNamesIn);
  // A plugin opened from a directory built at run time under a constant file name
  // (libjli's "<java.home>/lib/server/" + "libjvm.so") is found anywhere in the image by that name.
  let basenames: Map<string, string[]> | undefined;
  const byBasename = (name: string): { path: string; resolvedPath: string } | undefined => {
    if (!basenames) {
      basenames = new Map();
      for (const [p, e] of fs.entries()) {
        if (e.type !== 'file' || !e.elf) continue;
        const b = p.slice(p.lastIndexOf('/') + 1);
        let l = basenames.get(b);
        if (!l) basenames.set(b, (l = []));
        l.push(p);
      }
    }
    const p = basenames.get(name)?.sort()[0];
    return p ? { path: p, resolvedPath: p } : undefined;
  };
  /** dlopen candidates named by the `from` objects, their names' candidates, …; returns the ELF files added. */
  const dlopenRounds = async (from: string[]): Promise<string[]> => {
    const added: string[] = [];
    let frontier = from;
    for (let round = 0; round < DLOPEN_ROUNDS && frontier.length && byFlavour.size; round++) {
      const names = new Set<string>();
      for (const p of frontier) for (const n of await namesOf(p)) names.add(n);
      const before = new Set(files.keys());
      for (const name of [...names].sort()) {
        for (const [cfg, exe] of byFlavour) {
          const hit = name.startsWith('/') ? (() => { const r = fs.resolve(name); return r && fs.stat(r)?.elf ? { path: name, resolvedPath: r } : undefined; })() : findLibrary(fs, name, [exe], cfg) ?? byBasename(name);
          if (!hit || files.has(hit.resolvedPath)) continue;
          add({ path: hit.path, resolvedPath: hit.resolvedPath, role: 'dlopen', neededBy: name });
          const info = await infoOf(hit.resolvedPath);
          if (info instanceof ConfineError) { skip(hit.path, `dependencies not followed: ${info.message}`); continue; }
          await loadDeps({ path: hit.path, resolvedPath: hit.resolvedPath, info }, [exe]);
        }
      }
      frontier = [...files.keys()].filter((p) => !before.has(p) && fs.stat(p)?.elf);
      added.push(...frontier);
    }
    return added;
  };

  // Programs a loaded object may run by a constant absolute path (`/bin/sh` in glibc's
  // system() and popen()), never seen running: taken with their closures as role
  // 'exec-candidate', `neededBy` naming the string. The walk adds one only if a program
  // that reaches an exec refers to that string from reached code.
  const pathsOf = stringsOf(opts.execPaths, absolutePathsIn);
  const isProgram = async (resolved: string): Promise<boolean> => {
    const e = fs.stat(resolved);
    if (!e || e.type !== 'file' || (e.mode & 0o111) === 0) return false;
    if (e.script) return true;
    if (!e.elf) return false;
    if (e.elf.etype === ET_EXEC) return true;
    if (e.elf.etype !== ET_DYN) return false;
    // A PIE program has a loader to name; a shared library (and the loader itself) has none.
    const info = await infoOf(resolved);
    return !(info instanceof ConfineError) && !!info.interp;
  };
  /** Programs named by the `from` objects, and theirs, …; returns the ELF files added. */
  const execRounds = async (from: string[]): Promise<string[]> => {
    const added: string[] = [];
    let frontier = from;
    for (let round = 0; round < EXEC_ROUNDS && frontier.length; round++) {
      const paths = new Set<string>();
      for (const p of frontier) for (const n of await pathsOf(p)) paths.add(n);
      const before = new Set(files.keys());
      for (const name of [...paths].sort()) {
        await checkpoint();
        const r = fs.resolve(normalizeImagePath(name));
        if (r === undefined) continue;
        const had = files.get(r);
        // Another name of a candidate (a symlinked alias): it activates the candidate too.
        if (had) {
          if (nameable(had.role)) nameCandidate(r, name);
          continue;
        }
        if (!(await isProgram(r))) continue;
        await execute(normalizeImagePath(name), 'exec-candidate', name, 0, name);
      }
      frontier = [...files.keys()].filter((p) => !before.has(p) && fs.stat(p)?.elf);
      added.push(...frontier);
    }
    if (frontier.length) notes.push(`programs named by a constant path were followed ${EXEC_ROUNDS} levels deep; ${frontier.length} found at the last level were not searched for more`);
    return added;
  };
  // dlopen and exec candidates can bring each other: alternate until neither adds a file.
  let fresh = [...files.values()].filter((f) => fs.stat(f.resolvedPath)?.elf).map((f) => f.resolvedPath);
  for (let pass = 0; pass < DLOPEN_ROUNDS && fresh.length; pass++) {
    const libs = await dlopenRounds(fresh);
    const progs = await execRounds([...fresh, ...libs]);
    fresh = pass === 0 ? progs : [...libs, ...progs];
  }
  for (const f of files.values()) {
    if (f.role === 'exec-candidate') f.activatedBy = [...(candidateNames.get(f.resolvedPath) ?? [])].sort();
    else if (f.role === 'exec-too' && candidateNames.has(f.resolvedPath)) f.activatedBy = [...candidateNames.get(f.resolvedPath)!].sort();
  }

  if (req.all) {
    const candidates = [...fs.entries()].filter(([, e]) => e.type === 'file' && e.elf && (e.elf.etype === ET_EXEC || e.elf.etype === ET_DYN));
    for (const [p, e] of candidates) {
      await checkpoint();
      if (e.elf!.etype === ET_DYN) {
        const info = await infoOf(p);
        if (info instanceof ConfineError) {
          skip(p, `not classified: ${info.message}`);
          continue;
        }
        if (!info.isPie) continue; // a shared library, not a program
      }
      await execute(p, 'all', undefined, 0);
    }
  }

  notes.unshift(...new Set([...configs.values()].flatMap((c) => c.notes ?? [])));
  return { files: [...files.values()], missing: [...missing.values()], notScanned: [...notScanned.values()], notes, unreadable: [...unreadable.values()] };
}

/** Linux's reading: interpreter up to the first blank, the rest (trimmed) is one argument. */
export function parseShebang(line: string): { interpreter: string; arg?: string; envProgram?: string } | undefined {
  const s = line.replace(/^[ \t]+/, '').replace(/[ \t\r]+$/, '');
  if (!s) return undefined;
  const m = /^(\S+)(?:[ \t]+(.*))?$/.exec(s)!;
  const interpreter = m[1];
  const arg = m[2];
  let envProgram: string | undefined;
  if (arg !== undefined) {
    // `env -S "prog args"` and `env -i prog`: the first word that is not an option or VAR=value.
    const words = arg.split(/[ \t]+/);
    for (let i = 0; i < words.length; i++) {
      const w = words[i].replace(/^["']/, '');
      if (w === '-S' || w === '--split-string' || w === '-i' || w === '-' || w === '--ignore-environment') continue;
      if (w === '-u' || w === '--unset' || w === '-C' || w === '--chdir') {
        i++;
        continue;
      }
      if (w.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) continue;
      envProgram = w.replace(/["']$/, '');
      break;
    }
  }
  return { interpreter, ...(arg !== undefined ? { arg } : {}), ...(envProgram ? { envProgram } : {}) };
}

/** execvp's search: the first PATH entry with an executable regular file of that name. */
export function lookInPath(fs: Pick<ImageReader, 'resolve' | 'stat'>, name: string, dirs: string[]): string | undefined {
  for (const d of dirs) {
    const p = normalizeImagePath(`${d}/${name}`);
    const r = fs.resolve(p);
    const e = r !== undefined ? fs.stat(r) : undefined;
    if (e && e.type === 'file' && (e.mode & 0o111) !== 0) return p;
  }
  return undefined;
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

/** soname → files, from every ELF object whose dynamic info is already known. */
function sonameMap(fs: ImageReader, cache: Map<string, DynamicInfo | ConfineError>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [p, info] of cache) {
    if (info instanceof ConfineError || !info.soname || fs.stat(p)?.type !== 'file') continue;
    const l = m.get(info.soname) ?? [];
    l.push(p);
    m.set(info.soname, l);
  }
  return m;
}
