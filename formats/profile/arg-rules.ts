/**
 * Writes argument rules into a narrowed profile: a syscall with allowed values keeps,
 * for each base allow rule naming it, one rule per value (Docker ORs separate rules)
 * with that rule's own conditions (capabilities, arches, other arguments) intact. The
 * base's comparisons on the same argument are evaluated here for each value: a value
 * the base rule rejects is not allowed through it (so the result is never looser than
 * the base for that value), and one it accepts gets the single equality (libseccomp
 * wants one comparison per argument in a rule). Non-allow rules (clone3 → ENOSYS) are
 * untouched.
 *
 * The comparison is on the low 32 bits (SCMP_CMP_MASKED_EQ with mask 0xffffffff): the
 * tracked arguments are C `int`s, the kernel reads only those bits, and the psABI leaves
 * the upper half of an int argument undefined, so a plain 64-bit equality could refuse
 * a call the kernel would have made with the allowed value.
 */
import type { DockerProfile, SeccompArg, SeccompRule } from './seccomp-types';

export interface ArgRuleInput {
  name: string;
  arg: number;
  values: number[];
}

export interface AppliedArgRule {
  name: string;
  arg: number;
  /** Values some base rule lets through. */
  values: number[];
  /** Values every base allow rule for the name rejects (the base never allowed them). */
  refusedByBase: number[];
}

const LOW32 = 0xffffffff;

/** The rule's comparison for `arg` = v (low 32 bits). */
export function argEquals(arg: number, v: number): SeccompArg {
  return { index: arg, value: LOW32, valueTwo: v >>> 0, op: 'SCMP_CMP_MASKED_EQ' };
}

/** Whether a base comparison accepts the (zero-extended) value v for its argument. */
export function accepts(c: SeccompArg, v: number): boolean {
  return acceptsRegister(c, BigInt(v >>> 0));
}

/** Whether a comparison accepts the 64-bit register value x, as libseccomp compares it. */
export function acceptsRegister(c: SeccompArg, x: bigint): boolean {
  const a = BigInt.asUintN(64, BigInt(c.value));
  switch (c.op) {
    case 'SCMP_CMP_NE': return x !== a;
    case 'SCMP_CMP_LT': return x < a;
    case 'SCMP_CMP_LE': return x <= a;
    case 'SCMP_CMP_EQ': return x === a;
    case 'SCMP_CMP_GE': return x >= a;
    case 'SCMP_CMP_GT': return x > a;
    case 'SCMP_CMP_MASKED_EQ': return (x & a) === BigInt.asUintN(64, BigInt(c.valueTwo ?? 0));
  }
}

export function applyArgRules(profile: DockerProfile, rules: ArgRuleInput[]): { profile: DockerProfile; applied: AppliedArgRule[] } {
  const byName = new Map(rules.filter((r) => r.values.length).map((r) => [r.name, r]));
  const passed = new Map<string, Set<number>>([...byName.keys()].map((n) => [n, new Set<number>()]));
  const out: SeccompRule[] = [];
  for (const rule of profile.syscalls ?? []) {
    const mine = rule.action === 'SCMP_ACT_ALLOW' ? rule.names.filter((n) => byName.has(n)) : [];
    if (!mine.length) {
      out.push(rule);
      continue;
    }
    const rest = rule.names.filter((n) => !byName.has(n));
    if (rest.length) out.push({ ...rule, names: rest });
    for (const name of mine) {
      const r = byName.get(name)!;
      const same = (rule.args ?? []).filter((c) => c.index === r.arg);
      const other = (rule.args ?? []).filter((c) => c.index !== r.arg);
      for (const v of r.values) {
        if (!same.every((c) => accepts(c, v))) continue;
        passed.get(name)!.add(v);
        const { comment, ...keep } = rule;
        out.push({ ...keep, names: [name], args: [...other.map((c) => ({ ...c })), argEquals(r.arg, v)], comment: `confine: ${name} argument ${r.arg} = ${v}${comment ? ` (base: ${comment})` : ''}` });
      }
    }
  }
  const applied = [...byName.values()].map((r) => ({
    name: r.name,
    arg: r.arg,
    values: [...passed.get(r.name)!].sort((x, y) => x - y),
    refusedByBase: r.values.filter((v) => !passed.get(r.name)!.has(v)),
  }));
  return { profile: { ...profile, syscalls: out }, applied };
}

type ResolvedArgRules = Record<string, { arg: number; values: { value: number }[]; unconditional?: { binary: string; object: string; site: number; function: string; reason: string } }>;

export interface ArgRuleReport {
  name: string;
  arg: number;
  values?: number[];
  refusedByBase?: number[];
  unconditional?: string;
}

/** What the container runtime passes to tracked syscalls after the filter is installed. */
export interface RuntimeArgs {
  /** Syscalls it makes whose arguments are not known (not measured, or not tracked): no rule may narrow them. */
  opaque: Set<string>;
  /** Measured values (runtime calibration), by syscall: every rule for the syscall must allow them. */
  values: Map<string, number[]>;
  /** Which argument each tracked syscall's rule is on, for syscalls only the runtime makes. */
  tracked: ReadonlyMap<string, number>;
  /**
   * Every syscall the image's programs may make (the resolve stage's set): one of them
   * without a rule of the resolve stage came from somewhere arguments are not followed
   * (a seed call graph, a Go list), so runtime values alone must not narrow it.
   */
  programSyscalls: ReadonlySet<string>;
  /** Whether reached code makes i386-ABI syscalls (int $0x80, sysenter): see SOCKETCALL. */
  i386Reached?: boolean;
}

