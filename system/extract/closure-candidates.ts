import { libraryNamesIn } from '../../analysis/summary/dlopen-names';
import { absolutePathsIn } from '../../analysis/summary/exec-paths';
import { ConfineError } from '../../pipeline/errors';
import { normalizeImagePath } from '../image/image-index';
import type { Execution } from './closure-exec';
import type { ClosureState } from './closure-state';
import { ET_DYN, ET_EXEC, nameable, type ClosureOptions } from './closure-types';
import { findLibrary, type LoadedObject, type SearchConfig } from './library-search';

/** Library strings of dlopen candidates are followed too, this many rounds. */
const DLOPEN_ROUNDS = 3;
/** Programs run by a constant path may run others by theirs: this many rounds. */
const EXEC_ROUNDS = 3;

/**
 * What loaded code may bring in by a constant name, never seen at run time: libraries it
 * may dlopen (role 'dlopen') and programs it may run by an absolute path (role
 * 'exec-candidate'), each with its closure. The walk adds one to a program only if
 * reached code passes that name. The two can bring each other: rounds alternate until
 * neither adds a file (bounded).
 */
export async function followCandidates(state: ClosureState, exec: Execution, byFlavour: Map<SearchConfig, LoadedObject>, opts: ClosureOptions): Promise<void> {
  const rounds = new CandidateRounds(state, exec, byFlavour, opts);
  let fresh = [...state.files.values()].filter((f) => state.fs.stat(f.resolvedPath)?.elf).map((f) => f.resolvedPath);
  for (let pass = 0; pass < DLOPEN_ROUNDS && fresh.length; pass++) {
    const libs = await rounds.dlopen(fresh);
    const progs = await rounds.exec([...fresh, ...libs]);
    fresh = pass === 0 ? progs : [...libs, ...progs];
  }
}

class CandidateRounds {
  private readonly namesOf: (resolved: string) => Promise<string[]>;
  private readonly pathsOf: (resolved: string) => Promise<string[]>;
  private basenames: Map<string, string[]> | undefined;

  constructor(
    private readonly state: ClosureState,
    private readonly execution: Execution,
    private readonly byFlavour: Map<SearchConfig, LoadedObject>,
    opts: ClosureOptions,
  ) {
    this.namesOf = this.stringsOf(opts.libraryNames, libraryNamesIn);
    this.pathsOf = this.stringsOf(opts.execPaths, absolutePathsIn);
  }

  /**
   * Libraries a loaded object may dlopen by a constant name (`libnuma.so.1` in libproc2),
   * named by the `from` objects, their names' candidates, …: taken with their closures,
   * `neededBy` naming the string. Returns the ELF files added.
   */
  async dlopen(from: string[]): Promise<string[]> {
    const { state } = this;
    const added: string[] = [];
    let frontier = from;
    for (let round = 0; round < DLOPEN_ROUNDS && frontier.length && this.byFlavour.size; round++) {
      const names = new Set<string>();
      for (const p of frontier) for (const n of await this.namesOf(p)) names.add(n);
      const before = new Set(state.files.keys());
      for (const name of [...names].sort()) {
        for (const [cfg, exe] of this.byFlavour) {
          const hit = name.startsWith('/') ? this.byPath(name) : findLibrary(state.fs, name, [exe], cfg) ?? this.byBasename(name);
          if (!hit || state.files.has(hit.resolvedPath)) continue;
          state.add({ path: hit.path, resolvedPath: hit.resolvedPath, role: 'dlopen', neededBy: name });
          const info = await state.infoOf(hit.resolvedPath);
          if (info instanceof ConfineError) {
            state.skip(hit.path, `dependencies not followed: ${info.message}`);
            continue;
          }
          await this.execution.loadDeps({ path: hit.path, resolvedPath: hit.resolvedPath, info }, [exe]);
        }
      }
      frontier = [...state.files.keys()].filter((p) => !before.has(p) && state.fs.stat(p)?.elf);
      added.push(...frontier);
    }
    return added;
  }

  /**
   * Programs a loaded object may run by a constant absolute path (`/bin/sh` in glibc's
   * system() and popen()), named by the `from` objects, and theirs, …: taken with their
   * closures as role 'exec-candidate', `neededBy` naming the string. Returns the ELF files added.
   */
  async exec(from: string[]): Promise<string[]> {
    const { state } = this;
    const added: string[] = [];
    let frontier = from;
    for (let round = 0; round < EXEC_ROUNDS && frontier.length; round++) {
      const paths = new Set<string>();
      for (const p of frontier) for (const n of await this.pathsOf(p)) paths.add(n);
      const before = new Set(state.files.keys());
      for (const name of [...paths].sort()) {
        await state.checkpoint();
        const r = state.fs.resolve(normalizeImagePath(name));
        if (r === undefined) continue;
        const had = state.files.get(r);
        // Another name of a candidate (a symlinked alias): it activates the candidate too.
        if (had) {
          if (nameable(had.role)) this.execution.nameCandidate(r, name);
          continue;
        }
        if (!(await this.isProgram(r))) continue;
        await this.execution.execute(normalizeImagePath(name), 'exec-candidate', name, 0, name);
      }
      frontier = [...state.files.keys()].filter((p) => !before.has(p) && state.fs.stat(p)?.elf);
      added.push(...frontier);
    }
    if (frontier.length) state.notes.push(`programs named by a constant path were followed ${EXEC_ROUNDS} levels deep; ${frontier.length} found at the last level were not searched for more`);
    return added;
  }

  /** Strings of one kind an object holds: from the index pass when it found them, else read from the file. */
  private stringsOf(found: ReadonlyMap<string, string[]> | undefined, extract: (bytes: Uint8Array) => string[]) {
    return async (resolved: string): Promise<string[]> => {
      if (found) return found.get(resolved) ?? [];
      try {
        return extract(await this.state.fs.readFile(resolved, this.state.maxBytes));
      } catch {
        return [];
      }
    };
  }

  private byPath(name: string): { path: string; resolvedPath: string } | undefined {
    const r = this.state.fs.resolve(name);
    return r && this.state.fs.stat(r)?.elf ? { path: name, resolvedPath: r } : undefined;
  }

  /**
   * A plugin opened from a directory built at run time under a constant file name
   * (libjli's "<java.home>/lib/server/" + "libjvm.so") is found anywhere in the image by that name.
   */
  private byBasename(name: string): { path: string; resolvedPath: string } | undefined {
    if (!this.basenames) {
      this.basenames = new Map();
      for (const [p, e] of this.state.fs.entries()) {
        if (e.type !== 'file' || !e.elf) continue;
        const b = p.slice(p.lastIndexOf('/') + 1);
        let l = this.basenames.get(b);
        if (!l) this.basenames.set(b, (l = []));
        l.push(p);
      }
    }
    const p = this.basenames.get(name)?.sort()[0];
    return p ? { path: p, resolvedPath: p } : undefined;
  }

  /** A PIE program has a loader to name; a shared library (and the loader itself) has none. */
  private async isProgram(resolved: string): Promise<boolean> {
    const e = this.state.fs.stat(resolved);
    if (!e || e.type !== 'file' || (e.mode & 0o111) === 0) return false;
    if (e.script) return true;
    if (!e.elf) return false;
    if (e.elf.etype === ET_EXEC) return true;
    if (e.elf.etype !== ET_DYN) return false;
    const info = await this.state.infoOf(resolved);
    return !(info instanceof ConfineError) && !!info.interp;
  }
}
