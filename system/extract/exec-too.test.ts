import { readFileSync, realpathSync } from 'node:fs';
import { parseRunOptions } from '../docker/run-options';
import { ConfineError } from '../../pipeline/errors';
import { computeClosure } from './closure';
import { execTooNotFoundError, resolveExecToo } from './exec-too';
import { parseExecTooList } from '../../formats/exec-too-list';
import { MemoryImage } from '../image/memory-image';

const host = (p: string) => readFileSync(realpathSync(p));
const LIB = '/usr/lib/x86_64-linux-gnu';
const PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

/** A Debian-like image with dash as /bin/sh, ls and cat, but no ps, env or id. */
function image(): MemoryImage {
  return new MemoryImage()
    .file('/usr/bin/true', host('/usr/bin/true'))
    .file('/usr/bin/dash', host('/usr/bin/dash'))
    .symlink('/bin/sh', '/usr/bin/dash')
    .file('/usr/bin/ls', host('/usr/bin/ls'))
    .file('/usr/bin/cat', host('/usr/bin/cat'))
    .file('/usr/bin/notes.txt', 'not a program\n', 0o644)
    .file(`${LIB}/ld-linux-x86-64.so.2`, host('/lib64/ld-linux-x86-64.so.2'))
    .symlink('/lib64/ld-linux-x86-64.so.2', `${LIB}/ld-linux-x86-64.so.2`)
    .file(`${LIB}/libc.so.6`, host(`${LIB}/libc.so.6`))
    .file(`${LIB}/libselinux.so.1`, host(`${LIB}/libselinux.so.1`))
    .file(`${LIB}/libpcre2-8.so.0`, host(`${LIB}/libpcre2-8.so.0`));
}

