import type { ProfileArtifact, ResolveArtifact } from '../../schemas/types';
import { explainSyscall, formatExplanation } from './explain';

const resolve: ResolveArtifact = {
  method: 'static-analysis', syscalls: ['vfork', 'read'], perBinary: [], overrides: [], unresolvedSites: 0, unresolved: [],
  provenance: { vfork: { binary: '/bin/sh (--exec-too)', steps: [{ object: '/usr/bin/dash', function: '_start' }], site: 0x10, siteObject: '/lib/libc.so.6' } },
};
const profile = {
  allowed: ['fchown', 'read', 'vfork'], runtimeSyscalls: ['fchown'],
  execToo: { asked: ['shell'], programs: [{ name: 'sh', path: '/bin/sh' }], missingTools: [], allowedWithout: 1, added: [{ syscall: 'vfork', by: ['/bin/sh'] }, { syscall: 'fchown', by: ["the runtime's docker exec path (runc exec)"] }] },
} as unknown as ProfileArtifact;

test('a syscall only the exec programs need names them, and the runtime exec path for its own', () => {
  const vfork = formatExplanation(explainSyscall('nginx', 'vfork', { resolve, profile }));
  expect(vfork).toMatch(/reached from \/bin\/sh \(--exec-too\):/);
  expect(vfork).toMatch(/allowed only for docker exec \(--exec-too shell\): needed by \/bin\/sh/);
  const fchown = formatExplanation(explainSyscall('nginx', 'fchown', { resolve, profile }));
  expect(fchown).toMatch(/allowed only for docker exec \(--exec-too shell\): needed by the runtime's docker exec path \(runc exec\)/);
  // One the service needs itself says nothing about exec.
  expect(formatExplanation(explainSyscall('nginx', 'read', { resolve, profile }))).not.toMatch(/docker exec/);
});
