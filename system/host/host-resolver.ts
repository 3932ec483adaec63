import * as fs from 'node:fs';
import { buildSearchConfig, findLibrary, GLIBC_DEFAULT_DIRS, parseLdSoConf, type LoadedObject, type SearchConfig, type SonameFiles } from '../extract/library-search';
import { loadOrder, type LoadGraph } from '../extract/load-order';
import { DirRoot } from '../image/dir-root';
import * as path from 'node:path';
import { resolveInDir } from '../image/root-path';
import { readDynamicInfo, type DynamicInfo } from '../../analysis/elf';
import { libraryNamesIn } from '../../analysis/summary/dlopen-names';

/**
 * Finds the objects a program loads on a filesystem tree (`root`, `/` for the host),
 * following ld.so's search order, with every path and symlink resolved INSIDE the
 * root (an absolute link target means root/target, `..` stops at the root), so a
 * container filesystem unpacked in a directory resolves as it would inside the
 * container.
 *
 * The search and the load order are extraction's (system/extract/library-search.ts,
 * load-order.ts), so a tree gives the same closure here as in `confine profiles`.
 * LD_LIBRARY_PATH and LD_PRELOAD are ignored: a container's environment is not ours.
 */

export interface FoundObject {
  /** The name as DT_NEEDED (or PT_INTERP) spells it. */
  name: string;
  /** The resolved path inside the root (symlinks followed), starting with '/'. */
  rootPath: string;
  /** The same file on this machine. */
  hostPath: string;
  /** Its contents (read when first asked for, when the reader could tell the rest without them). */
  readonly bytes: Uint8Array;
  info: DynamicInfo;
  /** Library names constant strings in it spell (dlopen candidates); libraryNamesIn(bytes) when absent. */
  libraryNames?(): string[];
  /** `sha256:` digest of the contents, when the reader knows it. */
  digest?: string;
}

/** An object file as the resolver needs it; `bytes` may be read only when first asked for. */
export interface OpenedObject {
  readonly bytes: Uint8Array;
  info: DynamicInfo;
  libraryNames(): string[];
  digest?: string;
}

/** Opens the regular file at `hostPath` (`rootPath` inside the root, for messages) as an ELF object; null when it is not one or cannot be read. */
export type ObjectReader = (hostPath: string, rootPath: string) => OpenedObject | null;

/** The plain reader: the whole file, parsed now. */
export function readObjectFile(hostPath: string, rootPath: string): OpenedObject | null {
  const bytes = readRegular(hostPath);
  if (!bytes) return null;
  try {
    const info = readDynamicInfo(bytes, rootPath);
    let names: string[] | undefined;
    return { bytes, info, libraryNames: () => (names ??= libraryNamesIn(bytes)) };
  } catch {
    return null;
  }
}

export interface LoadOrder {
  /** Libraries in load order: breadth-first over DT_NEEDED, each once. */
  libraries: FoundObject[];
  loader?: FoundObject;
  missing: { name: string; neededBy: string }[];
  /**
   * Libraries the program may dlopen by a constant name (a string in a loaded object),
   * with their own DT_NEEDED closures: `names` are the strings that would open them.
   * They join the walk only if reached code passes such a name (analysis/link/link.ts).
   */
  candidates: { object: FoundObject; names: string[] }[];
}

/** Bounds on following dlopen names: library strings of candidates are followed too, this many rounds / objects. */
const CANDIDATE_ROUNDS = 3;
const MAX_CANDIDATES = 200;


/** Resolves `p` (absolute, inside the root) to its final path inside the root, or undefined if it does not exist (system/image/root-path.ts). */
export const resolveInRoot = resolveInDir;

function readRegular(host: string): Uint8Array | undefined {
  try {
    if (!fs.statSync(host).isFile()) return undefined;
    return fs.readFileSync(host);
  } catch {
    return undefined;
  }
}

/**
 * Objects already read during one run, by resolved path inside the root (null: not a
 * readable ELF object), so programs sharing libraries read and parse each once.
 */
