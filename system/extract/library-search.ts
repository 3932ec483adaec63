import type { DynamicInfo } from '../../analysis/elf/dynamic-info';
import { compileComponent, fnmatch, hasWildcard } from './fnmatch';
import { dirnameImage, normalizeImagePath, type IndexEntry } from '../image/image-index';

/**
 * Where the dynamic loader of an image finds a DT_NEEDED name, computed from the
 * image's own files only. glibc's order (elf/dl-load.c _dl_map_object):
 *   DT_RPATH of the loader and of each object up its loader chain and of the
 *   executable (only while the direct loader has no DT_RUNPATH), LD_LIBRARY_PATH,
 *   the loader's DT_RUNPATH, ld.so.cache (here: the image's ld.so.conf dirs, by file
 *   name and by DT_SONAME), then the trusted default directories.
 * musl's (ldso/dynlink.c load_library): LD_LIBRARY_PATH, the rpath (RUNPATH else
 * RPATH) of each object up the chain, /etc/ld-musl-ARCH.path else
 * /lib:/usr/local/lib:/usr/lib; its libc/libm/libpthread/... are the loader itself.
 * A candidate of the wrong ELF class or machine is skipped, as ld.so does.
 */

/**
 * What the search needs of a root: lookups only, no reads. An image's index lists all
 * its entries (read once for include globs); a root on disk (system/image/dir-root.ts)
 * lists one directory at a time.
 */
export type IndexLookup = {
  /** lstat, with `elf` set for a regular file that is an ELF object. */
  stat(path: string): IndexEntry | undefined;
  resolve(path: string): string | undefined;
} & ({ entries(): Iterable<[string, IndexEntry]> } | { listDir(dir: string): string[] });

/** One object already loaded: the name it was found under and what its dynamic section says. */
export interface LoadedObject {
  path: string;
  resolvedPath: string;
  info: DynamicInfo;
}

export interface SearchConfig {
  flavor: 'glibc' | 'musl';
  /** Directories of the image's ld.so.conf (with includes), in file order; those that are not directories of the image are left out. */
  ldSoConfDirs: string[];
  /** musl's /etc/ld-musl-ARCH.path, when the image has one. */
  muslPath?: string[];
  /** LD_LIBRARY_PATH from the container's environment, split. */
  ldLibraryPath: string[];
  /** soname → files carrying it in the cache's directories, for libraries whose file name is not their soname (asked only when a name is not found by file name). */
  sonames?: SonameFiles;
  /** The loader's path, for musl's built-in libraries. */
  interp?: string;
  /** What of the image's loader configuration was ignored or cut short, and why. */
  notes?: string[];
}

/** soname → the resolved paths of files with that DT_SONAME (a Map, or a lookup that reads them when first asked). */
export type SonameFiles = { get(soname: string): string[] | undefined };

export const GLIBC_DEFAULT_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
export const MUSL_DEFAULT_DIRS = ['/lib', '/usr/local/lib', '/usr/lib'];
/** glibc ≥ 2.33 looks in these subdirectories of every search directory first, best level the CPU supports. */
export const GLIBC_HWCAPS_SUBDIRS = ['glibc-hwcaps/x86-64-v4', 'glibc-hwcaps/x86-64-v3', 'glibc-hwcaps/x86-64-v2'];
/** $LIB: Debian's multiarch value, then upstream's for x86-64. */
const LIB_EXPANSIONS = ['lib/x86_64-linux-gnu', 'lib64'];
/** $PLATFORM: depends on the CPU; both values x86-64 glibc uses. */
const PLATFORM_EXPANSIONS = ['x86_64', 'haswell'];

const MUSL_BUILTIN = /^lib(c|pthread|rt|m|dl|util|xnet)\.so(\.|$)/;

export function isMuslInterp(interp: string | undefined): boolean {
  return interp !== undefined && /ld-musl-[^/]*\.so/.test(interp);
}

export interface Found {
  path: string;
  resolvedPath: string;
  /** How the search reached it, for messages and tests. */
  via: string;
  /** Other files the same lookup could load on another CPU (glibc-hwcaps variants in the same directory). */
  alternates: { path: string; resolvedPath: string }[];
}

/**
 * Finds `name` for the object at the head of `chain` ([direct loader, its loader,
 * ..., executable]). Names with a '/' are paths (relative ones taken from '/', since
 * the working directory at load time is unknown here).
 */
