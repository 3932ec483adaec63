import { ConfineError } from '../../pipeline/errors';
import { normalizeImagePath } from '../image/image-index';
import type { ImageReader } from '../image/image-reader';
import { followCandidates } from './closure-candidates';
import { DEFAULT_PATH, Execution } from './closure-exec';
import { ClosureState } from './closure-state';
import { ET_DYN, ET_EXEC, type ClosureOptions, type ClosureRequest, type ClosureResult } from './closure-types';
import { envValue, type LoadedObject } from './library-search';
import { LOADER_INJECTION_VARS, LoaderConfigs } from './loader-config';

export type { ClosureFile, ClosureOptions, ClosureRequest, ClosureResult, ClosureRole } from './closure-types';
export { DEFAULT_CLOSURE_TIME_LIMIT_MS } from './closure-state';
export { DEFAULT_PATH, lookInPath, parseShebang } from './closure-exec';
export { preloadNames } from './loader-config';

/**
 * Which files of an image a container can run (closure-types.ts): the programs it ran as
 * execve would run them (closure-exec.ts), what the loader's configuration maps into each
 * (loader-config.ts), the objects it mapped at run time, and what loaded code may open or
 * run by a constant name (closure-candidates.ts). One walk's findings live in ClosureState.
 */
export async function computeClosure(fs: ImageReader, req: ClosureRequest, opts: ClosureOptions = {}): Promise<ClosureResult> {
  const state = new ClosureState(fs, opts);
  const configs = await LoaderConfigs.read(state, req.env);
  const execution = new Execution(state, configs, req.env);
  for (const p of req.executed) await execution.execute(normalizeImagePath(p), 'executed', undefined, 0);
  for (const p of req.execToo ?? []) await execution.execute(normalizeImagePath(p), 'exec-too', undefined, 0);
  const exes = [...execution.exes];
  const byFlavour = await configs.flavoursOf(exes);
  await takeMapped(state, execution, exes, [...configs.preloads(byFlavour), ...req.mapped], new Set((req.mappedCode ?? []).map(normalizeImagePath)));
  await followCandidates(state, execution, byFlavour, opts);
  execution.recordActivation();
  if (req.all) await takeAll(state, execution);
  return state.result(configs.notes());
}

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
 * Objects mapped at run time (seen in the trace, or preloaded), each with its closure.
 * dlopen searches with the caller's and the executable's RPATH; the caller is not known
 * here, so each traced executable's chain is tried (extra finds are harmless).
 */
async function takeMapped(state: ClosureState, execution: Execution, exes: LoadedObject[], mapped: string[], code: Set<string>): Promise<void> {
  const { fs } = state;
  for (const raw of mapped) {
    await state.checkpoint();
    const path = normalizeImagePath(raw);
    const resolved = fs.resolve(path);
    const entry = resolved !== undefined ? fs.stat(resolved) : undefined;
    // Data files (a database on a volume) may well be outside the image; code mapped from
    // there (a library written at run time and dlopen'd) is code that cannot be analysed.
    const gap = code.has(path) ? state.cannotRead : state.skip;
    if (resolved === undefined || !entry) {
      gap(path, 'mapped at run time but not in the image (created at run time, or on a volume)');
      continue;
    }
    if (entry.type !== 'file') {
      gap(path, `mapped at run time but not a regular file in the image (${entry.type})`);
      continue;
    }
    state.add({ path, resolvedPath: resolved, role: 'mapped' });
    if (!entry.elf) continue; // data files (locale archives, caches) are mapped too
    const info = await state.infoOf(resolved);
    if (info instanceof ConfineError) {
      state.cannotRead(path, `dependencies not followed: ${info.message}`);
      continue;
    }
    const obj: LoadedObject = { path, resolvedPath: resolved, info };
    if (exes.length === 0) await execution.loadDeps(obj, []);
    for (const exe of exes) await execution.loadDeps(obj, [exe]);
  }
}

/** --allbinaries: every ELF program of the image (a PIE, not a shared library), run as executed. */
async function takeAll(state: ClosureState, execution: Execution): Promise<void> {
  const candidates = [...state.fs.entries()].filter(([, e]) => e.type === 'file' && e.elf && (e.elf.etype === ET_EXEC || e.elf.etype === ET_DYN));
  for (const [p, e] of candidates) {
    await state.checkpoint();
    if (e.elf!.etype === ET_DYN) {
      const info = await state.infoOf(p);
      if (info instanceof ConfineError) {
        state.skip(p, `not classified: ${info.message}`);
        continue;
      }
      if (!info.isPie) continue; // a shared library, not a program
    }
    await execution.execute(p, 'all', undefined, 0);
  }
}