/**
 * Syscalls the i386 ABI also reaches through socketcall(2), whose arguments are in
 * memory where no seccomp filter reads them: libseccomp turns a rule on `socket` into
 * socketcall(SYS_SOCKET) with no argument check for that ABI (measured: under a profile
 * allowing only socket(AF_INET), `int $0x80` socketcall made an AF_PACKET socket). A
 * rule on them holds only if the filter refuses the i386 ABI altogether.
 */
export const SOCKETCALL = new Set(['socket', 'socketpair']);
const I386 = 'SCMP_ARCH_X86';

/** Whether some rule allowing socket or socketpair holds only for some families (a condition on argument 0). */
function familyConditioned(profile: DockerProfile): boolean {
  return (profile.syscalls ?? []).some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.some((n) => SOCKETCALL.has(n)) && (r.args ?? []).some((c) => c.index === 0));
}

/** Whether the filter admits the i386 ABI of an x86-64 host (Docker's archMap sub-architecture, or the flat `architectures` list). */
export function admitsI386(profile: DockerProfile): boolean {
  if (profile.archMap?.some((m) => m.architecture === 'SCMP_ARCH_X86_64' && (m.subArchitectures ?? []).includes(I386))) return true;
  return (profile.architectures ?? []).includes(I386);
}

/** The profile without the i386 ABI on x86-64 hosts: its syscalls then meet the bad-arch action (the thread is killed). */
export function withoutI386(profile: DockerProfile): DockerProfile {
  return {
    ...profile,
    ...(profile.architectures ? { architectures: profile.architectures.filter((a) => a !== I386) } : {}),
    ...(profile.archMap
      ? { archMap: profile.archMap.map((m) => (m.architecture === 'SCMP_ARCH_X86_64' && m.subArchitectures ? { ...m, subArchitectures: m.subArchitectures.filter((a) => a !== I386) } : m)) }
      : {}),
  };
}

/**
 * The profile with the resolve stage's argument rules written in, and what was done
 * for each tracked syscall. The runtime's own calls after the filter join: measured
 * values are allowed too (a syscall only the runtime makes is limited to those), and a
 * syscall it makes with unknown arguments stays unconditional.
 */
export function argRulesFor(
  profile: DockerProfile,
  resolved: ResolvedArgRules | undefined,
  runtime: RuntimeArgs,
): { profile: DockerProfile; report: ArgRuleReport[]; refusesI386?: boolean } {
  if (!resolved) return { profile, report: [] };
  const report: ArgRuleReport[] = [];
  const inputs: ArgRuleInput[] = [];
  const runtimeOnly = [...runtime.values.keys()].filter((n) => runtime.tracked.has(n) && !runtime.programSyscalls.has(n));
  const names = new Set([...Object.keys(resolved), ...runtimeOnly]);
  for (const name of [...names].sort((a, b) => a.localeCompare(b))) {
    const r = resolved[name] ?? { arg: runtime.tracked.get(name)!, values: [] };
    const fromRuntime = runtime.values.get(name) ?? [];
    if (r.unconditional) {
      const u = r.unconditional;
      report.push({ name, arg: r.arg, unconditional: `${u.reason}${u.object ? ` (${u.object}${u.function ? `:${u.function}` : ''}${u.site >= 0 ? ` site 0x${u.site.toString(16)}` : ''}${u.binary && u.binary !== u.object ? `, in ${u.binary}` : ''})` : ''}` });
    } else if (runtime.opaque.has(name)) {
      report.push({ name, arg: r.arg, unconditional: 'also made by the container runtime after the filter is installed (arguments not measured)' });
    } else if (SOCKETCALL.has(name) && runtime.i386Reached) {
      report.push({ name, arg: r.arg, unconditional: "reached code makes i386-ABI syscalls (int $0x80 / sysenter), and that ABI's socketcall passes the argument in memory, where no filter reads it" });
    } else if (!r.values.length && (resolved[name] !== undefined || !fromRuntime.length)) {
      // The program reaches it with no value found: the runtime's values alone would deny its calls.
      report.push({ name, arg: r.arg, unconditional: 'no value found at the reached sites' });
    } else inputs.push({ name, arg: r.arg, values: [...new Set([...r.values.map((v) => v.value), ...fromRuntime])].sort((a, b) => a - b) });
  }
  const done = applyArgRules(profile, inputs);
  // Conditions on socket/socketpair's family hold only without the i386 ABI (SOCKETCALL):
  // ours, and the base's own (Docker's default refuses AF_ALG and AF_VSOCK by family
  // ranges). No reached code uses that ABI, and runc's init is x86-64.
  const refuseI386 = !runtime.i386Reached && familyConditioned(done.profile);
  const written = refuseI386 ? withoutI386(done.profile) : done.profile;
  for (const a of done.applied) report.push({ name: a.name, arg: a.arg, values: a.values, ...(a.refusedByBase.length ? { refusedByBase: a.refusedByBase } : {}) });
  return { profile: written, report: report.sort((a, b) => a.name.localeCompare(b.name)), ...(refuseI386 ? { refusesI386: true } : {}) };
}
