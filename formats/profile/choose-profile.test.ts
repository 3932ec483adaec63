import { chooseProfile } from './choose-profile';
import { dockerDefaultAllowed } from './docker-default-allowed';
import { planProfile } from './emit-profile';
import { defaultProfile } from './read-profile';
import type { DockerProfile } from './seccomp-types';

const base = defaultProfile().profile;
const needed = new Set(['read', 'write', 'exit_group', 'clone', 'rt_sigreturn']);
const site = { object: '/usr/bin/perl', site: 0x1234, function: 'Perl_pp_syscall', reasons: ['rax written by mov from memory'], binaries: ['/usr/bin/perl'] };

/** Names the profile lets a default-capability container make, evaluated as Docker does. */
const allowedBy = (p: DockerProfile) => dockerDefaultAllowed(p);

describe('chooseProfile: unresolved syscall sites', () => {
  test('by default an unresolved site keeps the base profile: not hardened, naming the site and why', () => {
    const c = chooseProfile(base, needed, 1, false, [site]);
    expect(c.fallback?.reason).toMatch(/^1 reached syscall site with a number the analysis could not recover .*keeps the base profile/);
    expect(c.fallback?.reason).toContain('/usr/bin/perl@0x1234 in Perl_pp_syscall: rax written by mov from memory');
    expect(c.fallback?.reason).toContain('--narrow-past-unknown-sites narrows it anyway');
    expect(new Set(c.allowed)).toEqual(dockerDefaultAllowed(base));
  });

  test('a long list of sites is cut in the reason, with how many more', () => {
    const sites = Array.from({ length: 5 }, (_, k) => ({ ...site, site: 0x1000 + k }));
    const c = chooseProfile(base, needed, 5, false, sites);
    expect(c.fallback?.reason).toContain('… (2 more)');
  });

  test('--narrow-past-unknown-sites narrows even with unresolved sites', () => {
    const c = chooseProfile(base, needed, 3, true);
    expect(c.fallback).toBeUndefined();
    expect(c.allowed).toEqual([...needed].sort());
    expect(c.plan.profile).toEqual(planProfile(base, needed).profile);
  });

  test('with no unresolved site the profile is narrowed', () => {
    const c = chooseProfile(base, needed, 0, false);
    expect(c.fallback).toBeUndefined();
    expect([...allowedBy(c.plan.profile)].sort()).toEqual([...needed].sort());
  });

  test('the fallback is the base exactly: nothing removed, nothing loosened', () => {
    const c = chooseProfile(base, needed, 2, false);
    const docker = dockerDefaultAllowed(base);
    expect(allowedBy(c.plan.profile)).toEqual(docker);
    expect(new Set(c.allowed)).toEqual(docker);
    expect(c.plan.addedBeyondBase).toEqual([]);
    // The base's rules as they are: clone keeps its namespace-flag condition and its CAP_SYS_ADMIN rule.
    const cloneRules = c.plan.profile.syscalls!.filter((r) => r.names.includes('clone'));
    expect(cloneRules.length).toBeGreaterThan(1);
    expect(cloneRules).toEqual(base.syscalls!.filter((r) => r.names.includes('clone')).map((r) => ({ ...r, names: ['clone'] })));
  });

  test('the fallback never allows less than the narrowed profile: a need beyond the base stays allowed', () => {
    const beyond = new Set([...needed, 'reboot']);
    const narrowed = chooseProfile(base, beyond, 1, true);
    const kept = chooseProfile(base, beyond, 1, false);
    expect(narrowed.plan.addedBeyondBase).toEqual(['reboot']);
    expect(kept.plan.addedBeyondBase).toEqual(['reboot']);
    for (const n of narrowed.allowed) expect(kept.allowed).toContain(n);
    expect(allowedBy(kept.plan.profile).has('reboot')).toBe(true);
  });
});
