import { ConfineError } from '../../pipeline/errors';
import { normalizeImagePath } from '../image/image-index';
import type { ImageReader } from '../image/image-reader';
import type { ClosureState } from './closure-state';
import { nameable, type ClosureRole } from './closure-types';
import { envValue, findLibrary, type LoadedObject } from './library-search';
import type { LoaderConfigs } from './loader-config';
import { loadOrderAsync, type LoadGraph } from './load-order';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Linux follows at most this many nested '#!' interpreters (BINPRM_MAX_RECURSION). */
const MAX_SCRIPT_DEPTH = 4;

/** A loaded object with the chain of objects that loaded it (itself first, the executable last): its RPATH search. */
const CHAINS: LoadGraph<LoadedObject[]> = {
  key: (chain) => chain[0].resolvedPath,
  needed: (chain) => chain[0].info.needed,
  soname: (chain) => chain[0].info.soname,
};

/**
 * What execve and the dynamic loader do with a program of the image: a '#!' script
 * runs its interpreter (through env and PATH too), an ELF program brings its loader
 * and the loader's DT_NEEDED closure. Exec candidates (programs run by a constant path)
 * remember every name that activates them.
 */
export class Execution {
  /** The ELF programs executed so far, in order: dlopen and mapped objects are searched as from each. */
  readonly exes: LoadedObject[] = [];
  private readonly done = new Set<string>();
  /** Exec candidates: the path strings that activate each (by resolved path), and the interpreters a candidate script brings. */
  private readonly candidateNames = new Map<string, Set<string>>();
  private readonly scriptInterpreters = new Map<string, string[]>();
  private readonly pathDirs: string[];
  private readonly fs: ImageReader;

  constructor(
    private readonly state: ClosureState,
    private readonly configs: LoaderConfigs,
    env: string[] | undefined,
  ) {
    this.fs = state.fs;
    this.pathDirs = (envValue(env, 'PATH') ?? DEFAULT_PATH).split(':').filter((d) => d.startsWith('/'));
  }

  /** `root`'s DT_NEEDED closure in ld.so's order (load-order.ts), each object's loader chain deciding its RPATH search; `chainTail` is what loaded root. */
  async loadDeps(root: LoadedObject, chainTail: LoadedObject[]): Promise<void> {
    const exe = chainTail.length ? chainTail[chainTail.length - 1] : root;
    const cfg = await this.configs.configFor(exe.info.interp ?? root.info.interp);
    await loadOrderAsync([root, ...chainTail], CHAINS, async (chain, name) => {
      await this.state.checkpoint();
      const obj = chain[0];
      const found = findLibrary(this.fs, name, chain, cfg);
      if (!found) {
        this.state.noteMissing(name, obj.path);
        return [];
      }
      const next: LoadedObject[][] = [];
      for (const hit of [found, ...found.alternates]) {
        this.state.add({ path: hit.path, resolvedPath: hit.resolvedPath, role: 'needed', neededBy: obj.path });
        const info = await this.state.infoOf(hit.resolvedPath);
        if (info instanceof ConfineError) this.state.cannotRead(hit.resolvedPath, `dependencies not followed: ${info.message}`);
        else next.push([{ path: hit.path, resolvedPath: hit.resolvedPath, info }, ...chain]);
      }
      return next;
    });
  }

  /** Records that the path string `name` runs the candidate at `resolved` (and the interpreters it brings). */
  nameCandidate(resolved: string, name: string): void {
    let set = this.candidateNames.get(resolved);
    if (!set) this.candidateNames.set(resolved, (set = new Set()));
    if (set.has(name)) return;
    set.add(name);
    for (const i of this.scriptInterpreters.get(resolved) ?? []) if (nameable(this.state.files.get(i)?.role)) this.nameCandidate(i, name);
  }

  /** Each exec candidate's (and named --exec-too program's) `activatedBy`: every name that runs it. */
  recordActivation(): void {
    for (const f of this.state.files.values()) {
      if (f.role === 'exec-candidate') f.activatedBy = [...(this.candidateNames.get(f.resolvedPath) ?? [])].sort();
      else if (f.role === 'exec-too' && this.candidateNames.has(f.resolvedPath)) f.activatedBy = [...this.candidateNames.get(f.resolvedPath)!].sort();
    }
  }