describe('parseExecTooList', () => {
  it('reads names, absolute paths and the shell shorthand; none is the empty list', () => {
    expect(parseExecTooList('shell')).toEqual(['shell']);
    expect(parseExecTooList(' redis-cli , /usr/bin/ps,shell,redis-cli')).toEqual(['redis-cli', '/usr/bin/ps', 'shell']);
    expect(parseExecTooList('none')).toEqual([]);
  });

  it('refuses what cannot name a program, saying where and what was expected', () => {
    const where = { file: 'images.list', line: 3, image: 'nginx' };
    for (const bad of ['', 'sh,,ls', 'bin/sh', 'none,sh', '/usr/../bin/sh', '..']) {
      let e: unknown;
      try {
        parseExecTooList(bad, where);
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(ConfineError);
      expect((e as ConfineError).kind).toBe('bad-input');
      expect((e as ConfineError).describe()).toMatch(/^image nginx, images\.list:3: bad-input: --exec-too .*expected PROGRAM\[,PROGRAM…\]/);
    }
  });
});

describe("an image list's options field: --exec-too", () => {
  const where = { file: 'images.list', line: 7, image: 'nginx' };
  it('is confine\'s own flag: read into execToo, never a docker-run flag, before the command', () => {
    expect(parseRunOptions('-p 80:80 --exec-too shell', where)).toMatchObject({ execToo: ['shell'], ports: [{ containerPort: '80/tcp', hostPort: '80' }] });
    expect(parseRunOptions('--exec-too=/usr/bin/redis-cli,ps -e A=1 redis-server --port 1', where)).toMatchObject({ execToo: ['/usr/bin/redis-cli', 'ps'], env: ['A=1'], cmd: ['redis-server', '--port', '1'] });
    expect(parseRunOptions('--exec-too none', where).execToo).toEqual([]);
    expect(parseRunOptions('-p 80:80', where).execToo).toBeUndefined();
    // After the image's command starts it is the command's argument, not ours.
    expect(parseRunOptions('nginx --exec-too shell', where)).toMatchObject({ cmd: ['nginx', '--exec-too', 'shell'] });
    expect(parseRunOptions('nginx --exec-too shell', where).execToo).toBeUndefined();
  });

  it('a bad value or a missing one is an error naming the file and line', () => {
    expect(() => parseRunOptions('--exec-too', where)).toThrow(/needs a value/);
    try {
      parseRunOptions('-p 80:80 --exec-too usr/bin/ls', where);
      throw new Error('accepted');
    } catch (e) {
      expect((e as ConfineError).describe()).toMatch(/images\.list:7: bad-input: --exec-too "usr\/bin\/ls": 'usr\/bin\/ls' is a relative path/);
    }
  });
});

describe('resolveExecToo', () => {
  it('shell is /bin/sh plus the common tools the image has; the others are listed, not an error', () => {
    const r = resolveExecToo(image(), ['shell'], PATH);
    expect(r.programs).toEqual([
      { name: 'sh', path: '/bin/sh' },
      { name: 'ls', path: '/usr/bin/ls' },
      { name: 'cat', path: '/usr/bin/cat' },
    ]);
    expect(r.missingTools).toEqual(['ps', 'env', 'id']);
    expect(r.notFound).toEqual([]);
    expect(execTooNotFoundError(r)).toBeUndefined();
  });

  it('finds a name in PATH as docker exec does, a path as given; a program the image lacks is an error of the image', () => {
    const r = resolveExecToo(image(), ['cat', '/bin/sh', 'ps', '/usr/bin/notes.txt', '/opt/tool'], ['/usr/local/bin', '/bin', '/usr/bin']);
    expect(r.programs).toEqual([
      { name: 'cat', path: '/usr/bin/cat' },
      { name: '/bin/sh', path: '/bin/sh' },
    ]);
    expect(r.notFound.map((n) => n.name)).toEqual(['ps', '/usr/bin/notes.txt', '/opt/tool']);
    const e = execTooNotFoundError(r, 'nginx')!;
    expect(e.describe()).toBe(
      "image nginx: bad-input: --exec-too asks for programs the image does not have: ps: no executable file named 'ps' in the image's PATH (/usr/local/bin:/bin:/usr/bin); /usr/bin/notes.txt: /usr/bin/notes.txt is not executable; /opt/tool: /opt/tool is not in the image",
    );
  });

  it('shell without /bin/sh is an error', () => {
    const r = resolveExecToo(new MemoryImage().file('/usr/bin/ls', host('/usr/bin/ls')), ['shell'], PATH);
    expect(r.notFound).toEqual([{ name: 'shell (/bin/sh)', reason: '/bin/sh is not in the image' }]);
    expect(r.programs).toEqual([{ name: 'ls', path: '/usr/bin/ls' }]);
  });
});

describe('computeClosure: --exec-too programs', () => {
  it('takes each like an executed program (role exec-too) with its libraries and what it may run', async () => {
    const r = await computeClosure(image(), { executed: ['/usr/bin/true'], execToo: ['/usr/bin/ls'], mapped: [], all: false });
    const byResolved = new Map(r.files.map((f) => [f.resolvedPath, f]));
    expect(byResolved.get('/usr/bin/ls')?.role).toBe('exec-too');
    // ls's own DT_NEEDED, in only through it.
    expect(byResolved.get(`${LIB}/libselinux.so.1`)).toMatchObject({ role: 'needed', neededBy: '/usr/bin/ls' });
    // libc names /bin/sh: a program ls may run in turn, as for an executed program.
    expect(byResolved.get('/usr/bin/dash')?.role).toBe('exec-candidate');
    expect(r.unreadable).toEqual([]);
  });

  it('one the container itself may run by its path is named like a candidate (it then costs nothing extra)', async () => {
    const r = await computeClosure(image(), { executed: ['/usr/bin/true'], execToo: ['/bin/sh'], mapped: [], all: false });
    const dash = r.files.find((f) => f.resolvedPath === '/usr/bin/dash');
    expect(dash).toMatchObject({ path: '/bin/sh', role: 'exec-too' });
    expect(dash?.activatedBy).toEqual(['/bin/sh']);
    // Traced already: it stays an executed program.
    const traced = await computeClosure(image(), { executed: ['/bin/sh'], execToo: ['/bin/sh'], mapped: [], all: false });
    expect(traced.files.find((f) => f.resolvedPath === '/usr/bin/dash')?.role).toBe('executed');
  });

  it("a script's interpreter is an exec-too program too", async () => {
    const img = image().file('/usr/local/bin/diag', '#!/bin/sh\nls /\n', 0o755);
    const r = await computeClosure(img, { executed: ['/usr/bin/true'], execToo: ['/usr/local/bin/diag'], mapped: [], all: false });
    expect(r.files.find((f) => f.path === '/usr/local/bin/diag')?.role).toBe('exec-too');
    expect(r.files.find((f) => f.resolvedPath === '/usr/bin/dash')?.role).toBe('exec-too');
  });
});
