import * as fs from 'fs';
import * as path from 'path';
import { compile, sh, tempDir } from '../../analysis/x86/test-fixtures';
import { ldSoConfDirs, resolveInRoot, resolveLoadOrder } from './host-resolver';
import { readDynamicInfo } from '../../analysis/elf';

let root: string;
let build: string;
beforeAll(() => {
  root = tempDir('confine-root-');
  build = tempDir('confine-build-');
  const mk = (p: string) => fs.mkdirSync(path.join(root, p), { recursive: true });
  mk('etc/ld.so.conf.d');
  mk('opt/app/bin');
  mk('opt/app/lib');
  mk('usr/lib/x86_64-linux-gnu');
  mk('custom/lib');
  mk('lib64');
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  fs.writeFileSync(path.join(root, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n# comment\n');
  fs.writeFileSync(path.join(root, 'etc/ld.so.conf.d/custom.conf'), '/custom/lib\n');
  // libb.so lives in a ld.so.conf dir, liba.so next to the program via RUNPATH=$ORIGIN/../lib.
  compile(build, 'b.c', 'int b(void){return 2;}', 'libb.so', ['-shared', '-fPIC', '-Wl,-soname,libb.so']);
  compile(build, 'a.c', 'int b(void); int a(void){return b()+1;}', 'liba.so', ['-shared', '-fPIC', '-Wl,-soname,liba.so', `-L${build}`, '-lb']);
  fs.writeFileSync(path.join(build, 'm.c'), 'int a(void); int main(void){return a();}');
  sh('gcc', ['-o', path.join(build, 'prog'), path.join(build, 'm.c'), `-L${build}`, '-Wl,--no-as-needed', '-la', '-lb', '-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib']);
  fs.copyFileSync(path.join(build, 'libb.so'), path.join(root, 'custom/lib/libb.so.real'));
  fs.symlinkSync('/custom/lib/libb.so.real', path.join(root, 'custom/lib/libb.so')); // absolute: must stay inside root
  fs.copyFileSync(path.join(build, 'liba.so'), path.join(root, 'opt/app/lib/liba.so'));
  fs.copyFileSync(path.join(build, 'prog'), path.join(root, 'opt/app/bin/prog'));
  // libc and the loader, from the host, in the default dirs.
  const interp = sh('readelf', ['-l', path.join(build, 'prog')]).match(/interpreter: (\S+)\]/)![1];
  fs.copyFileSync(fs.realpathSync(interp), path.join(root, 'lib64', path.basename(interp)));
  fs.copyFileSync(fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6'), path.join(root, 'usr/lib/x86_64-linux-gnu/libc.so.6'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(build, { recursive: true, force: true });
});

test('symlinks resolve inside the root, absolute targets included, and .. stops at the root', () => {
  expect(resolveInRoot(root, '/custom/lib/libb.so')).toBe('/custom/lib/libb.so.real');
  expect(resolveInRoot(root, '/lib/x86_64-linux-gnu/libc.so.6')).toBe('/usr/lib/x86_64-linux-gnu/libc.so.6');
  expect(resolveInRoot(root, '/../../../custom/lib/libb.so')).toBe('/custom/lib/libb.so.real');
  expect(resolveInRoot(root, '/nope')).toBeUndefined();
  fs.symlinkSync('loop', path.join(root, 'loop'));
  expect(resolveInRoot(root, '/loop')).toBeUndefined();
});

test('ld.so.conf includes are followed', () => {
  expect(ldSoConfDirs(root)).toEqual(['/custom/lib']);
});

test('load order: RUNPATH with $ORIGIN, ld.so.conf, default dirs through a symlinked /lib, the loader', () => {
  const bin = path.join(root, 'opt/app/bin/prog');
  const order = resolveLoadOrder(root, '/opt/app/bin/prog', readDynamicInfo(fs.readFileSync(bin)));
  expect(order.missing).toEqual([]);
  expect(order.libraries.map((l) => l.rootPath)).toEqual([
    '/opt/app/lib/liba.so',
    '/custom/lib/libb.so.real',
    '/usr/lib/x86_64-linux-gnu/libc.so.6',
    expect.stringMatching(/^\/lib64\/ld-linux-x86-64\.so\.2$/),
  ]);
  expect(order.loader?.rootPath).toBe('/lib64/ld-linux-x86-64.so.2');
  expect(order.libraries.every((l) => l.hostPath.startsWith(root))).toBe(true);
});

test('a missing library is reported with who needs it', () => {
  fs.renameSync(path.join(root, 'opt/app/lib/liba.so'), path.join(root, 'opt/app/lib/liba.gone'));
  try {
    const order = resolveLoadOrder(root, '/opt/app/bin/prog', readDynamicInfo(fs.readFileSync(path.join(root, 'opt/app/bin/prog'))));
    expect(order.missing).toEqual([{ name: 'liba.so', neededBy: '/opt/app/bin/prog' }]);
  } finally {
    fs.renameSync(path.join(root, 'opt/app/lib/liba.gone'), path.join(root, 'opt/app/lib/liba.so'));
  }
});
