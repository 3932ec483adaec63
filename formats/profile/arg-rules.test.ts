import { accepts, admitsI386, applyArgRules, argEquals, argRulesFor, withoutI386 } from './arg-rules';
import { planProfile } from './emit-profile';
import { toOciSeccomp } from './oci-seccomp';
import { defaultProfile } from './read-profile';
import { toSpoSeccompProfile } from './spo-profile';
import type { DockerProfile, SeccompRule } from './seccomp-types';

const base = defaultProfile().profile;
const needed = new Set(['socket', 'socketpair', 'clone', 'clone3', 'read', 'write', 'personality']);
const planned = planProfile(base, needed).profile;

/** The runtime as calibration saw it: makes `opaque` with unknown arguments, `values` with known ones. */
const runtime = (opaque: string[] = [], values: Record<string, number[]> = {}, programSyscalls: string[] = [...needed]) => ({
  opaque: new Set(opaque),
  values: new Map(Object.entries(values)),
  tracked: new Map([['prctl', 0], ['socket', 0], ['socketpair', 0]]),
  programSyscalls: new Set(programSyscalls),
});

const rulesFor = (p: DockerProfile, name: string) => (p.syscalls ?? []).filter((r) => r.names.includes(name));

/** What a profile allows for `name` with argument `arg` = v, evaluated like libseccomp (any allow rule whose comparisons all hold; no caps/arch filters here). */
function allows(p: DockerProfile, name: string, arg: number, v: number): boolean {
  return rulesFor(p, name).some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.includes?.caps && !r.includes?.arches && (r.args ?? []).every((c) => c.index !== arg || accepts(c, v)));
}

test('one rule per value, on the low 32 bits, keeping the base conditions', () => {
  const { profile, applied } = applyArgRules(planned, [{ name: 'socket', arg: 0, values: [1, 2, 10, 40] }, { name: 'socketpair', arg: 0, values: [1] }]);
  // AF_VSOCK (40) is refused by Docker's default: it stays refused.
  expect(applied).toEqual([
    { name: 'socket', arg: 0, values: [1, 2, 10], refusedByBase: [40] },
    { name: 'socketpair', arg: 0, values: [1], refusedByBase: [] },
  ]);
  const sock = rulesFor(profile, 'socket');
  expect(sock.map((r) => r.args)).toEqual([[argEquals(0, 1)], [argEquals(0, 2)], [argEquals(0, 10)]]);
  for (const v of [1, 2, 10]) expect(allows(profile, 'socket', 0, v)).toBe(true);
  for (const v of [16, 17, 40, 0]) expect(allows(profile, 'socket', 0, v)).toBe(false);
  // A value with garbage in the upper half is still the kernel's AF_INET.
  expect(accepts(argEquals(0, 2), 2)).toBe(true);
  expect(argEquals(0, 2)).toEqual({ index: 0, value: 0xffffffff, valueTwo: 2, op: 'SCMP_CMP_MASKED_EQ' });
  expect(allows(profile, 'socketpair', 0, 1)).toBe(true);
  expect(allows(profile, 'socketpair', 0, 2)).toBe(false);
  // socketpair left its shared rule; the other names there are untouched.
  const shared = (planned.syscalls ?? []).find((r) => r.names.includes('socketpair'))!;
  const after = (profile.syscalls ?? []).find((r) => r.names.includes('read'))!;
  expect(after.names).toEqual(shared.names.filter((n) => n !== 'socketpair'));
  expect(after.args ?? undefined).toBe(shared.args ?? undefined);
});

test("Docker's own conditions stay: clone3 ENOSYS, capability-gated clone, personality values", () => {
  const { profile } = applyArgRules(planned, [{ name: 'socket', arg: 0, values: [2] }]);
  const others = (r: SeccompRule[] | undefined) => (r ?? []).filter((x) => !x.names.includes('socket') && !x.names.includes('socketpair'));
  expect(others(profile.syscalls)).toEqual(others(planned.syscalls));
  expect(rulesFor(profile, 'clone3').some((r) => r.action === 'SCMP_ACT_ERRNO' && r.errnoRet === 38)).toBe(true);
});

test('unconditional, runtime-made or valueless syscalls keep their base rules', () => {
  const resolved = {
    socket: { arg: 0, values: [], unconditional: { binary: '/bin/x', object: '/lib/libc.so.6', site: 16, function: 'f', reason: 'domain from argv' } },
    socketpair: { arg: 0, values: [{ value: 1 }] },
  };
  const r = argRulesFor(planned, resolved, runtime(['socketpair']));
  // The rules are the base's; only the i386 ABI goes (the base's socket family conditions).
  expect(r.profile).toEqual(withoutI386(planned));
  expect(r.report.map((x) => [x.name, !!x.unconditional])).toEqual([['socket', true], ['socketpair', true]]);
  expect(r.report[0].unconditional).toMatch(/domain from argv.*libc\.so\.6:f site 0x10/);
  const none = argRulesFor(planned, { socketpair: { arg: 0, values: [] } }, runtime());
  expect(none.profile).toEqual(withoutI386(planned));
  expect(argRulesFor(planned, undefined, runtime()).profile).toBe(planned);
});

