/**
 * The seed's `-g` inputs: `DIR/IMAGE.syscalls`, one decimal x86-64 syscall number per
 * line, naming syscalls an image needs beyond what analysis finds (its Go binaries,
 * originally). Blank lines are ignored; anything else that is not a known syscall
 * number is reported by file and line and the rest of the file still counts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfineError, err, ok, Result } from '../../pipeline/errors';
import { syscallName } from '../syscalls/table';
import type { SeedFormatError } from './seed-format';

export interface GoSyscalls {
  file: string;
  syscalls: Set<number>;
  errors: SeedFormatError[];
}

export const GO_SYSCALLS_SUFFIX = '.syscalls';

export function parseGoSyscalls(text: string, file = '<text>'): GoSyscalls {
  const syscalls = new Set<number>();
  const errors: SeedFormatError[] = [];
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const t = raw.trim();
    if (t === '') return;
    if (!/^\d+$/.test(t)) {
      errors.push({ file, line: i + 1, text: raw, expected: 'a decimal syscall number' });
      return;
    }
    const nr = Number(t);
    if (syscallName(nr) === undefined) {
      errors.push({ file, line: i + 1, text: raw, expected: 'a syscall number in the x86-64 table' });
      return;
    }
    syscalls.add(nr);
  });
  return { file, syscalls, errors };
}

export function readGoSyscalls(file: string): Result<GoSyscalls> {
  try {
    return ok(parseGoSyscalls(fs.readFileSync(file, 'utf8'), file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err(new ConfineError(code === 'ENOENT' ? 'missing-file' : 'bad-input', (e as Error).message, { file }));
  }
}

/** Every `IMAGE.syscalls` in the seed's `-g` directory, keyed by image name. */
export function readGoSyscallsDir(dir: string): Result<Map<string, GoSyscalls>> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err(new ConfineError(code === 'ENOENT' ? 'missing-file' : 'bad-input', (e as Error).message, { file: dir }));
  }
  const out = new Map<string, GoSyscalls>();
  for (const name of names.filter((n) => n.endsWith(GO_SYSCALLS_SUFFIX)).sort()) {
    const r = readGoSyscalls(path.join(dir, name));
    if (!r.ok) return r;
    out.set(name.slice(0, -GO_SYSCALLS_SUFFIX.length), r.value);
  }
  return ok(out);
}
