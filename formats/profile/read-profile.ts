/**
 * Loads the base profile given with `-p`: either a real Docker seccomp profile, or the
 * seed's form `{"default": [names Docker's default profile blocks]}`. The seed form is
 * turned into an equivalent Docker profile (allow every x86-64 syscall not listed), so
 * everything downstream handles one shape.
 */
import * as fs from 'node:fs';
import { ConfineError, err, ok, Result } from '../../pipeline/errors';
import { allSyscalls } from '../../analysis/syscalls/table';
import defaultProfileJson from './default-profile.json';
import {
  DockerProfile,
  EPERM,
  SECCOMP_ACTIONS,
  SECCOMP_OPS,
  SeccompAction,
  SeccompArg,
  SeccompFilter,
  SeccompRule,
} from './seccomp-types';

export interface LoadedProfile {
  file: string;
  form: 'docker' | 'seed-blocklist';
  profile: DockerProfile;
  /** For the seed form: the names it listed that are not x86-64 syscalls (e.g. its typo `move_apges`). */
  unknownNames: string[];
}

/** Position → 1-based line and column, for JSON.parse's "at position N". */
function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

type Shape<T> = { ok: true; value: T } | { ok: false; path: string; expected: string };
const bad = (path: string, expected: string): Shape<never> => ({ ok: false, path, expected });
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function checkFilter(v: unknown, path: string): Shape<SeccompFilter | undefined> {
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (!isObj(v)) return bad(path, 'an object with caps, arches, minKernel');
  const out: SeccompFilter = {};
  for (const k of ['caps', 'arches'] as const) {
    if (v[k] === undefined || v[k] === null) continue;
    if (!isStrArray(v[k])) return bad(`${path}.${k}`, 'an array of strings');
    out[k] = v[k] as string[];
  }
  if (v.minKernel !== undefined && v.minKernel !== null) {
    if (typeof v.minKernel !== 'string' || !/^\d+\.\d+/.test(v.minKernel)) return bad(`${path}.minKernel`, 'a kernel version like "4.8"');
    out.minKernel = v.minKernel;
  }
  return { ok: true, value: out };
}

function checkArgs(v: unknown, path: string): Shape<SeccompArg[] | undefined> {
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (!Array.isArray(v)) return bad(path, 'an array of {index, value, op}');
  const out: SeccompArg[] = [];
  for (let i = 0; i < v.length; i++) {
    const a = v[i];
    const p = `${path}[${i}]`;
    if (!isObj(a)) return bad(p, 'an object {index, value, op}');
    if (!Number.isInteger(a.index) || (a.index as number) < 0 || (a.index as number) > 5) return bad(`${p}.index`, 'an integer 0-5');
    if (typeof a.value !== 'number') return bad(`${p}.value`, 'a number');
    if (a.valueTwo !== undefined && typeof a.valueTwo !== 'number') return bad(`${p}.valueTwo`, 'a number');
    if (!SECCOMP_OPS.includes(a.op as never)) return bad(`${p}.op`, `one of ${SECCOMP_OPS.join(', ')}`);
    out.push(a as unknown as SeccompArg);
  }
  return { ok: true, value: out };
}

function checkRule(v: unknown, path: string): Shape<SeccompRule> {
  if (!isObj(v)) return bad(path, 'an object {names, action, ...}');
  // Old Docker profiles name one syscall per rule with `name`.
  const names = v.names ?? (typeof v.name === 'string' ? [v.name] : undefined);
  if (!isStrArray(names)) return bad(`${path}.names`, 'an array of syscall names');
  if (!SECCOMP_ACTIONS.includes(v.action as SeccompAction)) return bad(`${path}.action`, `one of ${SECCOMP_ACTIONS.join(', ')}`);
  const args = checkArgs(v.args, `${path}.args`);
  if (!args.ok) return args;
  const includes = checkFilter(v.includes, `${path}.includes`);
  if (!includes.ok) return includes;
  const excludes = checkFilter(v.excludes, `${path}.excludes`);
  if (!excludes.ok) return excludes;
  if (v.errnoRet !== undefined && !Number.isInteger(v.errnoRet)) return bad(`${path}.errnoRet`, 'an integer errno');
  if (v.comment !== undefined && typeof v.comment !== 'string') return bad(`${path}.comment`, 'a string');
  const rule: SeccompRule = { names, action: v.action as SeccompAction };
  if (args.value && args.value.length) rule.args = args.value;
  if (includes.value && Object.keys(includes.value).length) rule.includes = includes.value;
  if (excludes.value && Object.keys(excludes.value).length) rule.excludes = excludes.value;
  if (v.errnoRet !== undefined) rule.errnoRet = v.errnoRet as number;
  if (v.comment !== undefined) rule.comment = v.comment as string;
  return { ok: true, value: rule };
}