export function findLibrary(fs: IndexLookup, name: string, chain: LoadedObject[], cfg: SearchConfig): Found | undefined {
  const exe = chain[chain.length - 1];
  const want = exe?.info;
  if (name.includes('/')) {
    const hit = candidate(fs, normalizeImagePath(name), want);
    return hit && { ...hit, via: 'path', alternates: [] };
  }
  if (cfg.flavor === 'musl' && MUSL_BUILTIN.test(name) && cfg.interp) {
    const r = fs.resolve(cfg.interp);
    if (r) return { path: cfg.interp, resolvedPath: r, via: 'musl-builtin', alternates: [] };
  }
  for (const { dirs, via, hwcaps } of searchOrder(chain, cfg)) {
    for (const dir of dirs) {
      const hit = inDir(fs, dir, name, want, hwcaps);
      if (hit) return { ...hit, via };
    }
    if (via === 'ld.so.cache' && cfg.sonames) {
      // ldconfig caches a library under its DT_SONAME even when no file has that name.
      for (const p of cfg.sonames.get(name) ?? []) {
        const d = dirnameImage(p);
        if (!cfg.ldSoConfDirs.includes(d) && !GLIBC_DEFAULT_DIRS.includes(d)) continue;
        const hit = candidate(fs, p, want);
        if (hit) return { ...hit, via: 'ld.so.cache soname', alternates: [] };
      }
    }
  }
  return undefined;
}

/** The directory lists in the order the loader tries them, $ORIGIN/$LIB/$PLATFORM expanded. */
export function searchOrder(chain: LoadedObject[], cfg: SearchConfig): { via: string; dirs: string[]; hwcaps: boolean }[] {
  const loader = chain[0];
  const exe = chain[chain.length - 1];
  const out: { via: string; dirs: string[]; hwcaps: boolean }[] = [];
  const exeOrigin = exe ? origin(exe, true) : '/';
  const envDirs = expandAll(cfg.ldLibraryPath, exeOrigin);
  if (cfg.flavor === 'musl') {
    out.push({ via: 'LD_LIBRARY_PATH', dirs: envDirs, hwcaps: false });
    chain.forEach((o, i) => {
      const rp = o.info.runpath.length ? o.info.runpath : o.info.rpath;
      out.push({ via: `rpath of ${o.path}`, dirs: expandAll(rp, origin(o, i === chain.length - 1)), hwcaps: false });
    });
    out.push({ via: cfg.muslPath ? '/etc/ld-musl path file' : 'musl default', dirs: cfg.muslPath ?? MUSL_DEFAULT_DIRS, hwcaps: false });
    return out;
  }
  if (!loader || loader.info.runpath.length === 0) {
    chain.forEach((o, i) => {
      // An object with DT_RUNPATH has its DT_RPATH ignored (get-dynamic-info.h).
      if (o.info.runpath.length === 0 && o.info.rpath.length) {
        out.push({ via: `DT_RPATH of ${o.path}`, dirs: expandAll(o.info.rpath, origin(o, i === chain.length - 1)), hwcaps: true });
      }
    });
  }
  out.push({ via: 'LD_LIBRARY_PATH', dirs: envDirs, hwcaps: true });
  if (loader && loader.info.runpath.length) {
    out.push({ via: `DT_RUNPATH of ${loader.path}`, dirs: expandAll(loader.info.runpath, origin(loader, chain.length === 1)), hwcaps: true });
  }
  out.push({ via: 'ld.so.cache', dirs: cfg.ldSoConfDirs, hwcaps: true });
  out.push({ via: 'default dirs', dirs: GLIBC_DEFAULT_DIRS, hwcaps: true });
  return out;
}

/**
 * $ORIGIN: the executable's comes from /proc/self/exe, symlinks resolved; a
 * library's is the directory of the name it was found under.
 */
function origin(o: LoadedObject, isExe: boolean): string {
  return dirnameImage(isExe ? o.resolvedPath : o.path);
}

export function expandAll(dirs: string[], originDir: string): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    for (const e of expandDst(d, originDir)) {
      // Empty or relative entries name the working directory at load time, unknown here.
      if (e.startsWith('/')) {
        const n = normalizeImagePath(e);
        if (!out.includes(n)) out.push(n);
      }
    }
  }
  return out;
}

