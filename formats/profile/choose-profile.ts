/**
 * Whether an image gets a narrowed profile or stays "not hardened" with the base profile whole.
 *
 * A reached syscall site whose number the analysis could not recover may make any
 * syscall: a profile narrowed to what was found may block it (an outage). By default
 * such an image falls back to the base (Docker's default, or -p) with nothing removed,
 * plus what it needs beyond the base, so the fallback never allows less than the
 * narrowed profile would; the reason names the sites. `narrowPastUnknownSites`
 * (--narrow-past-unknown-sites) narrows anyway, taking that risk.
 */
import { formatUnresolvedSite, type UnresolvedSite } from '../../analysis/link/unresolved-sites';
import { dockerAllowedDetail } from './docker-default-allowed';
import { planProfile, ProfilePlan } from './emit-profile';
import type { DockerProfile } from './seccomp-types';

export interface ProfileChoice {
  plan: ProfilePlan;
  /** What the profile allows for a container with Docker's default capabilities. */
  allowed: string[];
  /** Present when the image is not hardened: the base profile whole, and why. */
  fallback?: { reason: string };
}

/** The flag that narrows past unknown sites, as the CLI spells it (messages name it). */
export const NARROW_PAST_UNKNOWN_SITES = '--narrow-past-unknown-sites';

/** How many sites a fallback reason names (the run summary and the report list every one). */
const SITES_NAMED = 3;

export function chooseProfile(
  base: DockerProfile,
  needed: ReadonlySet<string>,
  unresolvedSites: number,
  narrowPastUnknownSites: boolean,
  sites: readonly UnresolvedSite[] = [],
  /**
   * A reason the profile cannot be narrowed whatever the flags say (the image runs code
   * that is not analysed, e.g. a 32-bit program): the base whole, with that reason.
   */
  keepBase?: string,
): ProfileChoice {
  if (!keepBase && (narrowPastUnknownSites || unresolvedSites === 0)) return { plan: planProfile(base, new Set(needed)), allowed: [...needed].sort() };
  // What the base allows this container (Docker's default capabilities), rules and
  // argument conditions as the base has them: the same evaluation as a narrowed profile,
  // with nothing taken away. Rules for capabilities the container lacks are left out,
  // as a narrowed profile leaves them out, so the fallback is never looser than the base.
  const detail = dockerAllowedDetail(base);
  const allowed = new Set<string>([...needed, ...detail.unconditional, ...detail.argConditional]);
  const plan = planProfile(base, allowed);
  const named = sites.slice(0, SITES_NAMED).map((s) => formatUnresolvedSite(s)).join(' | ');
  const more = sites.length > SITES_NAMED ? ` | … (${sites.length - SITES_NAMED} more)` : '';
  const reason =
    keepBase ??
    `${unresolvedSites} reached syscall site${unresolvedSites === 1 ? '' : 's'} with a number the analysis could not recover ` +
    `(any syscall may be made there), so the image keeps the base profile${named ? `: ${named}${more}` : ''}; ${NARROW_PAST_UNKNOWN_SITES} narrows it anyway`;
  return { plan, allowed: [...allowed].sort(), fallback: { reason } };
}