export type ObjectFiles = Map<string, OpenedObject | null>;

/** Reads an object by its path inside the root, following symlinks inside the root. */
export function openInRoot(root: string, name: string, p: string, files?: ObjectFiles, read: ObjectReader = readObjectFile): FoundObject | undefined {
  const rootPath = resolveInRoot(root, p);
  if (!rootPath) return undefined;
  const hostPath = path.join(root, rootPath);
  let file = files?.get(rootPath);
  if (file === undefined) {
    file = read(hostPath, rootPath);
    files?.set(rootPath, file);
  }
  if (!file) return undefined;
  const opened = file;
  return {
    name,
    rootPath,
    hostPath,
    get bytes() {
      return opened.bytes;
    },
    info: opened.info,
    libraryNames: () => opened.libraryNames(),
    ...(opened.digest !== undefined ? { digest: opened.digest } : {}),
  };
}

/** An ld.so.conf file larger than this is not read (as the image's are not: system/extract/closure.ts). */
const CONF_TEXT_MAX = 1024 * 1024;

/**
 * The directories of /etc/ld.so.conf and its includes, by the parser extraction uses
 * (system/extract/library-search.ts: included files and glob results bounded, cycles stopped,
 * globs matched without a RegExp), reading inside the root.
 */
export function ldSoConfDirs(root: string): string[] {
  const disk = new DirRoot(root);
  return parseLdSoConf((file) => disk.readText(file, CONF_TEXT_MAX), (dir) => disk.listDir(dir));
}

/**
 * The loader's search configuration for programs of interpreter `interp` in the root,
 * built by extraction's code from the root's files (system/extract/library-search.ts).
 * LD_LIBRARY_PATH and LD_PRELOAD are not read: a container's environment is not ours.
 */
function searchConfig(disk: DirRoot, interp: string | undefined, open: (rootPath: string) => FoundObject | undefined): SearchConfig {
  const cfg = buildSearchConfig(disk, (file) => disk.readText(file, CONF_TEXT_MAX), { interp, env: [] });
  if (cfg.flavor === 'glibc') cfg.sonames = sonamesInDirs(disk, [...cfg.ldSoConfDirs, ...GLIBC_DEFAULT_DIRS], open);
  return cfg;
}

/**
 * What ld.so.cache knows by DT_SONAME: the shared objects of the cache's directories by
 * their soname, read only when a name is not found by file name (ldconfig reads them all;
 * here each is read once per run through `open`'s cache).
 */
function sonamesInDirs(disk: DirRoot, dirs: string[], open: (rootPath: string) => FoundObject | undefined): SonameFiles {
  let bySoname: Map<string, string[]> | undefined;
  return {
    get(soname) {
      if (!bySoname) {
        bySoname = new Map();
        const seen = new Set<string>();
        for (const d of dirs) {
          for (const n of disk.listDir(d).sort()) {
            if (!/\.so(\.|$)/.test(n)) continue;
            const r = disk.resolve(`${d}/${n}`);
            if (r === undefined || seen.has(r) || !disk.stat(r)?.elf) continue;
            seen.add(r);
            const so = open(r)?.info.soname;
            if (so) bySoname.set(so, [...(bySoname.get(so) ?? []), r]);
          }
        }
      }
      return bySoname.get(soname);
    },
  };
}

const isCompatible = (i: DynamicInfo) => i.elfClass === 64 && i.machine === 62;

/** An object of the walk: the loader chain that decides its search (itself first), and what was read of it (none for the executable). */
interface Step {
  chain: LoadedObject[];
  object?: FoundObject;
}

const STEPS: LoadGraph<Step> = {
  key: (s) => s.chain[0].resolvedPath,
  needed: (s) => s.chain[0].info.needed,
  soname: (s) => s.chain[0].info.soname,
};

