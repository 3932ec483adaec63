import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CONFINE = path.join(__dirname, '..', 'bin', 'confine');
const dir = mkdtempSync(path.join(os.tmpdir(), 'confine-syscalls-'));
const graph = path.join(dir, 'lib.callgraph');
writeFileSync(graph, ['open_file->do_open', 'do_open->syscall(257)', 'say->syscall(1)', 'spin->spin', 'garbage line without arrow', ''].join('\n'));
const fns = path.join(dir, 'fns');
writeFileSync(fns, 'open_file@GLIBC_2.2.5\nspin\nmystery\n');

describe('confine syscalls', () => {
  it('lists what the functions reach, and says what it could not know', () => {
    const r = spawnSync(CONFINE, ['syscalls', '-f', fns, '-c', graph], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['openat']); // `say` is not listed, so no write
    expect(r.stderr).toMatch(/lib\.callgraph:5: expected/);
    expect(r.stderr).toMatch(/not in the call graph: mystery/);
  });

  it('--profile prints a Docker profile allowing exactly those syscalls', () => {
    const out = JSON.parse(execFileSync(CONFINE, ['syscalls', '-f', fns, '-c', graph, '--profile'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    expect(out.defaultAction).toBe('SCMP_ACT_ERRNO');
    const allowed = out.syscalls.filter((r: { action: string }) => r.action === 'SCMP_ACT_ALLOW').flatMap((r: { names: string[] }) => r.names);
    expect(allowed).toEqual(['openat']);
  });

  it('names the option whose file is missing', () => {
    const r = spawnSync(CONFINE, ['syscalls', '-f', path.join(dir, 'nope'), '-c', graph], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/-f .*nope: no such file/);
  });
});
