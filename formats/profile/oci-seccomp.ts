/**
 * The OCI runtime-spec `linux.seccomp` form of a Docker profile — what runc, crun and
 * podman take directly. Docker's templating (`archMap`, `includes`/`excludes`) and its
 * `comment`s have no place there, so they are resolved here for one container the way
 * the engine would (moby profiles/seccomp `setupSeccomp`) and dropped.
 */
import {
  applicableRules,
  ContainerContext,
  goArch,
} from "./docker-default-allowed";
import type {
  DockerProfile,
  SeccompAction,
  SeccompArg,
  SeccompRule,
} from "./seccomp-types";

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompArg["op"];
}

export interface OciSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: OciSyscall[];
}

/** Go arch (as `goArch` names it) → the libseccomp arch `archMap` keys on (moby `nativeToSeccomp`). */
const SECCOMP_ARCH: Record<string, string> = {
  amd64: "SCMP_ARCH_X86_64",
  x86: "SCMP_ARCH_X86",
  "386": "SCMP_ARCH_X86",
  x32: "SCMP_ARCH_X32",
  arm64: "SCMP_ARCH_AARCH64",
  arm: "SCMP_ARCH_ARM",
  mips64: "SCMP_ARCH_MIPS64",
  mips64n32: "SCMP_ARCH_MIPS64N32",
  mipsel64: "SCMP_ARCH_MIPSEL64",
  mips64le: "SCMP_ARCH_MIPSEL64",
  mipsel64n32: "SCMP_ARCH_MIPSEL64N32",
  mips64len32: "SCMP_ARCH_MIPSEL64N32",
  ppc64le: "SCMP_ARCH_PPC64LE",
  s390x: "SCMP_ARCH_S390X",
  riscv64: "SCMP_ARCH_RISCV64",
  loong64: "SCMP_ARCH_LOONGARCH64",
};

/**
 * `architectures` as given, else the native arch's `archMap` entry with its
 * sub-architectures (x86-64 → X86_64, X86, X32: 32-bit and x32 syscalls are filtered
 * too, not left open). Undefined when neither says anything for this arch, as Docker does.
 */
export function resolveArchitectures(
  profile: DockerProfile,
  ctx: ContainerContext = {},
): string[] | undefined {
  if (profile.architectures?.length) return [...profile.architectures];
  const native = SECCOMP_ARCH[goArch(ctx.arch ?? "x86_64")];
  const entry = profile.archMap?.find((a) => a.architecture === native);
  return entry
    ? [entry.architecture, ...(entry.subArchitectures ?? [])]
    : undefined;
}

function ociRule(rule: SeccompRule): OciSyscall {
  const out: OciSyscall = { names: [...rule.names], action: rule.action };
  if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
  if (rule.args?.length) {
    out.args = rule.args.map((a) => {
      const arg: OciSeccompArg = { index: a.index, value: a.value, op: a.op };
      if (a.valueTwo !== undefined) arg.valueTwo = a.valueTwo;
      return arg;
    });
  }
  return out;
}

/** Default context: Docker's default capabilities, x86-64, this host's kernel (for `minKernel`). */
export function toOciSeccomp(
  profile: DockerProfile,
  ctx: ContainerContext = {},
): OciSeccomp {
  const out: OciSeccomp = {
    defaultAction: profile.defaultAction,
    syscalls: [],
  };
  if (profile.defaultErrnoRet !== undefined)
    out.defaultErrnoRet = profile.defaultErrnoRet;
  const architectures = resolveArchitectures(profile, ctx);
  if (architectures) out.architectures = architectures;
  if (profile.flags?.length) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerPath && profile.listenerMetadata)
    out.listenerMetadata = profile.listenerMetadata;
  // The spec requires at least one name per rule.
  out.syscalls = applicableRules(profile, ctx)
    .filter((r) => r.names.length > 0)
    .map(ociRule);
  return out;
}
