/**
 * The test that matters for profiles: the real engine takes what we emit.
 * Builds a one-file image (a static program that exits 0, at /bin/true) with
 * `docker import`, runs it under emitted profiles, and removes the image afterwards.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultProfile, dockerDefaultAllowed, planProfile } from './docker-profile';

let tmp: string;
let image: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-emit-'));
  const root = path.join(tmp, 'rootfs');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'true.c'), 'int main(void) { return 0; }\n');
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(root, 'bin', 'true'), path.join(tmp, 'true.c')]);
  execFileSync('tar', ['-C', root, '-cf', path.join(tmp, 'rootfs.tar'), '.']);
  const tag = `confine-test/emit-accepted:${process.pid}-${Date.now()}`;
  execFileSync('docker', ['import', path.join(tmp, 'rootfs.tar'), tag]);
  image = tag;
});

afterAll(() => {
  if (image) spawnSync('docker', ['rmi', '-f', image]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function runUnder(profile: object, name: string) {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify(profile, null, 2));
  return spawnSync('docker', ['run', '--rm', '--network', 'none', '--security-opt', `seccomp=${file}`, image, 'true'], {
    encoding: 'utf8',
    timeout: 60000,
  });
}

describe('emitted profiles under the real engine', () => {
  const base = defaultProfile().profile;
  const dockerAllowed = dockerDefaultAllowed(base);

  it('accepts a narrowed profile with conditional, errno and explicit rules, and the program runs', () => {
    const allowed = new Set([...dockerAllowed].filter((n) => !['socket', 'ptrace', 'kill', 'openat2', 'io_setup'].includes(n)));
    allowed.add('sethostname'); // not allowed by Docker's default for default caps: explicit rule
    const plan = planProfile(base, allowed);
    expect(plan.addedBeyondBase).toEqual(['sethostname']);
    expect(plan.profile.syscalls!.some((r) => r.names.includes('personality') && r.args)).toBe(true);
    expect(plan.profile.syscalls!.some((r) => r.names.includes('clone3') && r.errnoRet === 38)).toBe(true);
    const r = runUnder(plan.profile, 'narrowed.json');
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('really applies it: without execve the container cannot start its program', () => {
    const allowed = new Set([...dockerAllowed].filter((n) => n !== 'execve'));
    const r = runUnder(planProfile(base, allowed).profile, 'no-execve.json');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/operation not permitted/i);
  });
});
