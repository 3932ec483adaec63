import { mkdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, ParseArgsConfig } from 'node:util';
import { ConfineError, UsageError } from '../pipeline/errors';
import { trustedDir, trustedTree } from '../pipeline/owned-paths';

export { UsageError } from '../pipeline/errors';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function parse<T extends OptionSpec, P extends boolean = false>(argv: string[], options: T, allowPositionals?: P) {
  try {
    return parseArgs<{ args: string[]; options: T; allowPositionals: P; strict: true }>({ args: argv, options, allowPositionals: (allowPositionals ?? false) as P, strict: true });
  } catch (e) {
    // node's messages name the option already ("Unknown option '--x'"); keep them.
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/** Checks that an option's path exists and is the right kind, naming the option on failure. */
export function existingPath(option: string, value: string | undefined, kind: 'file' | 'dir'): string | undefined {
  if (value === undefined) return undefined;
  const abs = path.resolve(value);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw new ConfineError('missing-file', `${option} ${value}: no such ${kind === 'dir' ? 'directory' : 'file'}`);
  }
  if (kind === 'file' && !st.isFile()) throw new ConfineError('missing-file', `${option} ${value}: not a regular file`);
  if (kind === 'dir' && !st.isDirectory()) throw new ConfineError('missing-file', `${option} ${value}: not a directory`);
  return abs;
}

/** An output directory: created if missing, but an existing non-directory is an error. */
export function outputDir(option: string, value: string): string {
  const abs = path.resolve(value);
  try {
    if (!statSync(abs).isDirectory()) throw new ConfineError('bad-input', `${option} ${value}: exists and is not a directory`);
  } catch (e) {
    if (e instanceof ConfineError) throw e;
  }
  return abs;
}

export function positiveInt(option: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${option} expects a whole number ≥ ${min}, got '${value}'`);
  return Number(value);
}

/**
 * Creates an output directory (-o, -r) or a cache (--cache) where missing, then checks
 * that confine may write there (pipeline/owned-paths.ts): ours, writable by no one
 * else, and for a cache every entry too, no symbolic link inside. Returns the real
 * path, used from then on so a link the user gave cannot be re-pointed mid-run.
 */
export function writableDir(option: string, dir: string, kind: 'output' | 'cache'): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return kind === 'cache' ? trustedTree(dir, option) : trustedDir(dir, option);
}
