import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultProfile } from '../../formats/profile/docker-profile';
import { calibrationKey, logOnlyProfile } from './calibrate';
import { demux, withProfile } from './container';
import { exitElf } from './exit-elf';
import { toLogProfile } from './verify-image';

describe('exitElf', () => {
  it('is a program the host kernel runs, making exactly the one syscall', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-exit-elf-'));
    try {
      const file = path.join(dir, 'e');
      fs.writeFileSync(file, exitElf({ status: 7 }), { mode: 0o755 });
      expect(spawnSync(file).status).toBe(7);
      const st = spawnSync('strace', ['-qq', file], { encoding: 'utf8' });
      if (st.error) throw st.error;
      const calls = st.stderr.split('\n').filter((l) => /^\w+\(/.test(l)).map((l) => l.slice(0, l.indexOf('(')));
      expect(calls).toEqual(['execve', 'exit_group']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('toLogProfile', () => {
  it('logs instead of denying, keeps every rule, drops defaultErrnoRet, leaves the input alone', () => {
    const base = defaultProfile().profile;
    const before = JSON.stringify(base);
    const log = toLogProfile({ ...base, defaultErrnoRet: 1 });
    expect(log.defaultAction).toBe('SCMP_ACT_LOG');
    expect('defaultErrnoRet' in log).toBe(false);
    expect(log.syscalls).toEqual(base.syscalls);
    expect(JSON.stringify(base)).toBe(before);
  });
});

describe('withProfile', () => {
  it('replaces a caller seccomp option, keeps other security options, adds our labels', () => {
    const o = withProfile({ Labels: { a: 'b' }, HostConfig: { SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'] } }, 'img', logOnlyProfile(['read']));
    expect(o.Image).toBe('img');
    expect(o.Labels).toEqual({ a: 'b', confine: '1', 'confine.verify': '1' });
    expect(o.HostConfig!.SecurityOpt![0]).toBe('no-new-privileges');
    expect(JSON.parse(o.HostConfig!.SecurityOpt![1].slice('seccomp='.length))).toEqual({
      defaultAction: 'SCMP_ACT_LOG',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
    });
    expect(o.HostConfig!.SecurityOpt).toHaveLength(2);
  });
});

describe('demux', () => {
  it('joins stdout and stderr frames, and passes unframed (TTY) output through', () => {
    const frame = (kind: number, s: string) => Buffer.concat([Buffer.from([kind, 0, 0, 0, 0, 0, 0, s.length]), Buffer.from(s)]);
    expect(demux(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]))).toBe('out\nerr\n');
    expect(demux(Buffer.from('plain text here'))).toBe('plain text here');
  });
});

describe('calibrationKey', () => {
  it('changes with either version and only with them', () => {
    const a = calibrationKey({ engine: 'docker 20.10.24', runtime: 'runc 1.1.5' });
    expect(calibrationKey({ engine: 'docker 20.10.24', runtime: 'runc 1.1.5' })).toBe(a);
    expect(calibrationKey({ engine: 'docker 20.10.25', runtime: 'runc 1.1.5' })).not.toBe(a);
    expect(calibrationKey({ engine: 'docker 20.10.24', runtime: 'runc 1.1.6' })).not.toBe(a);
  });
});
