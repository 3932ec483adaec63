import type { ProfileArtifact, ResolveArtifact } from '../../schemas/types';
import { explainSyscall, formatExplanation } from './explain';

const steps = [{ object: '/usr/sbin/nginx', function: '_start', via: 'entry' }, { object: '/usr/sbin/nginx', function: 'ngx_open_listening_sockets', via: 'call' }];
const resolve = (argRules: ResolveArtifact['argRules']): ResolveArtifact => ({
  method: 'static-analysis', syscalls: ['socket'], perBinary: [], overrides: [], unresolvedSites: 0, unresolved: [],
  provenance: { socket: { binary: '/usr/sbin/nginx', steps, site: 0x10, siteObject: '/lib/libc.so.6' } },
  argRules,
});
const profile = (argRules: ProfileArtifact['argRules']) => ({ allowed: ['socket'], runtimeSyscalls: [], argRules }) as unknown as ProfileArtifact;

test('each allowed family is listed with the chain to the function that supplies it', () => {
  const r = resolve({ socket: { arg: 0, values: [
    { value: 2, name: 'AF_INET', binary: '/usr/sbin/nginx', object: '/usr/sbin/nginx', function: 'ngx_open_listening_sockets', steps },
    { value: 40, name: 'AF_VSOCK', binary: '/usr/sbin/nginx', object: '/usr/sbin/nginx', function: 'f', steps },
  ] } });
  const e = explainSyscall('nginx', 'socket', { resolve: r, profile: profile([{ name: 'socket', arg: 0, values: [2], refusedByBase: [40] }]) });
  const text = formatExplanation(e);
  expect(text).toMatch(/argument 0 limited to AF_INET\n/);
  expect(text).toMatch(/AF_INET \(2\): supplied by ngx_open_listening_sockets in \/usr\/sbin\/nginx/);
  expect(text).toMatch(/AF_VSOCK \(40\) — used by the program but refused by the base profile/);
  expect(text).toMatch(/2\. ngx_open_listening_sockets {2}in \/usr\/sbin\/nginx {2}\(call\)/);
});

test('an unconditional syscall says which site forced it', () => {
  const r = resolve({ socket: { arg: 0, values: [], unconditional: { binary: '/bin/x', object: '/bin/x', site: 0x1234, function: 'main', reason: 'return value of call to 0x1030' } } });
  const text = formatExplanation(explainSyscall('x', 'socket', { resolve: r }));
  expect(text).toMatch(/argument 0: no condition, because return value of call to 0x1030 \(\/bin\/x:main site 0x1234\)/);
  expect(text).not.toMatch(/limited to/);
});

test("a value only the container runtime uses is listed as the runtime's, measured by calibration", () => {
  const r = resolve({ socket: { arg: 0, values: [
    { value: 2, name: 'AF_INET', binary: '/usr/sbin/nginx', object: '/usr/sbin/nginx', function: 'ngx_open_listening_sockets', steps },
  ] } });
  const text = formatExplanation(explainSyscall('nginx', 'socket', { resolve: r, profile: profile([{ name: 'socket', arg: 0, values: [2, 16] }]) }));
  expect(text).toMatch(/argument 0 limited to AF_INET, 16\n/);
  expect(text).toMatch(/\n {2}16: made by the container runtime after the filter is installed \(measured by runtime calibration\)/);
  expect(text).not.toMatch(/2: made by the container runtime/);
});
