import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../cache/content-store';
import { sha256Hex } from '../cache/digest';
import { ConfineError } from '../pipeline/errors';
import type { Stage } from '../pipeline/stage';
import { dockerDefaultAllowed } from '../profile/docker-default-allowed';
import { planProfile } from '../profile/emit-profile';
import { defaultProfile, LoadedProfile, readProfile } from '../profile/read-profile';
import type { ProfileArtifact, ResolveArtifact } from '../schemas/types';
import { allSyscalls } from '../syscalls/table';
import type { RunConfig } from './config';
import type { ImageEntry } from './image-list';

/** The seed named each image's profile after the image: `<name>.seccomp.json` in -r. */
export const profileFileName = (imageName: string) => `${imageName}.seccomp.json`;

/**
 * Writes the image's Docker seccomp profile: Docker's default (or -p) with every
 * syscall the image cannot reach removed, keeping the default's conditional rules for
 * the ones that stay.
 */
export function profileEmitStage(): Stage<{ 'syscall-resolve': ResolveArtifact }, ProfileArtifact, RunConfig> {
  return {
    name: 'profile-emit',
    version: 1,
    schema: 'confine/profile/v1',
    scope: 'image',
    needs: ['syscall-resolve'],
    resource: 'io',
    configSlice: (c) => ({ resultsDir: c.resultsDir }),
    // The base profile's content, not its path, decides the output.
    externalInputs: async (unit, config) => ({
      base: config.defaultProfile ? sha256Hex(await fs.readFile(config.defaultProfile)) : 'built-in',
      name: (unit.data as ImageEntry).name,
    }),
    stillValid: async (out) => fs.access(out.profileFile).then(() => true, () => false),
    run: async (deps, ctx, unit, config) => {
      const image = unit.data as ImageEntry;
      const resolved = deps['syscall-resolve'];
      const base = loadBase(config);
      const plan = planProfile(base.profile, new Set(resolved.syscalls));
      for (const name of plan.addedBeyondBase) ctx.log(`${name}: needed, but Docker's default does not allow it; allowed explicitly`);
      for (const name of plan.unknownNames) ctx.log(`${name}: not a syscall name this profile format knows; left out`);
      const file = path.join(config.resultsDir, profileFileName(image.name));
      await writeFileAtomic(file, JSON.stringify(plan.profile, null, 2) + '\n');
      const allowed = [...resolved.syscalls].sort();
      const total = allSyscalls().length;
      return {
        imageId: resolved.imageId,
        imageName: image.name,
        profileFile: file,
        allowed,
        allowedCount: allowed.length,
        blockedCount: total - allowed.length,
        dockerDefaultAllowedCount: dockerDefaultAllowed(base.profile).size,
      };
    },
  };
}

function loadBase(config: RunConfig): LoadedProfile {
  if (!config.defaultProfile) return defaultProfile();
  const r = readProfile(config.defaultProfile);
  if (!r.ok) throw new ConfineError('bad-input', r.error.message, { file: config.defaultProfile, ...r.error.where });
  return r.value;
}
