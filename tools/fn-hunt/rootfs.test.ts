import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { programOfExe } from './hunt';
import { listPrograms, resolveInRoot } from './rootfs';

/** The first 20 bytes that make an x86-64 ELF executable of type TYPE (2 EXEC, 3 DYN). */
function elf(type: number, tail = 'x'): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b.writeUInt16LE(type, 16);
  return Buffer.concat([b, Buffer.from(tail)]);
}

const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function makeRoot(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fnhunt-root-'));
  made.push(root);
  mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  mkdirSync(path.join(root, 'usr/sbin'), { recursive: true });
  mkdirSync(path.join(root, 'etc/alternatives'), { recursive: true });
  symlinkSync('usr/bin', path.join(root, 'bin'));
  writeFileSync(path.join(root, 'usr/bin/tool'), elf(3), { mode: 0o755 });
  writeFileSync(path.join(root, 'usr/bin/tool-copy'), elf(3), { mode: 0o755 }); // same content
  writeFileSync(path.join(root, 'usr/bin/other'), elf(2, 'other'), { mode: 0o755 });
  writeFileSync(path.join(root, 'usr/bin/notexec'), elf(3, 'n'), { mode: 0o644 });
  writeFileSync(path.join(root, 'usr/bin/script'), '#!/bin/tool -e\necho hi\n', { mode: 0o755 });
  // Debian's alternatives: absolute links that name the image's files, not the host's.
  symlinkSync('/etc/alternatives/nc', path.join(root, 'usr/bin/nc'));
  symlinkSync('/usr/bin/other', path.join(root, 'etc/alternatives/nc'));
  symlinkSync('../../../../../../../../etc/passwd', path.join(root, 'usr/bin/escape'));
  symlinkSync('loop2', path.join(root, 'usr/bin/loop1'));
  symlinkSync('loop1', path.join(root, 'usr/bin/loop2'));
  return root;
}

describe('resolveInRoot', () => {
  const root = makeRoot();

  test('absolute symlinks restart at the image root', () => {
    expect(resolveInRoot(root, '/usr/bin/nc')).toBe('/usr/bin/other');
    expect(resolveInRoot(root, '/bin/nc')).toBe('/usr/bin/other');
  });

  test('.. stops at the image root: a link cannot leave it', () => {
    expect(resolveInRoot(root, '/usr/bin/escape')).toBeUndefined(); // the root has no /etc/passwd
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    expect(resolveInRoot(root, '/usr/bin/escape')).toBe('/etc/passwd');
  });

  test('missing files and loops are undefined', () => {
    expect(resolveInRoot(root, '/usr/bin/nothing')).toBeUndefined();
    expect(resolveInRoot(root, '/usr/bin/loop1')).toBeUndefined();
  });
});

test('listPrograms: executable ELF files only, one per content, every name kept', () => {
  const root = makeRoot();
  const ps = listPrograms(root);
  expect(ps.map((p) => p.path).sort()).toEqual(['/usr/bin/other', '/usr/bin/tool']);
  const tool = ps.find((p) => p.path === '/usr/bin/tool')!;
  expect(tool.names).toEqual(expect.arrayContaining(['/usr/bin/tool', '/usr/bin/tool-copy', '/bin/tool']));
  const other = ps.find((p) => p.path === '/usr/bin/other')!;
  expect(other.names).toEqual(expect.arrayContaining(['/usr/bin/nc', '/bin/nc']));
});

test('programOfExe: an execve of a script runs its interpreter; relative and missing paths are unknown', () => {
  const root = makeRoot();
  expect(programOfExe(root, '/usr/bin/script')).toBe('/usr/bin/tool');
  expect(programOfExe(root, '/bin/nc')).toBe('/usr/bin/other');
  expect(programOfExe(root, 'tool')).toBeUndefined();
  expect(programOfExe(root, '/usr/bin/none')).toBeUndefined();
});