/** Dynamic string tokens; $LIB and $PLATFORM have more than one plausible value, so all are tried. */
export function expandDst(dir: string, originDir: string): string[] {
  let results = [dir];
  // search() ignores a global regex's lastIndex, test() would not.
  const subst = (re: RegExp, values: string[]) => {
    if (!results.some((r) => r.search(re) >= 0)) return;
    results = results.flatMap((r) => (r.search(re) >= 0 ? values.map((v) => r.replace(re, () => v)) : [r]));
  };
  subst(/\$(ORIGIN\b|\{ORIGIN\})/g, [originDir]);
  subst(/\$(LIB\b|\{LIB\})/g, LIB_EXPANSIONS);
  subst(/\$(PLATFORM\b|\{PLATFORM\})/g, PLATFORM_EXPANSIONS);
  return results;
}

function inDir(fs: IndexLookup, dir: string, name: string, want: DynamicInfo | undefined, hwcaps: boolean): Omit<Found, 'via'> | undefined {
  const hits: { path: string; resolvedPath: string }[] = [];
  for (const sub of hwcaps ? [...GLIBC_HWCAPS_SUBDIRS, ''] : ['']) {
    const hit = candidate(fs, normalizeImagePath(`${dir}/${sub}/${name}`), want);
    if (hit && !hits.some((h) => h.resolvedPath === hit.resolvedPath)) hits.push(hit);
  }
  if (!hits.length) return undefined;
  // Which variant loads depends on the CPU the container runs on: the plain one is the
  // name we report, the others ride along so no CPU's choice goes unanalysed.
  const primary = hits[hits.length - 1];
  return { ...primary, alternates: hits.slice(0, -1) };
}

function candidate(fs: IndexLookup, path: string, want: DynamicInfo | undefined): { path: string; resolvedPath: string } | undefined {
  const resolvedPath = fs.resolve(path);
  if (resolvedPath === undefined) return undefined;
  const e = fs.stat(resolvedPath);
  if (!e || e.type !== 'file') return undefined;
  if (want && e.elf && (e.elf.elfClass !== want.elfClass || e.elf.machine !== want.machine)) return undefined;
  return { path, resolvedPath };
}

/** Include patterns expand to at most this many files in all (ldconfig has no limit; an image gets one). */
export const MAX_INCLUDED_FILES = 256;
/** A glob expands to at most this many names: more is an image built to make us work. */
export const MAX_GLOB_RESULTS = 4096;

/**
 * The image decides how long its loader configuration takes to walk (256 included
 * files of 4096 lines each is a million directories), so the walk is a generator that
 * yields between bounded pieces of work: run at once by `atOnce`, or by `withCheckpoints`,
 * which awaits the caller's checkpoint at each yield so the event loop gets a turn
 * and an abort (SIGTERM) or a time limit stops the walk there.
 */
type Steps<T> = Generator<void, T, undefined>;

/** Given a turn between steps: lets the event loop run when due, and throws to stop the walk (closure.ts's checkpoint). */
export type Checkpoint = () => Promise<void>;

/** Lines, names or entries handled between two yields: small enough that a step takes well under a millisecond. */
const STEP = 256;

function atOnce<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

async function withCheckpoints<T>(steps: Steps<T>, checkpoint: Checkpoint): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await checkpoint();
  }
}

type StepLister = (dir: string) => Steps<string[]>;

const stepLister = (listDir: (dir: string) => string[]): StepLister =>
  function* (dir) {
    return listDir(dir);
  };

/**
 * Reads ld.so.conf: directory lines, `include` globs relative to the including file,
 * comments; cycles stop. A line ldconfig would not understand is ignored, as ldconfig
 * ignores it, with a note in `notes` (its text is the image's, so escape it to print).
 */
export function parseLdSoConf(
  readText: (path: string) => string | undefined,
  listDir: (dir: string) => string[],
  file = '/etc/ld.so.conf',
  seen = new Set<string>(),
  notes: string[] = [],
): string[] {
  return atOnce(ldSoConfDirsSteps(readText, stepLister(listDir), notes, file, seen));
}

/** parseLdSoConf over an image's index, giving `checkpoint` a turn between steps. */
export function walkLdSoConf(fs: IndexLookup, readText: (path: string) => string | undefined, checkpoint: Checkpoint, notes: string[] = []): Promise<string[]> {
  return withCheckpoints(ldSoConfDirsSteps(readText, dirListerSteps(fs), notes), checkpoint);
}