/** Checks a parsed value has Docker's profile shape; returns a normalised copy. */
export function checkDockerProfile(v: unknown): Shape<DockerProfile> {
  if (!isObj(v)) return bad('$', 'a JSON object');
  if (!SECCOMP_ACTIONS.includes(v.defaultAction as SeccompAction)) return bad('$.defaultAction', `one of ${SECCOMP_ACTIONS.join(', ')}`);
  const out: DockerProfile = { defaultAction: v.defaultAction as SeccompAction };
  if (v.defaultErrnoRet !== undefined) {
    if (!Number.isInteger(v.defaultErrnoRet)) return bad('$.defaultErrnoRet', 'an integer errno');
    out.defaultErrnoRet = v.defaultErrnoRet as number;
  }
  if (v.architectures !== undefined && v.architectures !== null) {
    if (!isStrArray(v.architectures)) return bad('$.architectures', 'an array of SCMP_ARCH_* names');
    out.architectures = v.architectures;
  }
  if (v.archMap !== undefined && v.archMap !== null) {
    if (!Array.isArray(v.archMap)) return bad('$.archMap', 'an array of {architecture, subArchitectures}');
    for (let i = 0; i < v.archMap.length; i++) {
      const a = v.archMap[i];
      if (!isObj(a) || typeof a.architecture !== 'string') return bad(`$.archMap[${i}].architecture`, 'a SCMP_ARCH_* name');
      if (a.subArchitectures !== null && a.subArchitectures !== undefined && !isStrArray(a.subArchitectures))
        return bad(`$.archMap[${i}].subArchitectures`, 'an array of SCMP_ARCH_* names or null');
    }
    out.archMap = (v.archMap as Record<string, unknown>[]).map((a) => ({
      architecture: a.architecture as string,
      subArchitectures: (a.subArchitectures as string[] | null | undefined) ?? null,
    }));
  }
  if (v.syscalls !== undefined && v.syscalls !== null) {
    if (!Array.isArray(v.syscalls)) return bad('$.syscalls', 'an array of rules');
    out.syscalls = [];
    for (let i = 0; i < v.syscalls.length; i++) {
      const r = checkRule(v.syscalls[i], `$.syscalls[${i}]`);
      if (!r.ok) return r;
      out.syscalls.push(r.value);
    }
  }
  for (const k of ['listenerPath', 'listenerMetadata'] as const) if (typeof v[k] === 'string') out[k] = v[k] as string;
  if (isStrArray(v.flags)) out.flags = v.flags;
  return { ok: true, value: out };
}

/** The seed's `{"default": [...]}`: names Docker's default blocks; everything else allowed. */
export function profileFromSeedBlocklist(blocked: string[]): { profile: DockerProfile; unknownNames: string[] } {
  const all = allSyscalls().map((s) => s.name);
  const known = new Set(all);
  const blockedSet = new Set(blocked);
  return {
    profile: {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: EPERM,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        {
          names: all.filter((n) => !blockedSet.has(n)),
          action: 'SCMP_ACT_ALLOW',
          comment: 'confine: every x86-64 syscall the seed blocklist does not name',
        },
      ],
    },
    unknownNames: blocked.filter((n) => !known.has(n)),
  };
}

export function parseProfileText(text: string, file: string): Result<LoadedProfile> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    const pos = m ? Number(m[1]) : text.length; // "Unexpected end of JSON input" carries no position
    const { line, column } = lineColumn(text, pos);
    return err(new ConfineError('bad-input', `not valid JSON at line ${line} column ${column}: ${msg}`, { file, line }));
  }
  if (isObj(json) && json.defaultAction === undefined && 'default' in json) {
    if (!isStrArray(json.default))
      return err(new ConfineError('bad-input', 'seed profile form: "default" must be an array of syscall names', { file }));
    const { profile, unknownNames } = profileFromSeedBlocklist(json.default);
    return ok({ file, form: 'seed-blocklist', profile, unknownNames });
  }
  const shape = checkDockerProfile(json);
  if (!shape.ok)
    return err(
      new ConfineError(
        'bad-input',
        `not a Docker seccomp profile or the seed's {"default": [...]}: ${shape.path} should be ${shape.expected}`,
        { file },
      ),
    );
  return ok({ file, form: 'docker', profile: shape.value, unknownNames: [] });
}

export function readProfile(file: string): Result<LoadedProfile> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err(new ConfineError(code === 'ENOENT' ? 'missing-file' : 'bad-input', `cannot read profile: ${(e as Error).message}`, { file }));
  }
  return parseProfileText(text, file);
}

export const DEFAULT_PROFILE_FILE = `${__dirname}/default-profile.json`;

/** Docker's default profile (see default-profile.md), used when `-p` is not given. */
export function defaultProfile(): LoadedProfile {
  const shape = checkDockerProfile(defaultProfileJson);
  if (!shape.ok) throw new ConfineError('internal', `bundled default profile: ${shape.path} should be ${shape.expected}`);
  return { file: DEFAULT_PROFILE_FILE, form: 'docker', profile: shape.value, unknownNames: [] };
}
