import type { DynamicInfo } from '../../analysis/elf/dynamic-info';
import type { ConfineError } from '../../pipeline/errors';

/**
 * Which files of an image a container can run: what it executed, the program
 * interpreters, the loader's DT_NEEDED closure of each, '#!' interpreters, and the
 * objects it mapped at run time with their own closures. Too many files is safe
 * (more syscalls allowed); a missed one is a false negative, so every doubt errs
 * toward including, and every gap is reported (missing, notScanned).
 */
export type ClosureRole = 'executed' | 'interpreter' | 'needed' | 'mapped' | 'dlopen' | 'script-interpreter' | 'exec-candidate' | 'exec-too' | 'all';

/** Roles a path string in reached code can name (and so activate): candidates, and --exec-too programs the container may also run itself. */
export const nameable = (role: ClosureRole | undefined): boolean => role === 'exec-candidate' || role === 'exec-too';

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

export const ET_EXEC = 2;
export const ET_DYN = 3;