/** The directories of `file` and what it includes, in order, each once. */
function* ldSoConfDirsSteps(readText: (path: string) => string | undefined, listDir: StepLister, notes: string[], file = '/etc/ld.so.conf', seen = new Set<string>()): Steps<string[]> {
  const dirs = new Set<string>();
  yield* ldSoConfSteps(readText, listDir, file, seen, notes, dirs);
  return [...dirs];
}

/**
 * Adds `file`'s directories to `dirs` in the order ldconfig reads them, an include's in
 * place of its line; the first mention of a directory decides its place. One set for the
 * whole walk: lists returned by each include and merged at every level made a chain of
 * 256 includes of 4096 lines quadratic (minutes), and spread into push() overflowed the stack.
 */
function* ldSoConfSteps(readText: (path: string) => string | undefined, listDir: StepLister, file: string, seen: Set<string>, notes: string[], dirs: Set<string>): Steps<void> {
  if (seen.has(file)) return;
  if (seen.size >= MAX_INCLUDED_FILES) {
    if (!notes.some((n) => n.startsWith('ld.so.conf includes more than'))) notes.push(`ld.so.conf includes more than ${MAX_INCLUDED_FILES} files; the rest are not read`);
    return;
  }
  seen.add(file);
  const text = readText(file);
  if (text === undefined) return;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (i % STEP === STEP - 1) yield;
    const line = lines[i].replace(/#.*/, '').trim();
    if (!line) continue;
    const inc = /^include\s+(.*)$/.exec(line);
    if (inc) {
      for (const pat of inc[1].split(/\s+/)) {
        if (!pat) continue;
        const abs = pat.startsWith('/') ? pat : `${dirnameImage(file)}/${pat}`;
        const files = yield* globSteps(abs, listDir);
        if (files.length >= MAX_GLOB_RESULTS) notes.push(`${file}:${i + 1}: include pattern matches ${MAX_GLOB_RESULTS} files or more; only the first ${MAX_GLOB_RESULTS} are read`);
        for (const f of files) yield* ldSoConfSteps(readText, listDir, f, seen, notes, dirs);
      }
      continue;
    }
    if (/^hwcap\s/.test(line)) continue;
    // Old ldconfig syntax allowed "dir=TYPE" and several dirs on a line.
    let used = false;
    for (const d of line.split(/[\s:,]+/)) {
      const dir = d.replace(/=.*$/, '');
      if (dir.startsWith('/')) {
        dirs.add(normalizeImagePath(dir));
        used = true;
      }
    }
    if (!used) notes.push(`${file}:${i + 1}: ignored a line that names no directory (ldconfig ignores it too): ${JSON.stringify(line.slice(0, 200))}`);
  }
}

/**
 * glob(3) on the image, one component at a time (wildcards in any component), names
 * sorted; matching is fnmatch.ts's, linear in each name, never a RegExp built from
 * image text. At most MAX_GLOB_RESULTS names come back.
 */
export function globImage(pattern: string, listDir: (dir: string) => string[]): string[] {
  return atOnce(globSteps(pattern, stepLister(listDir)));
}

function* globSteps(pattern: string, listDir: StepLister): Steps<string[]> {
  const parts = normalizeImagePath(pattern).split('/').filter(Boolean);
  if (!parts.some(hasWildcard)) return [normalizeImagePath(pattern)];
  let current = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    const join = (dir: string, n: string) => (dir === '/' ? `/${n}` : `${dir}/${n}`);
    if (!hasWildcard(part)) {
      for (const d of current) next.push(join(d, part));
    } else {
      const compiled = compileComponent(part);
      for (let k = 0; k < current.length; k++) {
        if (k % STEP === STEP - 1) yield;
        const d = current[k];
        const names = yield* listDir(d);
        const matched: string[] = [];
        for (let j = 0; j < names.length; j++) {
          if (j % STEP === STEP - 1) yield;
          if (fnmatch(compiled, names[j])) matched.push(names[j]);
        }
        for (const n of matched.sort()) {
          next.push(join(d, n));
          if (next.length >= MAX_GLOB_RESULTS) break;
        }
        if (next.length >= MAX_GLOB_RESULTS) break;
      }
    }
    current = next;
    if (!current.length) break;
  }
  return current;
}

