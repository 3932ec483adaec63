import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDynamicInfo, type DynamicInfo } from '../../analysis/elf';
import { compile, sh, tempDir } from '../../analysis/x86/test-fixtures';
import type { ConfineError } from '../../pipeline/errors';
import { computeClosure } from '../extract/closure';
import { MemoryImage } from '../image/memory-image';
import { resolveLoadOrder } from './host-resolver';

/**
 * `confine analyze --root DIR` (the host resolver, reading a directory) and `confine
 * profiles` (the image closure, reading an image's index) must load the same files from
 * the same tree: they used to have a loader search each, and the host's had drifted
 * ($LIB only lib64, no glibc-hwcaps, no ld.so.cache sonames, RPATH of only the
 * requesting object and the executable). One rootfs, built here with gcc, is read both
 * ways, and both must give the closure the loader gives.
 */

let root: string;
let build: string;
const interp = () => sh('readelf', ['-l', path.join(build, 'prog')]).match(/interpreter: (\S+)\]/)![1];

beforeAll(() => {
  root = tempDir('confine-parity-root-');
  build = tempDir('confine-parity-build-');
  const put = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(path.join(root, to)), { recursive: true });
    fs.copyFileSync(path.join(build, from), path.join(root, to));
  };
  const lib = (name: string, soname: string, src: string, flags: string[] = []) =>
    compile(build, `${name}.c`, src, name, ['-shared', '-fPIC', `-Wl,-soname,${soname}`, `-L${build}`, '-Wl,--no-as-needed', ...flags]);
  lib('libg.so', 'libg.so', 'int g(void){return 7;}');
  lib('libplug.so', 'libplug.so', 'int g(void); int plug(void){return g();}', ['-lg']);
  lib('libf.so', 'libf.so', 'int f(void){return 6;}');
  lib('libb.so', 'libb.so', 'int f(void); int b(void){return f()+2;}', ['-lf']);
  lib('libd-1.0.so', 'libd.so.1', 'int d(void){return 4;}');
  // DT_RPATH (old tags) with $ORIGIN: liba's own directory's arpath/ holds libf, which libb needs —
  // found only by walking the loader chain (libb → liba → prog), as ld.so does.
  lib('liba.so', 'liba.so', 'int b(void); int a(void){return b()+1;}', ['-lb', '-Wl,--disable-new-dtags,-rpath,$ORIGIN/arpath']);
  fs.writeFileSync(path.join(build, 'm.c'), '#include <stdio.h>\nint a(void); int d(void); int main(void){puts("libplug.so"); return a()+d();}');
  sh('gcc', ['-o', path.join(build, 'prog'), path.join(build, 'm.c'), `-L${build}`, '-Wl,--no-as-needed', '-la', '-l:libd-1.0.so', `-Wl,-rpath-link,${build}`, '-Wl,--disable-new-dtags,-rpath,$ORIGIN/../$LIB/priv']);

  // The program sits in /opt/app/bin behind a symlink: its $ORIGIN is the real directory.
  put('prog', 'opt/app/bin/prog');
  fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  fs.symlinkSync('/opt/app/bin/prog', path.join(root, 'usr/bin/prog'));
  // $LIB is lib/x86_64-linux-gnu on Debian, lib64 upstream: this tree uses Debian's.
  put('liba.so', 'opt/app/lib/x86_64-linux-gnu/priv/liba.so');
  put('libf.so', 'opt/app/lib/x86_64-linux-gnu/priv/arpath/libf.so');
  // ld.so.conf with an absolute and a relative include; libb has a glibc-hwcaps variant.
  fs.mkdirSync(path.join(root, 'etc/ld.so.conf.d'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc/conf2'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\ninclude conf2/*.conf\n');
  fs.writeFileSync(path.join(root, 'etc/ld.so.conf.d/a.conf'), '/opt/confdir\n');
  fs.writeFileSync(path.join(root, 'etc/conf2/b.conf'), '# the second include\n/opt/confdir2\n');
  put('libb.so', 'opt/confdir2/libb.so');
  put('libb.so', 'opt/confdir2/glibc-hwcaps/x86-64-v3/libb.so');
  // A library whose file name is not its soname: only ld.so.cache (ldconfig's sonames) finds it.
  put('libd-1.0.so', 'opt/confdir/libd-1.0.so');
  // Named by a string in the program: a dlopen candidate, with its own DT_NEEDED.
  put('libplug.so', 'opt/confdir/libplug.so');
  put('libg.so', 'opt/confdir/libg.so');
  // libc and the loader, from this machine, in the default dirs through a symlinked /lib.
  fs.mkdirSync(path.join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  fs.mkdirSync(path.join(root, 'lib64'), { recursive: true });
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  fs.copyFileSync(fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6'), path.join(root, 'usr/lib/x86_64-linux-gnu/libc.so.6'));
  fs.copyFileSync(fs.realpathSync(interp()), path.join(root, 'lib64', path.basename(interp())));
}, 60_000);

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(build, { recursive: true, force: true });
});

/** The directory as an image: what `docker export` of it would index, with the index pass's dynamic infos. */
function imageOf(dir: string): { image: MemoryImage; infos: Map<string, DynamicInfo | ConfineError> } {
  const image = new MemoryImage();
  const infos = new Map<string, DynamicInfo | ConfineError>();
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      const host = path.join(dir, p);
      if (e.isSymbolicLink()) image.symlink(p, fs.readlinkSync(host));
      else if (e.isDirectory()) {
        image.entry(p, 'dir');
        walk(p);
      } else if (e.isFile()) {
        const bytes = fs.readFileSync(host);
        image.file(p, bytes, fs.statSync(host).mode & 0o777);
        if (image.stat(p)?.elf) infos.set(p, readDynamicInfo(bytes, p));
      }
    }
  };
  walk('');
  return { image, infos };
}

