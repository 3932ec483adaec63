import { compatAbiUses } from '../../stages/profile-emit';
import { I386_ABI_REASON } from '../../analysis/summary/object-summary';
import { admitsAbi, decideAbis, withoutAbis, x32SyscallName } from './abis';
import { planProfile } from './emit-profile';
import { defaultProfile } from './read-profile';
import type { DockerProfile } from './seccomp-types';

const base = defaultProfile().profile;
const planned = (): DockerProfile => planProfile(base, new Set(['read', 'write', 'exit_group'])).profile;
const subArchs = (p: DockerProfile) => p.archMap!.find((m) => m.architecture === 'SCMP_ARCH_X86_64')!.subArchitectures;

describe('decideAbis: a compat ABI is kept only when reached code uses it', () => {
  test('Docker default admits both; with no use both are refused, with no socket rule in sight', () => {
    const p = planned();
    expect(admitsAbi(p, 'i386') && admitsAbi(p, 'x32')).toBe(true);
    expect((p.syscalls ?? []).some((r) => r.names.includes('socket'))).toBe(false);
    const d = decideAbis(p, []);
    expect(subArchs(d.profile)).toEqual([]);
    expect(d.decisions.map((x) => [x.abi, x.kept])).toEqual([['i386', false], ['x32', false]]);
    expect(d.decisions[0].reason).toMatch(/no int \$0x80 or sysenter/);
    expect(d.decisions[1].reason).toMatch(/bit 30/);
  });

  test('each ABI on its own evidence; the reason names it', () => {
    const d = decideAbis(planned(), [{ abi: 'i386', evidence: '/bin/x@0x10 in f: int $0x80' }]);
    expect(subArchs(d.profile)).toEqual(['SCMP_ARCH_X86']);
    expect(d.decisions.find((x) => x.abi === 'i386')).toEqual({ abi: 'i386', kept: true, reason: 'reached code uses it: /bin/x@0x10 in f: int $0x80' });
    const x = decideAbis(planned(), [{ abi: 'x32', evidence: 'syscall number 0x40000027' }]);
    expect(subArchs(x.profile)).toEqual(['SCMP_ARCH_X32']);
  });

  test('the flat architectures list too; an ABI the base lacks stays out even when used', () => {
    const flat: DockerProfile = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], syscalls: [] };
    const d = decideAbis(flat, [{ abi: 'x32', evidence: 'e' }]);
    expect(d.profile.architectures).toEqual(['SCMP_ARCH_X86_64']);
    expect(d.decisions.find((x) => x.abi === 'x32')!.reason).toMatch(/base profile does not admit it \(although reached code uses it: e\)/);
    expect(withoutAbis(flat, [])).toBe(flat);
  });
});

test('x32 numbers name their call: bit 30 plus the x86-64 number, or the x32-only 512–547', () => {
  expect(x32SyscallName(0x40000000 + 39)).toBe('getpid');
  expect(x32SyscallName(0x40000000 + 541)).toBe('setsockopt');
  expect(x32SyscallName(0x40000000 + 514)).toBe('ioctl');
  expect(x32SyscallName(39)).toBeUndefined();
  expect(x32SyscallName(0x40000000 + 9999)).toBeUndefined();
});

test('compatAbiUses reads the resolve artifact: i386 sites and x32 numbers, with where', () => {
  const uses = compatAbiUses({
    syscalls: ['read', 'syscall_1073741863'],
    unresolved: [
      { object: '/bin/a', site: 0x40, function: 'f', reasons: [`int $0x80${I386_ABI_REASON}`], binaries: ['/bin/a'] },
      { object: '/bin/a', site: 0x80, function: 'g', reasons: ['number is %rdi at entry of g, which is exported'], binaries: ['/bin/a'] },
    ],
    provenance: { syscall_1073741863: { binary: '/bin/b', steps: [], site: 0x99, siteObject: '/bin/b' } },
  });
  expect(uses).toEqual([
    { abi: 'i386', evidence: `/bin/a@0x40 in f: int $0x80${I386_ABI_REASON} (from /bin/a)` },
    { abi: 'x32', evidence: 'syscall number 0x40000027 (x32 getpid) at /bin/b@0x99 (from /bin/b)', name: 'getpid' },
  ]);
});

describe('an image that runs a 32-bit program keeps the base profile, with that ABI and the reason', () => {
  const { compatAbiOfElf } = require('../../stages/syscall-resolve') as typeof import('../../stages/syscall-resolve');
  const { baseAbis } = require('../../stages/profile-emit') as typeof import('../../stages/profile-emit');
  const { chooseProfile } = require('./choose-profile') as typeof import('./choose-profile');

  test('ELF class and machine name the ABI', () => {
    expect(compatAbiOfElf({ elfClass: 32, machine: 3 })).toBe('i386');
    expect(compatAbiOfElf({ elfClass: 32, machine: 62 })).toBe('x32');
    expect(compatAbiOfElf({ elfClass: 64, machine: 62 })).toBeUndefined();
    expect(compatAbiOfElf({ elfClass: 32, machine: 40 })).toBeUndefined(); // 32-bit ARM: not a syscall ABI of this host
  });

  test('the base whole, even with --narrow-past-unknown-sites; its ABIs kept, each with why', () => {
    const choice = chooseProfile(base, new Set(['read']), 0, true, [], 'the image runs 32-bit program(s) …');
    expect(choice.fallback).toEqual({ reason: 'the image runs 32-bit program(s) …' });
    expect(choice.allowed.length).toBeGreaterThan(250);
    expect(subArchs(choice.plan.profile)).toEqual(['SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(baseAbis(choice.plan.profile, [{ path: '/opt/old/bin/tool', abi: 'i386' }])).toEqual([
      { abi: 'i386', kept: true, reason: 'the image runs i386 program(s): /opt/old/bin/tool (not analysed; the base profile is kept whole)' },
      { abi: 'x32', kept: true, reason: 'as the base profile has it (not narrowed: the image runs 32-bit programs)' },
    ]);
  });
});