/** Names directly inside an image directory (after resolving the directory itself). */
export function listImageDir(fs: IndexLookup, dir: string): string[] {
  return dirLister(fs)(dir);
}

/**
 * A lister over one pass of the index: include globs may list thousands of
 * directories, and a pass over millions of entries for each would be a hang.
 */
export function dirLister(fs: IndexLookup): (dir: string) => string[] {
  const steps = dirListerSteps(fs);
  return (dir) => atOnce(steps(dir));
}

function dirListerSteps(fs: IndexLookup): StepLister {
  if ('listDir' in fs) return stepLister((dir) => fs.listDir(dir));
  let children: Map<string, string[]> | undefined;
  return function* (dir) {
    const real = fs.resolve(dir);
    if (real === undefined) return [];
    if (!children) {
      const byDir = new Map<string, string[]>();
      let k = 0;
      for (const [p] of fs.entries()) {
        if (++k % (STEP * 16) === 0) yield;
        if (p === '/') continue;
        const d = dirnameImage(p);
        const l = byDir.get(d);
        if (l) l.push(p.slice(d === '/' ? 1 : d.length + 1));
        else byDir.set(d, [p.slice(d === '/' ? 1 : d.length + 1)]);
      }
      children = byDir;
    }
    return children.get(real) ?? [];
  };
}

/**
 * The configured directories that are directories of the image: ld.so.cache only lists
 * what ldconfig found in them, and dropping the rest keeps each lookup's search as short
 * as the image is real (a crafted ld.so.conf names a million directories that do not exist).
 */
function* existingDirs(fs: IndexLookup, dirs: string[]): Steps<string[]> {
  const out: string[] = [];
  for (let i = 0; i < dirs.length; i++) {
    if (i % STEP === STEP - 1) yield;
    const real = fs.resolve(dirs[i]);
    if (real !== undefined && fs.stat(real)?.type === 'dir') out.push(dirs[i]);
  }
  return out;
}

/**
 * Builds the search configuration from the image's files. `readText` returns a
 * small text file's content (or undefined); the caller does the I/O.
 */
export function buildSearchConfig(
  fs: IndexLookup,
  readText: (path: string) => string | undefined,
  opts: { interp?: string; env?: string[]; sonames?: SonameFiles },
): SearchConfig {
  return atOnce(searchConfigSteps(fs, readText, opts));
}

/** buildSearchConfig, giving `checkpoint` a turn between steps (the walk of ld.so.conf is the image's to make long). */
export function buildSearchConfigWith(
  fs: IndexLookup,
  readText: (path: string) => string | undefined,
  opts: { interp?: string; env?: string[]; sonames?: SonameFiles },
  checkpoint: Checkpoint,
): Promise<SearchConfig> {
  return withCheckpoints(searchConfigSteps(fs, readText, opts), checkpoint);
}

function* searchConfigSteps(
  fs: IndexLookup,
  readText: (path: string) => string | undefined,
  opts: { interp?: string; env?: string[]; sonames?: SonameFiles },
): Steps<SearchConfig> {
  const flavor = isMuslInterp(opts.interp) ? 'musl' : 'glibc';
  const llp = envValue(opts.env, 'LD_LIBRARY_PATH');
  const notes: string[] = [];
  const cfg: SearchConfig = {
    flavor,
    ldSoConfDirs: flavor === 'glibc' ? yield* existingDirs(fs, yield* ldSoConfDirsSteps(readText, dirListerSteps(fs), notes)) : [],
    notes,
    ldLibraryPath: llp ? llp.split(/[:;]/) : [],
    ...(opts.interp ? { interp: opts.interp } : {}),
    ...(opts.sonames ? { sonames: opts.sonames } : {}),
  };
  if (flavor === 'musl') {
    const arch = /ld-musl-([^/.]+)\.so/.exec(opts.interp ?? '')?.[1] ?? 'x86_64';
    const text = readText(`/etc/ld-musl-${arch}.path`);
    if (text !== undefined) cfg.muslPath = text.split(/[\n:]/).map((s) => s.trim()).filter((s) => s.startsWith('/'));
  }
  return cfg;
}

/** The last assignment wins, as `docker run -e` does. */
export function envValue(env: string[] | undefined, key: string): string | undefined {
  let v: string | undefined;
  for (const kv of env ?? []) if (kv.startsWith(key + '=')) v = kv.slice(key.length + 1);
  return v;
}
