import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEED_DIR } from '../../test/test-data';
import { parseGoSyscalls, readGoSyscalls, readGoSyscallsDir } from './go-syscalls';

const DIR = path.join(SEED_DIR, 'go.syscalls');

describe('go syscalls files', () => {
  it('reads every seed file without errors, one number per line', () => {
    const r = readGoSyscallsDir(DIR);
    if (!r.ok) throw r.error;
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.syscalls'));
    expect([...r.value.keys()].sort()).toEqual(files.map((f) => f.replace(/\.syscalls$/, '')).sort());
    for (const f of files) {
      const g = r.value.get(f.replace(/\.syscalls$/, ''))!;
      expect(g.errors).toEqual([]);
      const numbers = fs.readFileSync(path.join(DIR, f), 'utf8').split('\n').filter((l) => l.trim() !== '').map(Number);
      expect(g.syscalls).toEqual(new Set(numbers));
    }
    expect(r.value.get('vault')!.syscalls.has(0)).toBe(true);
  });

  it('names file and line for a non-number and keeps the rest', () => {
    const g = parseGoSyscalls('0\n1\nread\n\n 3 \n99999\n-1\n', 'x.syscalls');
    expect([...g.syscalls]).toEqual([0, 1, 3]);
    expect(g.errors.map((e) => [e.file, e.line, e.text])).toEqual([
      ['x.syscalls', 3, 'read'],
      ['x.syscalls', 6, '99999'],
      ['x.syscalls', 7, '-1'],
    ]);
  });

  it('a missing file or directory is an error value', () => {
    const f = readGoSyscalls('/nonexistent/a.syscalls');
    expect(!f.ok && f.error.kind).toBe('missing-file');
    const d = readGoSyscallsDir('/nonexistent');
    expect(!d.ok && d.error.kind).toBe('missing-file');
  });
});
