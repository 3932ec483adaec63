/**
 * Docker seccomp profiles: the types, reading a base profile (Docker's or the seed's
 * form), evaluating it for a container as Docker does, and emitting a narrowed one.
 * One import for callers; each job lives in its own module.
 */
export * from './seccomp-types';
export {
  DEFAULT_PROFILE_FILE,
  checkDockerProfile,
  defaultProfile,
  parseProfileText,
  profileFromSeedBlocklist,
  readProfile,
} from './read-profile';
export type { LoadedProfile } from './read-profile';
export {
  DOCKER_DEFAULT_CAPS,
  applicableRules,
  dockerAllowedDetail,
  dockerDefaultAllowed,
  effectiveCaps,
  goArch,
  ruleApplies,
} from './docker-default-allowed';
export type { AllowedDetail, ContainerContext } from './docker-default-allowed';
export { ADDED_COMMENT, emitProfile, planProfile } from './emit-profile';
export type { EmitOptions, ProfilePlan } from './emit-profile';