const EXPECTED = [
  '/opt/app/bin/prog',
  '/opt/app/lib/x86_64-linux-gnu/priv/liba.so',
  '/opt/app/lib/x86_64-linux-gnu/priv/arpath/libf.so',
  '/opt/confdir2/libb.so',
  '/opt/confdir2/glibc-hwcaps/x86-64-v3/libb.so',
  '/opt/confdir/libd-1.0.so',
  '/opt/confdir/libplug.so',
  '/opt/confdir/libg.so',
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  '/lib64/ld-linux-x86-64.so.2',
].sort();

test('the same rootfs gives the same closure read as a directory (analyze --root) and as an image (profiles)', async () => {
  const exe = readDynamicInfo(fs.readFileSync(path.join(root, 'opt/app/bin/prog')), '/usr/bin/prog');
  const order = resolveLoadOrder(root, '/usr/bin/prog', exe);
  expect(order.missing).toEqual([]);
  const onHost = ['/opt/app/bin/prog', ...order.libraries.map((l) => l.rootPath), ...(order.loader ? [order.loader.rootPath] : []), ...order.candidates.map((c) => c.object.rootPath)];

  const { image, infos } = imageOf(root);
  const closure = await computeClosure(image, { executed: ['/usr/bin/prog'], mapped: [], all: false }, { infoCache: infos });
  expect(closure.missing).toEqual([]);
  expect(closure.unreadable).toEqual([]);
  const inImage = closure.files.map((f) => f.resolvedPath);

  expect([...new Set(onHost)].sort()).toEqual(EXPECTED);
  expect([...new Set(inImage)].sort()).toEqual(EXPECTED);
  // The libraries in the same load order, the dlopen candidates apart.
  const candidates = new Set(['/opt/confdir/libplug.so', '/opt/confdir/libg.so']);
  const needed = closure.files.filter((f) => f.role === 'needed' && !candidates.has(f.resolvedPath)).map((f) => f.resolvedPath);
  expect(order.libraries.map((l) => l.rootPath).filter((p) => p !== order.loader?.rootPath)).toEqual(needed.filter((p) => p !== order.loader?.rootPath));
  expect(order.candidates.map((c) => c.object.rootPath).sort()).toEqual([...candidates].sort());
}, 30_000);

/**
 * musl: libc.so and its aliases are the loader itself (no file is searched for them), and
 * /etc/ld-musl-x86_64.path replaces the default directories. The host copy searched for
 * libc.so on disk and reported it missing in every musl image.
 */
test('a musl rootfs gives the same closure both ways: the loader is libc, the path file is the search', async () => {
  const MUSL_LIBC = '/usr/lib/x86_64-linux-musl/libc.so';
  const mroot = tempDir('confine-parity-musl-');
  try {
    compile(build, 'mh.c', 'int h(void){return 3;}', 'libh.so', ['-shared', '-fPIC', '-Wl,-soname,libh.so'], 'musl-gcc');
    fs.writeFileSync(path.join(build, 'mm.c'), 'int h(void); int main(void){return h();}');
    sh('musl-gcc', ['-o', path.join(build, 'mprog'), path.join(build, 'mm.c'), `-L${build}`, '-lh']);
    const put = (from: string, to: string) => {
      fs.mkdirSync(path.dirname(path.join(mroot, to)), { recursive: true });
      fs.copyFileSync(from, path.join(mroot, to));
    };
    put(path.join(build, 'mprog'), 'usr/bin/mprog');
    put(path.join(build, 'libh.so'), 'opt/mlib/libh.so');
    put(fs.realpathSync(MUSL_LIBC), 'lib/x86_64-linux-musl/libc.so');
    fs.symlinkSync('x86_64-linux-musl/libc.so', path.join(mroot, 'lib/ld-musl-x86_64.so.1'));
    fs.mkdirSync(path.join(mroot, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(mroot, 'etc/ld-musl-x86_64.path'), '/opt/mlib\n/lib\n');

    const exe = readDynamicInfo(fs.readFileSync(path.join(mroot, 'usr/bin/mprog')), '/usr/bin/mprog');
    expect(exe.needed).toEqual(expect.arrayContaining(['libh.so', 'libc.so']));
    const order = resolveLoadOrder(mroot, '/usr/bin/mprog', exe);
    expect(order.missing).toEqual([]);
    const onHost = new Set(['/usr/bin/mprog', ...order.libraries.map((l) => l.rootPath), ...(order.loader ? [order.loader.rootPath] : [])]);

    const { image, infos } = imageOf(mroot);
    const closure = await computeClosure(image, { executed: ['/usr/bin/mprog'], mapped: [], all: false }, { infoCache: infos });
    expect(closure.missing).toEqual([]);
    const want = ['/lib/x86_64-linux-musl/libc.so', '/opt/mlib/libh.so', '/usr/bin/mprog'];
    expect([...onHost].sort()).toEqual(want);
    expect([...new Set(closure.files.map((f) => f.resolvedPath))].sort()).toEqual(want);
  } finally {
    fs.rmSync(mroot, { recursive: true, force: true });
  }
}, 30_000);
