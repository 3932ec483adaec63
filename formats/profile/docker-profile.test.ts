import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOCKER_DEFAULT_PROFILE, SEED_DIR } from '../../test/test-data';
import { allSyscalls, syscallNumber } from '../../analysis/syscalls/table';
import {
  ADDED_COMMENT,
  checkDockerProfile,
  DOCKER_DEFAULT_CAPS,
  DockerProfile,
  dockerDefaultAllowed,
  emitProfile,
  planProfile,
  readProfile,
} from './docker-profile';

const DOCKER_DEFAULT = DOCKER_DEFAULT_PROFILE;
const SEED_DEFAULT = path.join(SEED_DIR, 'default.seccomp.json');
const TABLE = new Set(allSyscalls().map((s) => s.name));

function load(file: string): DockerProfile {
  const r = readProfile(file);
  if (!r.ok) throw r.error;
  return r.value.profile;
}

const base = load(DOCKER_DEFAULT);
const raw = JSON.parse(fs.readFileSync(DOCKER_DEFAULT, 'utf8'));

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-profile-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('readProfile', () => {
  it('reads Docker’s default profile as it is', () => {
    const r = readProfile(DOCKER_DEFAULT);
    expect(r.ok && r.value.form).toBe('docker');
    expect(base.syscalls).toHaveLength(raw.syscalls.length);
    expect(base.archMap).toEqual(raw.archMap);
    expect(base.defaultErrnoRet).toBe(raw.defaultErrnoRet);
  });

  it('reads the seed form as "allow every x86-64 syscall it does not list"', () => {
    const r = readProfile(SEED_DEFAULT);
    if (!r.ok) throw r.error;
    const listed: string[] = JSON.parse(fs.readFileSync(SEED_DEFAULT, 'utf8')).default;
    expect(r.value.form).toBe('seed-blocklist');
    expect(r.value.unknownNames).toEqual(listed.filter((n) => !TABLE.has(n)));
    expect(r.value.unknownNames).toContain('move_apges'); // the seed's own typo
    const allowed = dockerDefaultAllowed(r.value.profile);
    expect(allowed).toEqual(new Set([...TABLE].filter((n) => !listed.includes(n))));
  });

  it('names file, line and column for JSON syntax errors', () => {
    const f = write('broken.json', '{\n  "defaultAction": "SCMP_ACT_ERRNO",\n}\n');
    const r = readProfile(f);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.kind).toBe('bad-input');
    expect(r.error.where).toEqual({ file: f, line: 3 });
    expect(r.error.message).toMatch(/line 3 column 1/);
    const t = readProfile(write('truncated.json', '{"defaultAction":'));
    expect(!t.ok && t.error.message).toMatch(/line 1 column 18/);
  });

  it('names the file and the field for a wrong shape', () => {
    const cases: [string, RegExp][] = [
      ['[1, 2]', /\$ should be a JSON object/],
      ['{"defaultAction": "ALLOW"}', /\$\.defaultAction/],
      ['{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}', /\$\.syscalls\[0\]\.names/],
      ['{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', /args\[0\]\.index/],
      ['{"default": "read"}', /"default" must be an array/],
    ];
    cases.forEach(([text, re], i) => {
      const f = write(`shape${i}.json`, text);
      const r = readProfile(f);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.kind).toBe('bad-input');
      expect(r.error.where.file).toBe(f);
      expect(r.error.message).toMatch(re);
    });
  });

  it('a missing file is missing-file', () => {
    const r = readProfile(path.join(tmp, 'nope.json'));
    expect(!r.ok && r.error.kind).toBe('missing-file');
  });

  it('accepts the old one-name-per-rule form', () => {
    const f = write('old.json', '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW","args":[]}]}');
    const r = readProfile(f);
    expect(r.ok && r.value.profile.syscalls).toEqual([{ names: ['read'], action: 'SCMP_ACT_ALLOW' }]);
  });
});