/**
 * The load order of a program whose executable sits at `exeRootPath` inside `root`:
 * its interpreter and every DT_NEEDED library, in ld.so's order (system/extract/load-order.ts),
 * each found by the loader's search extraction uses (system/extract/library-search.ts:
 * RPATH up the loader chain, RUNPATH, ld.so.conf with its includes and sonames, default
 * directories, glibc-hwcaps variants, $ORIGIN/$LIB/$PLATFORM; musl's path file and built-ins),
 * so `confine analyze --root` and `confine profiles` find the same files in the same tree.
 */
export function resolveLoadOrder(root: string, exeRootPath: string, exe: DynamicInfo, files?: ObjectFiles, listing: LibraryListing = libraryFilesByName, read: ObjectReader = readObjectFile): LoadOrder {
  const search = new HostSearch(root, exeRootPath, exe, files, read);
  const out: LoadOrder = { libraries: [], missing: [], candidates: [] };
  if (exe.interp) {
    const l = search.open(exe.interp, exe.interp);
    if (l && isCompatible(l.info)) out.loader = l;
    else out.missing.push({ name: exe.interp, neededBy: exeRootPath });
  }
  out.libraries = loadOrder(search.exe, STEPS, (from, name) => search.find(from, name, out.missing)).map((s) => s.object!);
  out.candidates = dlopenCandidates(search, out, () => listing(root));
  return out;
}

/** One program's search in a root: the loader's configuration for its interpreter, and objects read through the run's cache. */
class HostSearch {
  readonly disk: DirRoot;
  readonly cfg: SearchConfig;
  readonly exe: Step;

  constructor(
    private readonly root: string,
    private readonly exeRootPath: string,
    exeInfo: DynamicInfo,
    private readonly files: ObjectFiles | undefined,
    private readonly read: ObjectReader,
  ) {
    this.disk = new DirRoot(root);
    this.cfg = searchConfig(this.disk, exeInfo.interp, (rp) => this.open(rp, rp));
    this.exe = { chain: [{ path: exeRootPath, resolvedPath: this.disk.resolve(exeRootPath) ?? exeRootPath, info: exeInfo }] };
  }

  open(name: string, rootPath: string): FoundObject | undefined {
    return openInRoot(this.root, name, rootPath, this.files, this.read);
  }

  /** The objects `name` loads for `from` (another CPU's glibc-hwcaps variants too); `missing` hears of a name not found. */
  find(from: Step, name: string, missing?: LoadOrder['missing']): Step[] {
    const hit = findLibrary(this.disk, name, from.chain, this.cfg);
    const neededBy = from.object?.rootPath ?? this.exeRootPath;
    if (!hit) missing?.push({ name, neededBy });
    const steps: Step[] = [];
    for (const h of hit ? [hit, ...hit.alternates] : []) {
      // ld.so stops at the first file the search finds: one it cannot load fails the program.
      const o = this.open(name, h.resolvedPath);
      if (!o) missing?.push({ name: `${name} (${h.resolvedPath} is not an ELF object it can load)`, neededBy });
      else steps.push({ chain: [{ path: h.path, resolvedPath: h.resolvedPath, info: o.info }, ...from.chain], object: o });
    }
    return steps;
  }
}

/**
 * Libraries the program may dlopen by a constant name (a string in a loaded object), each
 * with what it needs: searched as from the executable (dlopen uses the caller's RPATH too;
 * the system directories find what most programs open), else by file name anywhere in the
 * root's library trees. Their strings are followed too, CANDIDATE_ROUNDS rounds.
 */
