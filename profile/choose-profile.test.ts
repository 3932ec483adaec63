import { chooseProfile } from './choose-profile';
import { dockerDefaultAllowed } from './docker-default-allowed';
import { planProfile } from './emit-profile';
import { defaultProfile } from './read-profile';
import type { DockerProfile } from './seccomp-types';

const base = defaultProfile().profile;
const needed = new Set(['read', 'write', 'exit_group', 'clone', 'rt_sigreturn']);

/** Names the profile lets a default-capability container make, evaluated as Docker does. */
const allowedBy = (p: DockerProfile) => dockerDefaultAllowed(p);

describe('chooseProfile: --strict and unresolved syscall sites', () => {
  test('without --strict the profile is narrowed even with unresolved sites', () => {
    const c = chooseProfile(base, needed, 3, false);
    expect(c.fallback).toBeUndefined();
    expect(c.allowed).toEqual([...needed].sort());
    expect(c.plan.profile).toEqual(planProfile(base, needed).profile);
  });

  test('with --strict and no unresolved site the profile is narrowed', () => {
    const c = chooseProfile(base, needed, 0, true);
    expect(c.fallback).toBeUndefined();
    expect([...allowedBy(c.plan.profile)].sort()).toEqual([...needed].sort());
  });

  test('with --strict and an unresolved site the image keeps the base profile, with the reason', () => {
    const c = chooseProfile(base, needed, 2, true);
    expect(c.fallback?.reason).toMatch(/--strict: 2 reached syscall sites .*could not recover/);
    const docker = dockerDefaultAllowed(base);
    // Exactly what Docker's default allows this container: nothing removed, nothing loosened.
    expect(allowedBy(c.plan.profile)).toEqual(docker);
    expect(new Set(c.allowed)).toEqual(docker);
    expect(c.plan.addedBeyondBase).toEqual([]);
    // The base's rules as they are: clone keeps its namespace-flag condition and its CAP_SYS_ADMIN rule.
    const cloneRules = c.plan.profile.syscalls!.filter((r) => r.names.includes('clone'));
    expect(cloneRules.length).toBeGreaterThan(1);
    expect(cloneRules).toEqual(base.syscalls!.filter((r) => r.names.includes('clone')).map((r) => ({ ...r, names: ['clone'] })));
  });

  test('strict never allows less than the narrowed profile: a need beyond the base stays allowed', () => {
    const beyond = new Set([...needed, 'reboot']);
    const narrowed = chooseProfile(base, beyond, 1, false);
    const strict = chooseProfile(base, beyond, 1, true);
    expect(narrowed.plan.addedBeyondBase).toEqual(['reboot']);
    expect(strict.plan.addedBeyondBase).toEqual(['reboot']);
    for (const n of narrowed.allowed) expect(strict.allowed).toContain(n);
    expect(allowedBy(strict.plan.profile).has('reboot')).toBe(true);
  });
});
