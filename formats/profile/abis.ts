/**
 * Which syscall ABIs a profile admits on an x86-64 host besides the native one: i386
 * (`int $0x80`, `sysenter`, or a 32-bit program) and x32 (the `syscall` instruction with
 * bit 30 of the number set). Each is a second way into the kernel — its own syscall
 * table, the 32-bit compat handlers, and for i386 socketcall(2), whose arguments no
 * filter reads — so a profile keeps one only when reached code uses it.
 *
 * A filter without an ABI meets that ABI's calls with the bad-arch action (the thread is
 * killed with SIGSYS), so dropping one an image really uses would break it: the evidence
 * that it is used is every reached syscall site, the same sites the allowed set comes
 * from, so dropping is exactly as sound as the rest of the profile.
 */
import { syscallName } from '../../analysis/syscalls/table';
import type { DockerProfile } from './seccomp-types';

export type CompatAbi = 'i386' | 'x32';
export const COMPAT_ABIS: readonly CompatAbi[] = ['i386', 'x32'];

/** libseccomp's name for each ABI, as Docker profiles write it. */
export const ABI_ARCH: Record<CompatAbi, string> = { i386: 'SCMP_ARCH_X86', x32: 'SCMP_ARCH_X32' };

const NATIVE = 'SCMP_ARCH_X86_64';

/** Whether the filter admits the ABI on an x86-64 host (Docker's archMap sub-architecture, or the flat `architectures` list). */
export function admitsAbi(profile: DockerProfile, abi: CompatAbi): boolean {
  const arch = ABI_ARCH[abi];
  if (profile.archMap?.some((m) => m.architecture === NATIVE && (m.subArchitectures ?? []).includes(arch))) return true;
  return (profile.architectures ?? []).includes(arch);
}

/** The profile without the given ABIs on x86-64 hosts. */
export function withoutAbis(profile: DockerProfile, abis: readonly CompatAbi[]): DockerProfile {
  const drop = new Set(abis.map((a) => ABI_ARCH[a]));
  if (!drop.size) return profile;
  return {
    ...profile,
    ...(profile.architectures ? { architectures: profile.architectures.filter((a) => !drop.has(a)) } : {}),
    ...(profile.archMap
      ? { archMap: profile.archMap.map((m) => (m.architecture === NATIVE && m.subArchitectures ? { ...m, subArchitectures: m.subArchitectures.filter((a) => !drop.has(a)) } : m)) }
      : {}),
  };
}

/** The x32 ABI's marker in a syscall number (`__X32_SYSCALL_BIT`). */
export const X32_SYSCALL_BIT = 0x40000000;

/**
 * x32 numbers 512–547: the calls whose x86-64 number is 64-bit only (`syscall_64.tbl`,
 * abi `x32`); the others are the x86-64 numbers with bit 30 set.
 */
const X32_ONLY: Record<number, string> = {
  512: 'rt_sigaction', 513: 'rt_sigreturn', 514: 'ioctl', 515: 'readv', 516: 'writev', 517: 'recvfrom', 518: 'sendmsg', 519: 'recvmsg',
  520: 'execve', 521: 'ptrace', 522: 'rt_sigpending', 523: 'rt_sigtimedwait', 524: 'rt_sigqueueinfo', 525: 'sigaltstack', 526: 'timer_create',
  527: 'mq_notify', 528: 'kexec_load', 529: 'waitid', 530: 'set_robust_list', 531: 'get_robust_list', 532: 'vmsplice', 533: 'move_pages',
  534: 'preadv', 535: 'pwritev', 536: 'rt_tgsigqueueinfo', 537: 'recvmmsg', 538: 'sendmmsg', 539: 'process_vm_readv', 540: 'process_vm_writev',
  541: 'setsockopt', 542: 'getsockopt', 543: 'io_setup', 544: 'io_submit', 545: 'execveat', 546: 'preadv2', 547: 'pwritev2',
};

/** The name of an x32 syscall number (bit 30 set), as a profile allows it for every ABI; undefined when not an x32 number or not known. */
export function x32SyscallName(nr: number): string | undefined {
  if (nr < X32_SYSCALL_BIT || nr >= 2 * X32_SYSCALL_BIT) return undefined;
  const k = nr - X32_SYSCALL_BIT;
  return X32_ONLY[k] ?? (k < 512 ? syscallName(k) : undefined);
}

/** Evidence that reached code uses an ABI: where, in words a reader can check. */
export interface AbiUse {
  abi: CompatAbi;
  evidence: string;
}

export interface AbiDecision {
  abi: CompatAbi;
  /** Whether the written profile admits it. */
  kept: boolean;
  reason: string;
}

/**
 * Keeps each compat ABI the base admits only when some reached code uses it; says why
 * for each. An ABI the base does not admit stays out whatever the code does (the
 * profile is never looser than the base).
 */
export function decideAbis(profile: DockerProfile, uses: readonly AbiUse[]): { profile: DockerProfile; decisions: AbiDecision[] } {
  const decisions: AbiDecision[] = [];
  const drop: CompatAbi[] = [];
  for (const abi of COMPAT_ABIS) {
    const mine = uses.filter((u) => u.abi === abi);
    if (!admitsAbi(profile, abi)) {
      decisions.push({ abi, kept: false, reason: `the base profile does not admit it${mine.length ? ` (although reached code uses it: ${summarise(mine)})` : ''}` });
    } else if (mine.length) {
      decisions.push({ abi, kept: true, reason: `reached code uses it: ${summarise(mine)}` });
    } else {
      drop.push(abi);
      decisions.push({ abi, kept: false, reason: `no reached syscall site uses it (${abi === 'i386' ? 'no int $0x80 or sysenter' : 'no syscall number with bit 30 set'})` });
    }
  }
  return { profile: withoutAbis(profile, drop), decisions };
}

function summarise(uses: readonly AbiUse[]): string {
  const shown = uses.slice(0, 3).map((u) => u.evidence).join('; ');
  return uses.length > 3 ? `${shown}; and ${uses.length - 3} more` : shown;
}
