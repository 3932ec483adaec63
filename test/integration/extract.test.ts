import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { extractBinaries, type ExtractResult } from '../../system/extract/extract-binaries';
import { storedFilePath } from '../../system/extract/store-files';

/**
 * extract-binaries on the real engine, against an image made here with `docker import`
 * from binaries built and libraries copied from this host, so `ldd` on the host is the
 * oracle for the DT_NEEDED closure.
 */
const docker = new Dockerode();
const tag = `confine-test/extract:${process.pid}`;
const label = { 'confine.test': `extract-${process.pid}` };
let work: string;
let rootfs: string;
let outParent: string;
let imageId: string;
let mainBin: string;

const sh = (cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}) =>
  execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 28 });

async function put(rel: string, from: string | Buffer, mode = 0o755) {
  const dst = path.join(rootfs, rel);
  await fsp.mkdir(path.dirname(dst), { recursive: true });
  if (typeof from === 'string') await fsp.copyFile(from, dst);
  else await fsp.writeFile(dst, from);
  await fsp.chmod(dst, mode);
}
async function link(rel: string, target: string) {
  const dst = path.join(rootfs, rel);
  await fsp.mkdir(path.dirname(dst), { recursive: true });
  await fsp.symlink(target, dst);
}

/** Every file under dir with its sha256, for before/after snapshots. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(p, e.isSymbolicLink() ? `-> ${await fsp.readlink(p)}` : createHash('sha256').update(await fsp.readFile(p)).digest('hex'));
    }
  };
  await walk(dir);
  return out;
}

const sha = (p: string) => 'sha256:' + createHash('sha256').update(readFileSync(p)).digest('hex');

beforeAll(async () => {
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'confine-extract-'));
  rootfs = path.join(work, 'rootfs');
  outParent = path.join(work, 'out-parent');
  await fsp.mkdir(outParent);
  await fsp.writeFile(path.join(outParent, 'sibling.txt'), 'must not change');
  const src = path.join(work, 'src');
  await fsp.mkdir(path.join(src, 'mylib'), { recursive: true });
  await fsp.mkdir(path.join(src, 'bin'), { recursive: true });
  await fsp.writeFile(path.join(src, 'foo.c'), 'int foo(int x) { return x * 2; }\n');
  await fsp.writeFile(path.join(src, 'main.c'), '#include <stdio.h>\nint foo(int);\nint main(void) { printf("%d\\n", foo(21)); return 0; }\n');
  await fsp.writeFile(path.join(src, 'tiny.c'), 'int main(void) { return 0; }\n');
  sh('gcc', ['-shared', '-fPIC', '-Wl,-soname,libfoo.so.1', '-o', 'mylib/libfoo.so.1.0', 'foo.c'], { cwd: src });
  await fsp.symlink('libfoo.so.1.0', path.join(src, 'mylib/libfoo.so.1'));
  await fsp.symlink('libfoo.so.1', path.join(src, 'mylib/libfoo.so'));
  sh('gcc', ['-o', 'bin/main', 'main.c', '-Lmylib', '-lfoo', '-Wl,--enable-new-dtags,-rpath,$ORIGIN/../mylib'], { cwd: src });
  sh('gcc', ['-static', '-o', 'tiny', 'tiny.c'], { cwd: src });
  mainBin = path.join(src, 'bin/main');
  expect(sh('readelf', ['-d', mainBin]).toString()).toMatch(/RUNPATH.*\$ORIGIN\/\.\.\/mylib/);

  // Merged /usr like Debian: /lib is a symlink, the loader is reached through /lib64's link.
  await put('app/bin/main', mainBin);
  await put('app/mylib/libfoo.so.1.0', path.join(src, 'mylib/libfoo.so.1.0'));
  await link('app/mylib/libfoo.so.1', 'libfoo.so.1.0');
  await link('lib', 'usr/lib');
  for (const line of sh('ldd', [mainBin]).toString().split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
    if (!m || m[1].includes('/mylib/')) continue;
    const real = await fsp.realpath(m[1]);
    const base = path.basename(m[1]);
    if (base.startsWith('ld-linux')) {
      await put(`usr/lib/x86_64-linux-gnu/${base}`, real);
      await link(`lib64/${base}`, `/lib/x86_64-linux-gnu/${base}`);
    } else {
      await put(`usr/lib/x86_64-linux-gnu/${base}`, real);
    }
  }
  await put('bin/sh', path.join(src, 'tiny')); // static: a shell for '#!/bin/sh' that needs nothing
  await put('usr/bin/env', path.join(src, 'tiny'));
  await put('usr/local/bin/mytool', mainBin);
  await put('app/run.sh', Buffer.from('#!/bin/sh\nexec /app/bin/main\n'));
  await put('app/run-env.sh', Buffer.from('#!/usr/bin/env mytool\n'));
  await put('etc/ld.so.conf', Buffer.from('include /etc/ld.so.conf.d/*.conf\n'), 0o644);
  await put('etc/ld.so.conf.d/x.conf', Buffer.from('/opt/nothing\n'), 0o644);
  await link('app/mylib/evil.so', '/../../../etc/shadow');
  await link('app/loop', 'loop');

  const tarball = sh('tar', ['-C', rootfs, '-c', '.']);
  const id = sh('docker', ['import', '-c', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', '-', tag], { input: tarball }).toString().trim();
  imageId = id;
}, 120_000);

afterAll(async () => {
  await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

async function helpers(): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`confine.test=${label['confine.test']}`] } });
  return list.length;
}

describe('extractBinaries on an imported image', () => {
  let result: ExtractResult;
  let outDir: string;
  let before: Map<string, string>;

  beforeAll(async () => {
    outDir = path.join(outParent, 'out');
    before = await snapshot(outParent);
    result = await extractBinaries(docker, {
      imageId,
      executed: ['/app/bin/main', '/app/run.sh', '/app/run-env.sh', '/app/mylib/evil.so', '/../../../etc/shadow', '/app/loop'],
      mapped: [],
      all: false,
      outDir,
      labels: label,
    });
  }, 120_000);

  it('yields the executable, its interpreter and the DT_NEEDED closure ldd finds on the host', () => {
    const byRole = (r: string) => result.files.filter((f) => f.role === r);
    expect(byRole('executed').map((f) => f.path)).toEqual(expect.arrayContaining(['/app/bin/main', '/app/run.sh', '/app/run-env.sh']));
    const interp = byRole('interpreter').find((f) => f.neededBy === '/app/bin/main');
    expect(interp?.path).toMatch(/^\/lib64\/ld-linux-x86-64\.so\.2$/);
    expect(interp?.resolvedPath).toBe('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');

    const hostNeeded = sh('ldd', [mainBin]).toString().split('\n')
      .map((l) => /^\s*(\S+)\s+=>\s+\//.exec(l)?.[1])
      .filter((n): n is string => !!n);
    const ours = byRole('needed').map((f) => path.basename(f.path));
    expect(new Set(ours)).toEqual(new Set(hostNeeded));
    const foo = byRole('needed').find((f) => f.path.endsWith('libfoo.so.1'));
    expect(foo).toMatchObject({ path: '/app/mylib/libfoo.so.1', resolvedPath: '/app/mylib/libfoo.so.1.0', neededBy: '/app/bin/main' });
    // mytool is main copied elsewhere: its $ORIGIN/../mylib is /usr/local/mylib, absent,
    // so ld.so would fail on it too — reported, not papered over with main's copy.
    expect(result.missing).toEqual([{ name: 'libfoo.so.1', neededBy: '/usr/local/bin/mytool' }]);
  });

  it('follows #! interpreters, through env and PATH', () => {
    const si = result.files.filter((f) => f.role === 'script-interpreter');
    expect(si).toEqual(expect.arrayContaining([
      expect.objectContaining({ path: '/bin/sh', neededBy: '/app/run.sh' }),
      expect.objectContaining({ path: '/usr/bin/env', neededBy: '/app/run-env.sh' }),
      expect.objectContaining({ path: '/usr/local/bin/mytool', neededBy: '/app/run-env.sh' }),
    ]));
  });

  it('does not follow hostile or looping links out of the image, and says so', () => {
    const np = result.notScanned.map((n) => n.path);
    expect(np).toEqual(expect.arrayContaining(['/app/mylib/evil.so', '/etc/shadow', '/app/loop']));
    expect(result.files.some((f) => f.resolvedPath === '/etc/shadow')).toBe(false);
  });

  it('stores each file once by its sha256, identical to the source, and writes nothing outside outDir', async () => {
    for (const f of result.files) {
      expect(f.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const stored = storedFilePath(outDir, f.digest);
      expect(sha(stored)).toBe(f.digest);
      expect((await fsp.stat(stored)).size).toBe(f.size);
    }
    expect(result.files.find((f) => f.path === '/app/bin/main')?.digest).toBe(sha(mainBin));
    const after = await snapshot(outParent);
    for (const [p, h] of before) expect(after.get(p)).toBe(h);
    const added = [...after.keys()].filter((p) => !before.has(p));
    expect(added.length).toBeGreaterThan(0);
    for (const p of added) expect(p.startsWith(path.join(outDir, 'files') + path.sep)).toBe(true);
    expect(added.every((p) => !path.basename(p).startsWith('.tmp-'))).toBe(true);
    expect(new Set(added).size).toBe(new Set(result.files.map((f) => f.digest)).size);
  });

  it('removes its helper container', async () => {
    expect(await helpers()).toBe(0);
  });

  it('with all: every ELF executable of the image and its closure, read in one more export pass', async () => {
    const r = await extractBinaries(docker, { imageId, executed: [], mapped: [], all: true, outDir: path.join(work, 'out-all'), labels: label });
    const all = r.files.filter((f) => f.role === 'all').map((f) => f.resolvedPath);
    expect(all).toEqual(expect.arrayContaining(['/app/bin/main', '/bin/sh', '/usr/bin/env']));
    expect(r.files.map((f) => f.resolvedPath)).toEqual(expect.arrayContaining(['/app/mylib/libfoo.so.1.0', '/usr/lib/x86_64-linux-gnu/libc.so.6']));
    // libraries are not programs (libc.so.6 has PT_INTERP and so counts; libfoo does not)
    expect(all).not.toContain('/app/mylib/libfoo.so.1.0');
    expect(await helpers()).toBe(0);
  }, 120_000);

  it('refuses a file over the size cap with a clear reason, and still removes the helper', async () => {
    const r = await extractBinaries(docker, { imageId, executed: ['/app/bin/main'], mapped: [], all: false, outDir: path.join(work, 'out-cap'), labels: label, maxFileBytes: 4096 });
    expect(r.notScanned.map((n) => n.reason).join('\n')).toMatch(/over the 4096-byte limit/);
    expect(await helpers()).toBe(0);
  }, 120_000);

  it('fails for an image that is not there, leaving no container', async () => {
    await expect(extractBinaries(docker, { imageId: 'sha256:' + '0'.repeat(64), executed: [], mapped: [], all: false, outDir: path.join(work, 'out-none'), labels: label })).rejects.toMatchObject({ kind: 'image-not-found' });
    expect(await helpers()).toBe(0);
  });
});