describe('dockerDefaultAllowed on Docker’s default profile', () => {
  // Hand computation, rule by rule, of what a default x86-64 container on a ≥4.8 kernel gets.
  type RawRule = { names: string[]; action: string; includes?: any; excludes?: any };
  const rules: RawRule[] = raw.syscalls;
  const expectedByHand = new Set<string>();
  for (const r of rules) {
    if (r.action !== 'SCMP_ACT_ALLOW') continue; // clone3's ENOSYS rule allows nothing
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.arches && !inc.arches.includes('amd64')) continue; // arm, s390, ppc, riscv rules
    if (inc.caps && !inc.caps.every((c: string) => DOCKER_DEFAULT_CAPS.includes(c))) continue; // CAP_SYS_ADMIN etc.
    if (exc.arches?.includes('amd64')) continue;
    if (exc.caps?.some((c: string) => DOCKER_DEFAULT_CAPS.includes(c))) continue;
    // remaining: the big list, minKernel 4.8, socket/personality/clone arg rules, amd64 rules, CAP_SYS_CHROOT
    for (const n of r.names) if (TABLE.has(n)) expectedByHand.add(n);
  }

  const allowed = dockerDefaultAllowed(base, { caps: [], arch: 'x86_64', kernel: '6.1.0' });

  it('matches the hand computation, about 294 of the 362 syscalls', () => {
    expect(allowed).toEqual(expectedByHand);
    expect(allowed.size).toBeGreaterThan(280);
    expect(allowed.size).toBeLessThan(310);
  });

  it('decides the conditional names as Docker does', () => {
    for (const n of ['read', 'arch_prctl', 'modify_ldt', 'ptrace', 'clone', 'personality', 'socket', 'chroot']) expect(allowed).toContain(n);
    for (const n of ['mount', 'clone3', 'bpf', 'reboot', 'unshare', 'syslog', 'open_by_handle_at']) expect(allowed).not.toContain(n);
    for (const n of allowed) expect(syscallNumber(n)).toBeDefined();
  });

  it('follows caps, arch and kernel', () => {
    const noCaps = dockerDefaultAllowed(base, { defaultCaps: false, kernel: '6.1.0' });
    expect([...allowed].filter((n) => !noCaps.has(n))).toEqual(['chroot']);
    const admin = dockerDefaultAllowed(base, { caps: ['SYS_ADMIN'], kernel: '6.1.0' });
    for (const n of ['mount', 'clone3', 'unshare', 'setns']) expect(admin).toContain(n);
    expect(dockerDefaultAllowed(base, { arch: 'aarch64', kernel: '6.1.0' })).not.toContain('arch_prctl');
    expect(dockerDefaultAllowed(base, { kernel: '4.4.0' })).not.toContain('ptrace');
  });
});

describe('emitProfile', () => {
  const rulesFor = (p: DockerProfile, name: string) => (p.syscalls ?? []).filter((r) => r.names.includes(name));
  const allowed = new Set(['read', 'write', 'exit_group', 'execve', 'personality', 'clone', 'mount', 'futex', 'not_a_syscall']);
  const plan = planProfile(base, allowed, { kernel: '6.1.0' });
  const out = plan.profile;

  it('denies by default with EPERM and keeps the base architectures', () => {
    expect(out.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(out.defaultErrnoRet).toBe(1);
    expect(out.archMap).toEqual(base.archMap);
    expect(checkDockerProfile(JSON.parse(JSON.stringify(out))).ok).toBe(true);
  });

  it('keeps the argument-conditional rules of allowed names', () => {
    expect(rulesFor(out, 'personality')).toEqual(rulesFor(base, 'personality'));
    expect(rulesFor(out, 'personality')).toHaveLength(5);
    const clone = rulesFor(out, 'clone').filter((r) => r.args);
    expect(clone).toEqual(rulesFor(base, 'clone').filter((r) => r.args).map((r) => ({ ...r, names: ['clone'] })));
    expect(clone.every((r) => r.args![0].op === 'SCMP_CMP_MASKED_EQ')).toBe(true);
  });

  it('drops what is not needed, conditional or not', () => {
    expect(rulesFor(out, 'socket')).toEqual([]);
    expect(rulesFor(out, 'openat')).toEqual([]);
    for (const r of out.syscalls!) if (r.action === 'SCMP_ACT_ALLOW') for (const n of r.names) expect(allowed).toContain(n);
  });

  it('keeps clone3 answered with ENOSYS', () => {
    const c3 = rulesFor(out, 'clone3').filter((r) => r.action !== 'SCMP_ACT_ALLOW');
    expect(c3).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } }]);
    const withClone3 = planProfile(base, new Set(['clone3']), { kernel: '6.1.0' });
    expect(withClone3.answeredByBase).toEqual(['clone3']);
    expect(withClone3.addedBeyondBase).toEqual([]);
  });

  it('allows explicitly, with a comment, what the base does not allow', () => {
    expect(plan.addedBeyondBase).toEqual(['mount']);
    const explicit = out.syscalls!.filter((r) => r.comment === ADDED_COMMENT);
    expect(explicit).toEqual([{ names: ['mount'], action: 'SCMP_ACT_ALLOW', comment: ADDED_COMMENT }]);
    expect(plan.unknownNames).toEqual(['not_a_syscall']);
    expect(plan.droppedFromBase).toContain('openat');
    expect(plan.droppedFromBase).not.toContain('read');
  });

  it('the emitted profile allows exactly the needed names the base does not answer otherwise', () => {
    const names = [...TABLE];
    fc.assert(
      fc.property(fc.subarray(names, { maxLength: 120 }), (subset) => {
        const want = new Set(subset);
        const emitted = emitProfile(base, want, { kernel: '6.1.0' });
        const got = dockerDefaultAllowed(emitted, { kernel: '6.1.0' });
        const expected = new Set(subset.filter((n) => n !== 'clone3'));
        expect(got).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });

  it('works from the seed form too', () => {
    const r = readProfile(SEED_DEFAULT);
    if (!r.ok) throw r.error;
    const p = planProfile(r.value.profile, new Set(['read', 'ptrace']));
    expect(p.addedBeyondBase).toEqual(['ptrace']);
    expect(dockerDefaultAllowed(p.profile)).toEqual(new Set(['read', 'ptrace']));
  });
});
