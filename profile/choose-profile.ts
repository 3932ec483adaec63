/**
 * Whether an image gets a narrowed profile or, under --strict, the base profile whole.
 *
 * A reached syscall site whose number the analysis could not recover may make any
 * syscall. By default the profile is still narrowed to what was found (and the sites
 * are listed everywhere the image's results are shown); with `strict` such an image
 * falls back to the base (Docker's default, or -p) with nothing removed, plus what it
 * needs beyond the base, so strict never allows less than the narrowed profile would.
 */
import { dockerAllowedDetail } from './docker-default-allowed';
import { planProfile, ProfilePlan } from './emit-profile';
import type { DockerProfile } from './seccomp-types';

export interface ProfileChoice {
  plan: ProfilePlan;
  /** What the profile allows for a container with Docker's default capabilities. */
  allowed: string[];
  fallback?: { reason: string };
}

/**
 * `keepBase`: a reason the profile cannot be narrowed whatever --strict says (the image
 * runs code that is not analysed, e.g. a 32-bit program): the base whole, that reason.
 */
export function chooseProfile(base: DockerProfile, needed: ReadonlySet<string>, unresolvedSites: number, strict: boolean, keepBase?: string): ProfileChoice {
  if (!keepBase && (!strict || unresolvedSites === 0)) return { plan: planProfile(base, new Set(needed)), allowed: [...needed].sort() };
  // What the base allows this container (Docker's default capabilities), rules and
  // argument conditions as the base has them: the same evaluation as a narrowed profile,
  // with nothing taken away. Rules for capabilities the container lacks are left out,
  // as a narrowed profile leaves them out, so the fallback is never looser than the base.
  const detail = dockerAllowedDetail(base);
  const allowed = new Set<string>([...needed, ...detail.unconditional, ...detail.argConditional]);
  const plan = planProfile(base, allowed);
  const reason = keepBase ?? `--strict: ${unresolvedSites} reached syscall site${unresolvedSites === 1 ? '' : 's'} with a number the analysis could not recover (any syscall may be made there), so the image keeps the base profile`;
  return { plan, allowed: [...allowed].sort(), fallback: { reason } };
}
