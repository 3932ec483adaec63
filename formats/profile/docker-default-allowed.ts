/**
 * Evaluates a templated Docker profile the way the engine does for one container
 * (moby profiles/seccomp `setupSeccomp`): a rule counts only if every `includes`
 * condition holds (all its caps present, the arch listed, kernel ≥ minKernel) and no
 * `excludes` condition holds (any cap present, arch listed, kernel ≥ minKernel).
 */
import * as os from 'node:os';
import { syscallNumber } from '../../analysis/syscalls/table';
import type { DockerProfile, SeccompRule } from './seccomp-types';

/** Capabilities Docker gives a container unless told otherwise (moby oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPS: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export interface ContainerContext {
  /** Capabilities added beyond Docker's defaults (`--cap-add`), `CAP_` prefix optional. */
  caps?: string[];
  /** Capabilities removed (`--cap-drop`). */
  capDrop?: string[];
  /** Start from Docker's default capability set (true) or from none (false). Default true. */
  defaultCaps?: boolean;
  /** `x86_64`/`amd64`, `aarch64`/`arm64`, ... Default x86_64. */
  arch?: string;
  /** Kernel release for `minKernel`, e.g. "6.1.0". Default: this host's. */
  kernel?: string;
}

const GO_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', i386: 'x86', i686: 'x86', x32: 'x32' };

export const goArch = (arch: string): string => GO_ARCH[arch] ?? arch;
const capName = (c: string) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`);

export function effectiveCaps(ctx: ContainerContext): Set<string> {
  const caps = new Set<string>(ctx.defaultCaps === false ? [] : DOCKER_DEFAULT_CAPS);
  for (const c of ctx.caps ?? []) caps.add(capName(c));
  for (const c of ctx.capDrop ?? []) caps.delete(capName(c));
  return caps;
}

/** Compares "a.b[.c...]" versions on major and minor, as Docker's kernel check does. */
function kernelAtLeast(kernel: string, min: string): boolean {
  const [ka, kb] = kernel.split(/[.-]/).map((x) => parseInt(x, 10));
  const [ma, mb] = min.split('.').map((x) => parseInt(x, 10));
  return ka > ma || (ka === ma && (kb || 0) >= (mb || 0));
}

interface Resolved {
  caps: Set<string>;
  arch: string;
  kernel: string;
}

function resolve(ctx: ContainerContext): Resolved {
  return { caps: effectiveCaps(ctx), arch: goArch(ctx.arch ?? 'x86_64'), kernel: ctx.kernel ?? os.release() };
}

function applies(rule: SeccompRule, r: Resolved): boolean {
  const inc = rule.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(r.arch)) return false;
    if (inc.caps?.length && !inc.caps.every((c) => r.caps.has(c))) return false;
    if (inc.minKernel && !kernelAtLeast(r.kernel, inc.minKernel)) return false;
  }
  const exc = rule.excludes;
  if (exc) {
    if (exc.arches?.length && exc.arches.includes(r.arch)) return false;
    if (exc.caps?.length && exc.caps.some((c) => r.caps.has(c))) return false;
    if (exc.minKernel && kernelAtLeast(r.kernel, exc.minKernel)) return false;
  }
  return true;
}

export function ruleApplies(rule: SeccompRule, ctx: ContainerContext = {}): boolean {
  return applies(rule, resolve(ctx));
}

/** The rules Docker would install for this container, in profile order. */
export function applicableRules(profile: DockerProfile, ctx: ContainerContext = {}): SeccompRule[] {
  const r = resolve(ctx);
  return (profile.syscalls ?? []).filter((rule) => applies(rule, r));
}

/** On x86-64 only names in the syscall table are syscalls; other arches are not filtered. */
function isArchSyscall(name: string, arch: string): boolean {
  return arch !== 'amd64' || syscallNumber(name) !== undefined;
}

export interface AllowedDetail {
  /** Allowed whatever the arguments. */
  unconditional: Set<string>;
  /** Allowed only for some argument values (e.g. `clone` without namespace flags). */
  argConditional: Set<string>;
  /** Answered by a non-allow rule that differs from the default (e.g. `clone3` → ENOSYS). */
  special: Map<string, SeccompRule>;
}

export function dockerAllowedDetail(profile: DockerProfile, ctx: ContainerContext = {}): AllowedDetail {
  const r = resolve(ctx);
  const unconditional = new Set<string>();
  const argConditional = new Set<string>();
  const special = new Map<string, SeccompRule>();
  for (const rule of profile.syscalls ?? []) {
    if (!applies(rule, r)) continue;
    for (const name of rule.names) {
      if (!isArchSyscall(name, r.arch)) continue;
      if (rule.action === 'SCMP_ACT_ALLOW') (rule.args?.length ? argConditional : unconditional).add(name);
      else special.set(name, rule);
    }
  }
  for (const n of unconditional) argConditional.delete(n);
  return { unconditional, argConditional, special };
}

/**
 * Syscall names the profile lets this container make at least for some arguments.
 * Default context: Docker's default capabilities, x86-64, this host's kernel.
 */
export function dockerDefaultAllowed(profile: DockerProfile, ctx: ContainerContext = {}): Set<string> {
  const d = dockerAllowedDetail(profile, ctx);
  return new Set([...d.unconditional, ...d.argConditional]);
}
