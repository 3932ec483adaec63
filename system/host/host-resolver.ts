import * as fs from 'node:fs';
import { parseLdSoConf } from '../extract/library-search';
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
 * glibc order: DT_RPATH of the requesting object and of the executable (only when the
 * object has no DT_RUNPATH), DT_RUNPATH, /etc/ld.so.conf (+ include), default dirs.
 * musl order: RPATH/RUNPATH, /etc/ld-musl-x86_64.path (or its defaults).
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

const GLIBC_DEFAULTS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
const MUSL_DEFAULTS = ['/lib', '/usr/local/lib', '/usr/lib'];

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
  const readText = (file: string): string | undefined => {
    const rp = resolveInRoot(root, file);
    if (!rp) return undefined;
    try {
      const host = path.join(root, rp);
      const st = fs.statSync(host);
      return st.isFile() && st.size <= CONF_TEXT_MAX ? fs.readFileSync(host, 'utf8') : undefined;
    } catch {
      return undefined;
    }
  };
  const listDir = (dir: string): string[] => {
    const rd = resolveInRoot(root, dir);
    if (!rd) return [];
    try {
      return fs.readdirSync(path.join(root, rd));
    } catch {
      return [];
    }
  };
  return parseLdSoConf(readText, listDir);
}

function muslPathDirs(root: string): string[] {
  const rp = resolveInRoot(root, '/etc/ld-musl-x86_64.path');
  if (!rp) return MUSL_DEFAULTS;
  try {
    return fs.readFileSync(path.join(root, rp), 'utf8').split(/[\n:]+/).map((s) => s.trim()).filter((s) => s.startsWith('/'));
  } catch {
    return MUSL_DEFAULTS;
  }
}

export function expandOrigin(dir: string, originDir: string): string {
  return dir.replace(/\$\{ORIGIN\}|\$ORIGIN/g, originDir).replace(/\$\{LIB\}|\$LIB/g, 'lib64').replace(/\$\{PLATFORM\}|\$PLATFORM/g, 'x86_64');
}

const isCompatible = (i: DynamicInfo) => i.elfClass === 64 && i.machine === 62;

/**
 * The load order of a program whose executable sits at `exeRootPath` inside `root`:
 * its interpreter and every DT_NEEDED library, breadth-first, each path once.
 */
export function resolveLoadOrder(root: string, exeRootPath: string, exe: DynamicInfo, files?: ObjectFiles, listing: LibraryListing = libraryFilesByName, read: ObjectReader = readObjectFile): LoadOrder {
  const musl = exe.interp !== undefined && /ld-musl/.test(exe.interp);
  let confDirs: string[] | undefined;
  const systemDirs = () => (confDirs ??= musl ? muslPathDirs(root) : [...ldSoConfDirs(root), ...GLIBC_DEFAULTS]);
  const exeDir = path.posix.dirname(resolveInRoot(root, exeRootPath) ?? exeRootPath);
  const exeRpath = exe.runpath.length ? [] : exe.rpath.map((d) => expandOrigin(d, exeDir));

  const out: LoadOrder = { libraries: [], missing: [], candidates: [] };
  const byPath = new Map<string, FoundObject>();
  const bySoname = new Map<string, FoundObject>();
  if (exe.interp) {
    const l = openInRoot(root, exe.interp, exe.interp, files, read);
    if (l && isCompatible(l.info)) {
      out.loader = l;
      byPath.set(l.rootPath, l);
    } else out.missing.push({ name: exe.interp, neededBy: exeRootPath });
  }

  const find = (name: string, by: { info: DynamicInfo; dir: string }): FoundObject | undefined => {
    const cands: string[] = [];
    if (name.includes('/')) cands.push(name.startsWith('/') ? name : path.posix.join(by.dir, name));
    else {
      const dirs: string[] = [];
      if (musl) dirs.push(...[...by.info.rpath, ...by.info.runpath].map((d) => expandOrigin(d, by.dir)));
      else {
        if (!by.info.runpath.length) dirs.push(...by.info.rpath.map((d) => expandOrigin(d, by.dir)), ...exeRpath);
        dirs.push(...by.info.runpath.map((d) => expandOrigin(d, by.dir)));
      }
      dirs.push(...systemDirs());
      for (const d of dirs) cands.push(path.posix.join(d, name));
    }
    for (const c of cands) {
      const rp = resolveInRoot(root, c);
      if (!rp) continue;
      const known = byPath.get(rp);
      if (known) return known;
      const o = openInRoot(root, name, rp, files, read);
      if (o && isCompatible(o.info)) return o;
    }
    return undefined;
  };

  const queue: { info: DynamicInfo; dir: string; path: string }[] = [{ info: exe, dir: exeDir, path: exeRootPath }];
  while (queue.length) {
    const cur = queue.shift()!;
    for (const name of cur.info.needed) {
      // ld.so matches an already loaded object by SONAME before searching.
      if (bySoname.has(name) && out.libraries.includes(bySoname.get(name)!)) continue;
      const o = find(name, cur);
      if (!o) {
        out.missing.push({ name, neededBy: cur.path });
        continue;
      }
      if (out.libraries.includes(o)) continue;
      byPath.set(o.rootPath, o);
      bySoname.set(name, o);
      if (o.info.soname) bySoname.set(o.info.soname, o);
      out.libraries.push(o);
      queue.push({ info: o.info, dir: path.posix.dirname(o.rootPath), path: o.rootPath });
    }
  }

  // dlopen by constant name: searched as from the executable (dlopen uses the caller's
  // RPATH too; the system directories find what most programs open).
  const loaded = new Set<string>([exeRootPath, ...out.libraries.map((l) => l.rootPath), ...(out.loader ? [out.loader.rootPath] : [])]);
  const exeObject = openInRoot(root, exeRootPath, exeRootPath, files, read);
  let scan: FoundObject[] = [...(exeObject ? [exeObject] : []), ...out.libraries, ...(out.loader ? [out.loader] : [])];
  const byCandidate = new Map<string, { object: FoundObject; names: Set<string> }>();
  const exeRef = { info: exe, dir: exeDir };
  let basenames: Map<string, string[]> | undefined;
  const byBasename = (name: string): FoundObject | undefined => {
    basenames ??= listing(root);
    for (const p of basenames.get(name) ?? []) {
      const o = openInRoot(root, name, p, files, read);
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
      const o = find(name, exeRef) ?? (name.includes('/') ? undefined : byBasename(name));
      if (!o || loaded.has(o.rootPath)) continue;
      // The candidate and what it needs load together, opened by the same name.
      const closure: FoundObject[] = [o];
      for (let k = 0; k < closure.length && byCandidate.size + closure.length < MAX_CANDIDATES; k++) {
        for (const dep of closure[k].info.needed) {
          const d = find(dep, { info: closure[k].info, dir: path.posix.dirname(closure[k].rootPath) });
          if (d && !loaded.has(d.rootPath) && !closure.includes(d)) closure.push(d);
        }
      }
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
  out.candidates = [...byCandidate.values()].map((c) => ({ object: c.object, names: [...c.names].sort() }));
  return out;
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
