/**
 * `--exec-too`: programs an operator runs with `docker exec` (or `kubectl exec`). Such a
 * process runs under the container's seccomp profile, so each named program must be
 * analysed like one the container executed, or the operator's debug shell is killed by
 * the profile ("sh: 1: Cannot fork"). This module reads the list and finds each program
 * in the image the way the runtime would.
 */
import { ConfineError } from '../../pipeline/errors';
import { SHELL_PROGRAM, SHELL_SHORTHAND, SHELL_TOOLS } from '../../formats/exec-too-list';
import { lookInPath } from './closure';
import { normalizeImagePath } from '../image/image-index';
import type { ImageReader } from '../image/image-reader';

export interface ExecTooProgram {
  /** As asked (`sh`, `/usr/bin/redis-cli`), or a common tool of the `shell` shorthand. */
  name: string;
  /** Where it is in the image, as the runtime finds it (PATH lookup for a name). */
  path: string;
}

export interface ExecTooResolution {
  /** The list as asked (`shell` kept as such). */
  asked: string[];
  programs: ExecTooProgram[];
  /** Common tools of the `shell` shorthand the image does not have: listed, not an error. */
  missingTools: string[];
  /** Programs asked for by name or path that the image does not have (the image fails with these). */
  notFound: { name: string; reason: string }[];
}

/**
 * Finds each asked program in the image: a path as given (following symlinks inside
 * the image), a name as `docker exec` does — the first executable file of that name
 * in the container's PATH. `shell` is /bin/sh plus whichever common tools exist.
 */
export function resolveExecToo(fs: Pick<ImageReader, 'resolve' | 'stat'>, asked: string[], pathDirs: string[]): ExecTooResolution {
  const programs: ExecTooProgram[] = [];
  const missingTools: string[] = [];
  const notFound: ExecTooResolution['notFound'] = [];
  const seen = new Set<string>();
  const take = (name: string, path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    programs.push({ name, path });
  };
  const find = (name: string): { path?: string; reason?: string } => {
    if (!name.startsWith('/')) {
      const p = lookInPath(fs, name, pathDirs);
      return p ? { path: p } : { reason: `no executable file named '${name}' in the image's PATH (${pathDirs.join(':')})` };
    }
    const p = normalizeImagePath(name);
    const r = fs.resolve(p);
    const e = r !== undefined ? fs.stat(r) : undefined;
    if (r === undefined || !e) return { reason: `${p} is not in the image` };
    if (e.type !== 'file') return { reason: `${p} is not a regular file in the image (${e.type})` };
    if ((e.mode & 0o111) === 0) return { reason: `${p} is not executable` };
    if (!e.elf && !e.script) return { reason: `${p} is neither an ELF program nor a #! script` };
    return { path: p };
  };
  for (const name of asked) {
    if (name === SHELL_SHORTHAND) {
      const sh = find(SHELL_PROGRAM);
      if (sh.path) take('sh', sh.path);
      else notFound.push({ name: `${SHELL_SHORTHAND} (${SHELL_PROGRAM})`, reason: sh.reason! });
      for (const tool of SHELL_TOOLS) {
        const t = find(tool);
        if (t.path) take(tool, t.path);
        else missingTools.push(tool);
      }
      continue;
    }
    const f = find(name);
    if (f.path) take(name, f.path);
    else notFound.push({ name, reason: f.reason! });
  }
  return { asked, programs, missingTools, notFound };
}

/** The image fails when a program asked for is missing: a profile without it would not do what was asked. */
export function execTooNotFoundError(r: ExecTooResolution, image?: string): ConfineError | undefined {
  if (!r.notFound.length) return undefined;
  const list = r.notFound.map((n) => `${n.name}: ${n.reason}`).join('; ');
  return new ConfineError('bad-input', `--exec-too asks for ${r.notFound.length === 1 ? 'a program' : 'programs'} the image does not have: ${list}`, image ? { image } : {});
}

/** How the run table names an image's exec programs: `shell`, or the list as asked. */
export function execTooLabel(asked: readonly string[]): string {
  return asked.join(',');
}
