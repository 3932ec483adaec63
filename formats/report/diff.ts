import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfineError } from '../../pipeline/errors';
import { dockerDefaultAllowed } from '../profile/docker-default-allowed';
import { readProfile } from '../profile/read-profile';

export interface ProfileSide {
  /** What the user named. */
  label: string;
  file: string;
  /** The image the profile belongs to (for explain), from `-r/NAME.seccomp.json`. */
  image?: string;
  allowed: Set<string>;
}

export interface ProfileDiff {
  onlyA: string[];
  onlyB: string[];
  both: number;
}

/** A profile file, or an image name whose profile is `RESULTS/NAME.seccomp.json`. */
export function loadSide(arg: string, resultsDir: string): ProfileSide {
  let file = arg;
  let image: string | undefined;
  if (!fs.existsSync(arg) || fs.statSync(arg).isDirectory()) {
    file = path.join(resultsDir, `${arg}.seccomp.json`);
    image = arg;
    if (!fs.existsSync(file)) throw new ConfineError('missing-file', `'${arg}' is neither a profile file nor an image with a profile in ${resultsDir}`, { file });
  } else {
    const m = /^(.+)\.seccomp\.json$/.exec(path.basename(arg));
    if (m) image = m[1];
  }
  const r = readProfile(file);
  if (!r.ok) throw new ConfineError('bad-input', r.error.message, { file, ...r.error.where });
  // What the profile lets through for a container with Docker's default capabilities.
  return { label: arg, file, ...(image ? { image } : {}), allowed: dockerDefaultAllowed(r.value.profile) };
}

export function diffAllowed(a: ReadonlySet<string>, b: ReadonlySet<string>): ProfileDiff {
  return {
    onlyA: [...a].filter((s) => !b.has(s)).sort(),
    onlyB: [...b].filter((s) => !a.has(s)).sort(),
    both: [...a].filter((s) => b.has(s)).length,
  };
}
