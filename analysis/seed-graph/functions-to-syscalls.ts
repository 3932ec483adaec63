/**
 * The core of the seed's extractSysCalls: the functions a binary calls into a library
 * (one name per line, as the seed's per-binary function lists) → the syscalls they can
 * reach through the library's call graph → syscall names, or a Docker profile.
 */
import * as fs from 'node:fs';
import { ConfineError, err, ok, Result } from '../../pipeline/errors';
import { syscallName } from '../syscalls/table';
import { CallGraph, reachableSyscalls } from './graph';
import type { SeedFormatError } from './seed-format';

export interface FunctionList {
  functions: string[];
  errors: SeedFormatError[];
}

const NAME = /^[A-Za-z_$][\w$.]*$/;

/**
 * One function per line. `@`/`*` sigils and symbol versions (`memcpy@GLIBC_2.14`,
 * `@@`) are dropped and glibc's `__GI_x` becomes `x`, matching how the graph names
 * functions. Blank lines and `#` comments are skipped; anything else is an error.
 */
export function parseFunctionList(text: string, file = '<text>'): FunctionList {
  const functions: string[] = [];
  const seen = new Set<string>();
  const errors: SeedFormatError[] = [];
  text.split('\n').forEach((raw, i) => {
    let t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    t = t.replace(/^[@*]+/, '');
    const at = t.indexOf('@');
    if (at > 0) t = t.slice(0, at);
    if (t.startsWith('__GI_') && t.length > 5) t = t.slice(5);
    if (!NAME.test(t)) {
      errors.push({ file, line: i + 1, text: raw, expected: 'one function name per line' });
      return;
    }
    if (!seen.has(t)) {
      seen.add(t);
      functions.push(t);
    }
  });
  return { functions, errors };
}

export function readFunctionList(file: string): Result<FunctionList> {
  try {
    return ok(parseFunctionList(fs.readFileSync(file, 'utf8'), file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err(new ConfineError(code === 'ENOENT' ? 'missing-file' : 'bad-input', (e as Error).message, { file }));
  }
}

export interface FunctionSyscalls {
  /** Reached syscalls, by number, with their x86-64 names. */
  syscalls: { nr: number; name: string }[];
  /** Reached numbers the syscall table has no name for (cannot go into a profile). */
  unnamed: number[];
  /** Listed functions the graph does not know: their syscalls are unknown, not none. */
  unknownFunctions: string[];
  /** Reached functions with syscall sites whose number the graph does not give. */
  unresolvedSites: string[];
  /** Reached functions whose indirect calls the graph cannot follow. */
  indirectCallers: string[];
}

export function functionsToSyscalls(graph: CallGraph, functions: string[]): FunctionSyscalls {
  const reach = reachableSyscalls(graph, functions);
  const syscalls: FunctionSyscalls['syscalls'] = [];
  const unnamed: number[] = [];
  for (const nr of [...reach.syscalls].sort((a, b) => a - b)) {
    const name = syscallName(nr);
    if (name === undefined) unnamed.push(nr);
    else syscalls.push({ nr, name });
  }
  return {
    syscalls,
    unnamed,
    unknownFunctions: reach.unknownRoots,
    unresolvedSites: reach.unresolvedSites,
    indirectCallers: reach.indirectCallers,
  };
}