  /** One program as execve would run it. */
  async execute(path: string, role: ClosureRole, neededBy: string | undefined, depth: number, activatedBy?: string): Promise<void> {
    const { state, fs } = this;
    await state.checkpoint();
    const resolved = fs.resolve(path);
    const entry = resolved !== undefined ? fs.stat(resolved) : undefined;
    // A program that ran (or the interpreter of a script that ran) but is not a file of the
    // image was written at run time or comes from a volume: its code cannot be had, so the
    // image fails by its name rather than get a profile that denies what it does. A
    // candidate is only a guess at what may run, so one that is absent is only noted.
    const gap = role === 'executed' || role === 'script-interpreter' ? state.cannotRead : state.skip;
    if (resolved === undefined || !entry) return gap(path, 'not in the image (created at run time, or on a volume): its code cannot be analysed');
    if (entry.type !== 'file') return gap(path, `not a regular file in the image (${entry.type})`);
    // Neither ELF nor script: nothing to analyse, so nothing to take out of the image.
    if (!entry.script && !entry.elf) return state.skip(path, 'neither ELF nor a #! script');
    state.add({ path, resolvedPath: resolved, role, ...(neededBy !== undefined ? { neededBy } : {}) });
    if (activatedBy !== undefined && nameable(state.files.get(resolved)?.role)) this.nameCandidate(resolved, activatedBy);
    if (this.done.has(resolved)) return;
    this.done.add(resolved);
    if (entry.script) return this.runScript(path, resolved, entry.shebang ?? '', role, depth, activatedBy);
    return this.runElf(path, resolved, role);
  }

  private async runScript(path: string, resolved: string, shebang: string, role: ClosureRole, depth: number, activatedBy: string | undefined): Promise<void> {
    const { state, fs } = this;
    if (depth >= MAX_SCRIPT_DEPTH) return state.skip(path, 'too many nested #! interpreters');
    const sb = parseShebang(shebang);
    if (!sb) return state.skip(path, '#! line names no interpreter');
    // A candidate script's interpreters are candidates too, run when the script is (activatedBy),
    // and named by every name of the script (nameCandidate).
    const runInterpreter = async (interpreter: string) => {
      if (activatedBy === undefined) return this.execute(interpreter, role === 'exec-too' ? 'exec-too' : 'script-interpreter', path, depth + 1);
      await this.execute(interpreter, 'exec-candidate', activatedBy, depth + 1, activatedBy);
      const ri = fs.resolve(interpreter);
      if (ri !== undefined) this.scriptInterpreters.set(resolved, [...(this.scriptInterpreters.get(resolved) ?? []), ri]);
    };
    await runInterpreter(sb.interpreter);
    if (/(^|\/)env$/.test(sb.interpreter) && sb.envProgram) {
      const prog = sb.envProgram.includes('/') ? sb.envProgram : lookInPath(fs, sb.envProgram, this.pathDirs);
      if (prog) await runInterpreter(prog);
      else state.skip(`${path}: ${sb.envProgram}`, `'${sb.envProgram}' (run through env) is not in PATH ${this.pathDirs.join(':')}`);
    }
  }

  private async runElf(path: string, resolved: string, role: ClosureRole): Promise<void> {
    const { state, fs } = this;
    const info = await state.infoOf(resolved);
    if (info instanceof ConfineError) return role === 'all' ? state.skip(path, `dependencies not followed: ${info.message}`) : state.cannotRead(path, `dependencies not followed: ${info.message}`);
    const self: LoadedObject = { path, resolvedPath: resolved, info };
    if (info.interp) {
      const ri = fs.resolve(info.interp);
      if (ri === undefined) state.noteMissing(info.interp, path);
      else {
        state.add({ path: info.interp, resolvedPath: ri, role: 'interpreter', neededBy: path });
        const ii = await state.infoOf(ri);
        // The loader has no DT_NEEDED of its own on glibc or musl; follow it anyway if it does.
        if (!(ii instanceof ConfineError) && ii.needed.length) await this.loadDeps({ path: info.interp, resolvedPath: ri, info: ii }, []);
      }
    }
    await this.loadDeps(self, []);
    this.exes.push(self);
  }
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