function dlopenCandidates(search: HostSearch, order: LoadOrder, listing: () => Map<string, string[]>): LoadOrder['candidates'] {
  const loaded = new Set<string>([search.exe.chain[0].resolvedPath, ...order.libraries.map((l) => l.rootPath), ...(order.loader ? [order.loader.rootPath] : [])]);
  const exeObject = search.open(search.exe.chain[0].path, search.exe.chain[0].path);
  let scan: FoundObject[] = [...(exeObject ? [exeObject] : []), ...order.libraries, ...(order.loader ? [order.loader] : [])];
  const byCandidate = new Map<string, { object: FoundObject; names: Set<string> }>();
  let basenames: Map<string, string[]> | undefined;
  const byBasename = (name: string): FoundObject | undefined => {
    basenames ??= listing();
    for (const p of basenames.get(name) ?? []) {
      const o = search.open(name, p);
      if (o && isCompatible(o.info)) return o;
    }
    return undefined;
  };
  for (let round = 0; round < CANDIDATE_ROUNDS && scan.length && byCandidate.size < MAX_CANDIDATES; round++) {
    const names = new Set<string>();
    for (const o of scan) for (const n of o.libraryNames?.() ?? libraryNamesIn(o.bytes)) names.add(n);
    const next: FoundObject[] = [];
    for (const name of names) {
      // A plugin opened by a directory built at run time (libjli's "<home>/lib/server/" +
      // "libjvm.so") is not on any search path: its file name alone finds it in the root.
      const hit = findLibrary(search.disk, name, search.exe.chain, search.cfg);
      const o = hit ? search.open(name, hit.resolvedPath) : name.includes('/') ? undefined : byBasename(name);
      if (!o || loaded.has(o.rootPath)) continue;
      // The candidate and what it needs load together, opened by the same name.
      const first: Step = { chain: [{ path: hit?.path ?? o.rootPath, resolvedPath: o.rootPath, info: o.info }, ...search.exe.chain], object: o };
      const deps = loadOrder(first, STEPS, (from, dep) => search.find(from, dep)).map((s) => s.object!);
      const closure = [o, ...deps.filter((d) => !loaded.has(d.rootPath))].slice(0, Math.max(1, MAX_CANDIDATES - byCandidate.size));
      for (const c of closure) {
        let e = byCandidate.get(c.rootPath);
        if (!e) {
          byCandidate.set(c.rootPath, (e = { object: c, names: new Set() }));
          next.push(c);
        }
        e.names.add(name);
      }
    }
    scan = next;
  }
  return [...byCandidate.values()].map((c) => ({ object: c.object, names: [...c.names].sort() }));
}

/** Where libraries live in a root; searched for plugins by file name. */
const LIBRARY_TREES = ['/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib', '/opt'];
const MAX_TREE_DEPTH = 8;
const MAX_TREE_ENTRIES = 200_000;

/**
 * Regular files named like shared objects under the root's library trees, by file name
 * (paths inside the root). Bounded in depth and entries; symlinked directories are not
 * followed (each file is found where it really is).
 */
export function libraryFilesByName(root: string, onDirectory?: (hostPath: string) => void): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let seen = 0;
  const walk = (rootPath: string, depth: number) => {
    if (depth > MAX_TREE_DEPTH || seen > MAX_TREE_ENTRIES) return;
    let entries: fs.Dirent[];
    // Told before it is read: a change after the caller's look at it shows in that look's successor.
    onDirectory?.(path.join(root, rootPath));
    try {
      entries = fs.readdirSync(path.join(root, rootPath), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (++seen > MAX_TREE_ENTRIES) return;
      const p = path.posix.join(rootPath, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.isFile() && /\.so(\.[0-9]+)*$/.test(e.name)) {
        let l = out.get(e.name);
        if (!l) out.set(e.name, (l = []));
        l.push(p);
      }
    }
  };
  for (const rp of libraryTreeRoots(root)) walk(rp, 0);
  for (const l of out.values()) l.sort();
  return out;
}

/** The library trees libraryFilesByName walks in a root, as paths inside it. */
export function libraryTreeRoots(root: string): string[] {
  const out: string[] = [];
  for (const t of LIBRARY_TREES) {
    const rp = resolveInRoot(root, t);
    // /lib is often a link to /usr/lib: walk each real tree once.
    if (rp && (rp === t || !LIBRARY_TREES.includes(rp))) out.push(rp);
  }
  return out;
}

/** libraryFilesByName, or a memo of it (system/host/library-trees.ts). */
export type LibraryListing = (root: string) => Map<string, string[]>;
