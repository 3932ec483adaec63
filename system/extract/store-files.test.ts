import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemoryImage } from '../image/memory-image';
import { storeFiles, storedFilePath } from './store-files';
import { computeClosure, parseShebang } from './closure';

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'confine-store-'));
});
afterEach(() => fsp.rm(dir, { recursive: true, force: true }));

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

describe('storeFiles', () => {
  it('writes each content once under files/<2>/<64> and returns a row per path', async () => {
    const img = new MemoryImage().file('/a', 'same').file('/b', 'same').file('/c', 'other');
    const out = path.join(dir, 'out');
    const r = await storeFiles(img, [
      { path: '/a', resolvedPath: '/a', role: 'executed' },
      { path: '/b', resolvedPath: '/b', role: 'needed', neededBy: '/a' },
      { path: '/c', resolvedPath: '/c', role: 'mapped' },
    ], out);
    expect(r.rows.map((x) => x.digest)).toEqual([`sha256:${hex('same')}`, `sha256:${hex('same')}`, `sha256:${hex('other')}`]);
    expect(await fsp.readFile(storedFilePath(out, `sha256:${hex('other')}`), 'utf8')).toBe('other');
    const all = await fsp.readdir(path.join(out, 'files'), { recursive: true });
    expect(all.filter((p) => p.includes('.tmp-'))).toEqual([]);
  });

  it('refuses to write through a symlink planted in the output tree', async () => {
    const out = path.join(dir, 'out');
    const elsewhere = path.join(dir, 'elsewhere');
    await fsp.mkdir(out);
    await fsp.mkdir(elsewhere);
    await fsp.symlink(elsewhere, path.join(out, 'files'));
    const img = new MemoryImage().file('/a', 'x');
    await expect(storeFiles(img, [{ path: '/a', resolvedPath: '/a', role: 'executed' }], out)).rejects.toThrow(/not a plain directory/);
    expect(await fsp.readdir(elsewhere)).toEqual([]);
  });

  it('reports files over the cap instead of reading them', async () => {
    const img = new MemoryImage().file('/big', Buffer.alloc(100));
    const r = await storeFiles(img, [{ path: '/big', resolvedPath: '/big', role: 'executed' }], path.join(dir, 'o'), { maxBytes: 10 });
    expect(r.rows).toEqual([]);
    expect(r.failed[0].reason).toMatch(/100 bytes, over the 10-byte limit/);
  });
});

describe('closure of scripts (no ELF needed)', () => {
  it('parses #! lines as Linux does, and env’s program', () => {
    expect(parseShebang(' /bin/sh -e ')).toEqual({ interpreter: '/bin/sh', arg: '-e' });
    expect(parseShebang('/usr/bin/env -S python3 -u')?.envProgram).toBe('python3');
    expect(parseShebang('/usr/bin/env -i FOO=1 node')?.envProgram).toBe('node');
    expect(parseShebang('   ')).toBeUndefined();
  });
  it('reports an env program missing from PATH, a non-ELF non-script, and nested #! depth', async () => {
    const img = new MemoryImage()
      .file('/s1', '#!/usr/bin/env nothere\n')
      .file('/usr/bin/env', '#!/s2\n')
      .file('/s2', '#!/s3\n').file('/s3', '#!/s4\n').file('/s4', '#!/s5\n').file('/s5', '#!/s6\n')
      .file('/data', 'plain text');
    const r = await computeClosure(img, { executed: ['/s1', '/data'], mapped: [], all: false, env: ['PATH=/usr/bin'] });
    const reasons = Object.fromEntries(r.notScanned.map((n) => [n.path, n.reason]));
    expect(reasons['/s1: nothere']).toMatch(/not in PATH \/usr\/bin/);
    expect(reasons['/data']).toMatch(/neither ELF nor/);
    expect(Object.values(reasons).join('\n')).toMatch(/too many nested/);
    expect(r.files.map((f) => f.path)).toEqual(expect.arrayContaining(['/s1', '/usr/bin/env', '/s2']));
    expect(r.files.map((f) => f.path)).not.toContain('/data');
  });
});
