/**
 * Narrows a base profile (Docker's default unless `-p` says otherwise) to the syscalls
 * an image needs. The base's rules are kept as they are — argument filters (`clone`
 * without namespace flags, `personality`, `socket` families), capability and arch
 * conditions, errno answers — minus the names the image does not need, so the result
 * is never looser than the base for a syscall the base already decides about.
 *
 * Decisions:
 * - Non-allow rules of the base (Docker's `clone3` → ENOSYS for containers without
 *   CAP_SYS_ADMIN) are kept whole: dropping `clone3` would answer EPERM, and glibc only
 *   falls back to `clone` on ENOSYS, so `pthread_create` would break.
 * - A needed syscall the base does not allow in any form for this container (arch, caps)
 *   and does not answer specially gets one explicit allow rule at the end, with a comment.
 * - defaultAction is SCMP_ACT_ERRNO with EPERM, whatever the base used.
 */
import { syscallNumber } from '../../analysis/syscalls/table';
import { ContainerContext, dockerAllowedDetail, goArch } from './docker-default-allowed';
import { DockerProfile, EPERM, SeccompRule } from './seccomp-types';

export interface EmitOptions extends ContainerContext {
  /** Text for the explicit allow rule's comment. */
  addedComment?: string;
}

export interface ProfilePlan {
  profile: DockerProfile;
  /** Needed names the base did not allow for this container: allowed by the explicit rule. */
  addedBeyondBase: string[];
  /** Names the base allowed (for this container) that the result no longer allows. */
  droppedFromBase: string[];
  /** Needed names the base answers with a non-allow rule, kept as the base answers them. */
  answeredByBase: string[];
  /** Needed names that are not syscalls of the target arch; not emitted. */
  unknownNames: string[];
}

export const ADDED_COMMENT = 'confine: needed by the image, not allowed by the base profile';

export function planProfile(base: DockerProfile, allowed: Set<string>, opts: EmitOptions = {}): ProfilePlan {
  const arch = goArch(opts.arch ?? 'x86_64');
  const detail = dockerAllowedDetail(base, opts);

  const syscalls: SeccompRule[] = [];
  for (const rule of base.syscalls ?? []) {
    if (rule.action !== 'SCMP_ACT_ALLOW') {
      syscalls.push(structuredClone(rule));
      continue;
    }
    const names = rule.names.filter((n) => allowed.has(n));
    if (names.length) syscalls.push({ ...structuredClone(rule), names });
  }

  const unknownNames: string[] = [];
  const addedBeyondBase: string[] = [];
  const answeredByBase: string[] = [];
  for (const name of [...allowed].sort()) {
    if (arch === 'amd64' && syscallNumber(name) === undefined) unknownNames.push(name);
    else if (detail.special.has(name)) answeredByBase.push(name);
    else if (!detail.unconditional.has(name) && !detail.argConditional.has(name)) addedBeyondBase.push(name);
  }
  if (addedBeyondBase.length) {
    syscalls.push({ names: addedBeyondBase, action: 'SCMP_ACT_ALLOW', comment: opts.addedComment ?? ADDED_COMMENT });
  }

  const profile: DockerProfile = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM };
  if (base.archMap) profile.archMap = structuredClone(base.archMap);
  if (base.architectures) profile.architectures = [...base.architectures];
  if (!base.archMap && !base.architectures) profile.architectures = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
  if (base.flags) profile.flags = [...base.flags];
  profile.syscalls = syscalls;

  const droppedFromBase = [...detail.unconditional, ...detail.argConditional].filter((n) => !allowed.has(n)).sort();
  return { profile, addedBeyondBase, droppedFromBase, answeredByBase, unknownNames };
}

export function emitProfile(base: DockerProfile, allowed: Set<string>, opts: EmitOptions = {}): DockerProfile {
  return planProfile(base, allowed, opts).profile;
}