test("the runtime's measured values join the program's, and limit a syscall only the runtime makes", () => {
  const withPrctl = planProfile(base, new Set([...needed, 'prctl'])).profile;
  const resolved = { socketpair: { arg: 0, values: [{ value: 1 }] } };
  const r = argRulesFor(withPrctl, resolved, runtime([], { socketpair: [2], prctl: [8, 24] }));
  expect(allows(r.profile, 'socketpair', 0, 1)).toBe(true);
  expect(allows(r.profile, 'socketpair', 0, 2)).toBe(true);
  expect(allows(r.profile, 'socketpair', 0, 10)).toBe(false);
  // The programs never reach prctl: runc's options are all it may do.
  expect(r.report.find((x) => x.name === 'prctl')).toEqual({ name: 'prctl', arg: 0, values: [8, 24] });
  expect(allows(r.profile, 'prctl', 0, 24)).toBe(true);
  expect(allows(r.profile, 'prctl', 0, 4)).toBe(false);
  // The program reaches prctl but no value was found there: runc's values must not become its rule.
  const valueless = argRulesFor(withPrctl, { ...resolved, prctl: { arg: 0, values: [] } }, runtime([], { prctl: [8, 24] }, [...needed, 'prctl']));
  expect(valueless.report.find((x) => x.name === 'prctl')?.unconditional).toBe('no value found at the reached sites');
  expect(allows(valueless.profile, 'prctl', 0, 4)).toBe(true);
  // A program syscall without a rule of the resolve stage (a seed graph's, a Go list's)
  // came with arguments nobody followed: runtime values must not narrow it.
  const fromList = argRulesFor(withPrctl, resolved, runtime([], { prctl: [8, 24] }, [...needed, 'prctl']));
  expect(fromList.report.some((x) => x.name === 'prctl')).toBe(false);
  expect(allows(fromList.profile, 'prctl', 0, 4)).toBe(true);
});

test('OCI and SPO forms carry the argument rules', () => {
  const { profile } = applyArgRules(planned, [{ name: 'socket', arg: 0, values: [1, 2] }]);
  const oci = toOciSeccomp(profile);
  const sock = oci.syscalls.filter((r) => r.names.includes('socket'));
  expect(sock.map((r) => r.args)).toEqual([[{ index: 0, value: 0xffffffff, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }], [{ index: 0, value: 0xffffffff, valueTwo: 2, op: 'SCMP_CMP_MASKED_EQ' }]]);
  const spo = toSpoSeccompProfile(profile, 'x');
  expect(spo.spec.syscalls!.filter((r) => r.names.includes('socket')).map((r) => r.args)).toEqual(sock.map((r) => r.args));
});

const i386Admitted = admitsI386;

test('socket family conditions refuse the i386 ABI, whose socketcall no filter can check; without them it stays', () => {
  expect(i386Admitted(planned)).toBe(true);
  const socketRule = argRulesFor(planned, { socket: { arg: 0, values: [{ value: 2 }] } }, runtime());
  expect(socketRule.refusesI386).toBe(true);
  expect(i386Admitted(socketRule.profile)).toBe(false);
  // x32 passes arguments in registers like x86-64: its calls meet the same rules.
  expect(socketRule.profile.archMap!.find((m) => m.architecture === 'SCMP_ARCH_X86_64')!.subArchitectures).toEqual(['SCMP_ARCH_X32']);
  expect(allows(socketRule.profile, 'socket', 0, 2)).toBe(true);
  expect(allows(socketRule.profile, 'socket', 0, 17)).toBe(false);

  // Docker's own socket rules refuse AF_ALG and AF_VSOCK by family: with socket allowed
  // that way (no rule of ours), the i386 ABI is refused too, so that they hold.
  const personalityOnly = argRulesFor(planned, { personality: { arg: 0, values: [{ value: 0 }] } }, runtime());
  expect(personalityOnly.refusesI386).toBe(true);
  expect(i386Admitted(personalityOnly.profile)).toBe(false);
  // Without socket and socketpair, no family condition needs it refused.
  const noSockets = planProfile(base, new Set(['clone', 'read', 'write', 'personality'])).profile;
  const noSocketRules = argRulesFor(noSockets, { personality: { arg: 0, values: [{ value: 0 }] } }, runtime([], {}, ['clone', 'read', 'write', 'personality']));
  expect(noSocketRules.refusesI386).toBeUndefined();
  expect(i386Admitted(noSocketRules.profile)).toBe(true);
  // A base allowing every family (no condition): nothing to protect.
  const anyFamily: DockerProfile = { ...planned, syscalls: planned.syscalls!.map((r) => (r.names.includes('socket') ? { ...r, args: [] } : r)) };
  expect(argRulesFor(anyFamily, { personality: { arg: 0, values: [{ value: 0 }] } }, runtime()).refusesI386).toBeUndefined();

  // Reached code making i386-ABI syscalls would be killed without it: socket stays unconditional.
  const withInt80 = argRulesFor(planned, { socket: { arg: 0, values: [{ value: 2 }] } }, { ...runtime(), i386Reached: true });
  expect(i386Admitted(withInt80.profile)).toBe(true);
  expect(withInt80.profile).toEqual(planned);
  expect(withInt80.report).toEqual([{ name: 'socket', arg: 0, unconditional: expect.stringMatching(/i386-ABI syscalls.*socketcall/) }]);
});
