import type { ResolveArtifact } from '../../schemas/types';
import { explainSyscall, formatExplanation } from './explain';

// A chain through guarded edges (the value layer, issue 26): explain says what kept each.
test('a step and a site kept by the value layer say which value kept them', () => {
  const resolve: ResolveArtifact = {
    method: 'static-analysis', syscalls: ['alarm'], perBinary: [], overrides: [], unresolvedSites: 0, unresolved: [],
    provenance: {
      alarm: {
        binary: '/usr/sbin/nginx',
        steps: [
          { object: '/usr/sbin/nginx', function: 'ngx_open_glob', via: 'entry' },
          { object: '/lib/libc.so.6', function: 'glob64', via: 'import glob64@GLIBC_2.27' },
          { object: '/lib/libc.so.6', function: 'getlogin_r', via: 'call', kept: 'libc.so.6:glob64: rsi & 0x800 != 0 may hold: rsi may be 0x800, passed by nginx:ngx_open_glob' },
        ],
        site: 0x10,
        siteObject: '/lib/libc.so.6',
        kept: 'libc.so.6:getlogin_r: rdi == 0x0 may hold: libc.so.6:getlogin_r is an indirect-call target, entered with any value',
      },
    },
  };
  const text = formatExplanation(explainSyscall('nginx', 'alarm', { resolve }));
  expect(text).toMatch(/3\. getlogin_r {2}in \/lib\/libc\.so\.6 {2}\(call\)\n +kept: libc\.so\.6:glob64: rsi & 0x800 != 0 may hold: rsi may be 0x800, passed by nginx:ngx_open_glob\n/);
  expect(text).toMatch(/syscall site at 0x10 in \/lib\/libc\.so\.6\n +kept: libc\.so\.6:getlogin_r: rdi == 0x0 may hold/);
});
