import type { DynamicInfo } from '../../analysis/elf/dynamic-info';
import { MemoryImage, elfHeader } from '../image/memory-image';
import { buildSearchConfig, expandDst, findLibrary, globImage, listImageDir, parseLdSoConf, type LoadedObject, type SearchConfig } from './library-search';

const elf = (cls: 32 | 64 = 64, machine = 62): Buffer => elfHeader({ cls, machine, type: 3 });

function info(p: Partial<DynamicInfo> = {}): DynamicInfo {
  return { elfClass: 64, machine: 62, type: 'dyn', isPie: false, needed: [], runpath: [], rpath: [], isStatic: false, ...p };
}

const obj = (path: string, p: Partial<DynamicInfo> = {}, resolvedPath = path): LoadedObject => ({ path, resolvedPath, info: info(p) });

function cfgOf(img: MemoryImage, env: string[] = [], interp?: string): SearchConfig {
  const texts = new Map<string, string>();
  for (const [p, e] of img.entries()) if (e.type === 'file' && !e.elf) texts.set(p, '');
  return buildSearchConfig(img, (p) => {
    const r = img.resolve(p);
    return r && texts.has(r) ? syncText(img, r) : undefined;
  }, { env, interp });
}
const textStore = new WeakMap<MemoryImage, Map<string, string>>();
function syncText(img: MemoryImage, p: string): string | undefined {
  return textStore.get(img)?.get(p);
}
function withText(img: MemoryImage, p: string, t: string): MemoryImage {
  img.file(p, t, 0o644);
  const m = textStore.get(img) ?? new Map<string, string>();
  m.set(p, t);
  textStore.set(img, m);
  return img;
}

describe('findLibrary (glibc)', () => {
  it('finds through DT_RUNPATH with $ORIGIN of the executable’s real location', () => {
    const img = new MemoryImage()
      .file('/opt/app/bin/app', elf())
      .symlink('/usr/bin/app', '/opt/app/bin/app')
      .file('/opt/app/lib/libfoo.so.1', elf())
      .file('/usr/lib/x86_64-linux-gnu/libfoo.so.1', elf());
    const exe = obj('/usr/bin/app', { runpath: ['$ORIGIN/../lib'], needed: ['libfoo.so.1'] }, '/opt/app/bin/app');
    const f = findLibrary(img, 'libfoo.so.1', [exe], cfgOf(img));
    expect(f?.resolvedPath).toBe('/opt/app/lib/libfoo.so.1');
    expect(f?.via).toMatch(/RUNPATH/);
  });

  it('LD_LIBRARY_PATH comes before DT_RUNPATH, DT_RPATH before LD_LIBRARY_PATH', () => {
    const img = new MemoryImage()
      .file('/env/libx.so', elf())
      .file('/rp/libx.so', elf())
      .file('/rpath/libx.so', elf());
    expect(findLibrary(img, 'libx.so', [obj('/a', { runpath: ['/rp'] })], cfgOf(img, ['LD_LIBRARY_PATH=/env']))?.resolvedPath).toBe('/env/libx.so');
    expect(findLibrary(img, 'libx.so', [obj('/a', { rpath: ['/rpath'] })], cfgOf(img, ['LD_LIBRARY_PATH=/env']))?.resolvedPath).toBe('/rpath/libx.so');
  });

  it('ignores DT_RPATH when the object has DT_RUNPATH, and RPATH of loaders only when the direct loader has no RUNPATH', () => {
    const img = new MemoryImage()
      .file('/rpath/liby.so', elf())
      .file('/exe-rpath/liby.so', elf())
      .file('/usr/lib/liby.so', elf());
    const exe = obj('/bin/e', { rpath: ['/exe-rpath'] });
    // lib has both: its RPATH is ignored, and because it has RUNPATH, the exe's RPATH is not used either
    const lib1 = obj('/usr/lib/l1.so', { rpath: ['/rpath'], runpath: ['/nowhere'] });
    expect(findLibrary(img, 'liby.so', [lib1, exe], cfgOf(img))?.resolvedPath).toBe('/usr/lib/liby.so');
    // lib without RUNPATH: its own RPATH first, then up the chain to the executable's
    const lib2 = obj('/usr/lib/l2.so', {});
    expect(findLibrary(img, 'liby.so', [lib2, exe], cfgOf(img))?.resolvedPath).toBe('/exe-rpath/liby.so');
    const lib3 = obj('/usr/lib/l3.so', { rpath: ['/rpath'] });
    expect(findLibrary(img, 'liby.so', [lib3, exe], cfgOf(img))?.resolvedPath).toBe('/rpath/liby.so');
  });

  it('searches the image’s ld.so.conf with include globs before the default dirs', () => {
    const img = new MemoryImage()
      .file('/opt/a/libz.so.1', elf())
      .file('/usr/lib/x86_64-linux-gnu/libz.so.1', elf())
      .file('/opt/b/libw.so', elf());
    withText(img, '/etc/ld.so.conf', '# comment\ninclude /etc/ld.so.conf.d/*.conf\n');
    withText(img, '/etc/ld.so.conf.d/b.conf', '/opt/b\n');
    withText(img, '/etc/ld.so.conf.d/a.conf', '/opt/a # trailing\n');
    withText(img, '/etc/ld.so.conf.d/ignored.txt', '/opt/ignored\n');
    const cfg = cfgOf(img);
    expect(cfg.ldSoConfDirs).toEqual(['/opt/a', '/opt/b']);
    expect(findLibrary(img, 'libz.so.1', [obj('/bin/x')], cfg)?.resolvedPath).toBe('/opt/a/libz.so.1');
    expect(findLibrary(img, 'libw.so', [obj('/bin/x')], cfg)?.via).toBe('ld.so.cache');
  });

  it('falls back to the default dirs, following the lib symlink inside the image, and skips wrong class or machine', () => {
    const img = new MemoryImage()
      .symlink('/lib', 'usr/lib')
      .file('/usr/lib/x86_64-linux-gnu/libq.so', elf(32))
      .file('/usr/lib64/libq.so', elf(64, 183))
      .file('/usr/lib/libq.so', elf(64, 62));
    const f = findLibrary(img, 'libq.so', [obj('/bin/x')], cfgOf(img));
    expect(f?.path).toBe('/lib/libq.so');
    expect(f?.resolvedPath).toBe('/usr/lib/libq.so');
  });

  it('never leaves the image root through a hostile library symlink', () => {
    const img = new MemoryImage()
      .file('/etc/shadow', 'root:x:...')
      .symlink('/usr/lib/x86_64-linux-gnu/libevil.so', '../../../../../../etc/shadow');
    const f = findLibrary(img, 'libevil.so', [obj('/bin/x')], cfgOf(img));
    expect(f?.resolvedPath).toBe('/etc/shadow'); // the image's own file, a non-ELF the closure then reports
  });

  it('reports glibc-hwcaps variants as alternates', () => {
    const img = new MemoryImage()
      .file('/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libm2.so', elf())
      .file('/usr/lib/x86_64-linux-gnu/libm2.so', elf());
    const f = findLibrary(img, 'libm2.so', [obj('/bin/x')], cfgOf(img));
    expect(f?.resolvedPath).toBe('/usr/lib/x86_64-linux-gnu/libm2.so');
    expect(f?.alternates.map((a) => a.resolvedPath)).toEqual(['/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libm2.so']);
  });

  it('takes names with a slash as paths and reports absent libraries as undefined', () => {
    const img = new MemoryImage().file('/opt/x/libp.so', elf());
    expect(findLibrary(img, '/opt/x/libp.so', [obj('/bin/x')], cfgOf(img))?.via).toBe('path');
    expect(findLibrary(img, 'libnone.so', [obj('/bin/x')], cfgOf(img))).toBeUndefined();
  });
});

describe('findLibrary (musl)', () => {
  const interp = '/lib/ld-musl-x86_64.so.1';
  it('uses the path file when present, rpath of the chain, and maps libc names to the loader', () => {
    const img = new MemoryImage()
      .file(interp, elf())
      .symlink('/lib/libc.musl-x86_64.so.1', 'ld-musl-x86_64.so.1')
      .file('/usr/lib/libssl.so.3', elf())
      .file('/custom/libssl.so.3', elf());
    expect(cfgOf(img, [], interp).flavor).toBe('musl');
    expect(findLibrary(img, 'libc.musl-x86_64.so.1', [obj('/bin/x')], cfgOf(img, [], interp))?.resolvedPath).toBe(interp);
    expect(findLibrary(img, 'libc.so', [obj('/bin/x')], cfgOf(img, [], interp))?.via).toBe('musl-builtin');
    expect(findLibrary(img, 'libssl.so.3', [obj('/bin/x')], cfgOf(img, [], interp))?.resolvedPath).toBe('/usr/lib/libssl.so.3');
    withText(img, '/etc/ld-musl-x86_64.path', '/custom:/usr/lib\n');
    expect(findLibrary(img, 'libssl.so.3', [obj('/bin/x')], cfgOf(img, [], interp))?.resolvedPath).toBe('/custom/libssl.so.3');
    // musl takes RPATH as well as RUNPATH, from every object up the chain
    const img2 = new MemoryImage().file('/r/libk.so', elf());
    expect(findLibrary(img2, 'libk.so', [obj('/l.so'), obj('/bin/x', { rpath: ['/r'] })], cfgOf(img2, [], interp))?.resolvedPath).toBe('/r/libk.so');
  });
});

describe('dynamic string tokens and ld.so.conf parsing', () => {
  it('expands $ORIGIN, ${ORIGIN}, $LIB and $PLATFORM', () => {
    expect(expandDst('$ORIGIN/../lib', '/opt/app/bin')).toEqual(['/opt/app/bin/../lib']);
    expect(expandDst('${ORIGIN}:x', '/o')).toEqual(['/o:x']);
    expect(expandDst('/usr/$LIB/foo', '/')).toEqual(['/usr/lib/x86_64-linux-gnu/foo', '/usr/lib64/foo']);
    expect(expandDst('/p/${PLATFORM}', '/')).toEqual(['/p/x86_64', '/p/haswell']);
    expect(expandDst('$ORIGINAL', '/o')).toEqual(['$ORIGINAL']);
  });
  it('survives include cycles and relative includes', () => {
    const files: Record<string, string> = {
      '/etc/ld.so.conf': 'include conf.d/*.conf\n/usr/local/lib',
      '/etc/conf.d/x.conf': 'include /etc/ld.so.conf\n/x:/y,/z=libc6\nhwcap 1 foo\n',
    };
    const dirs = parseLdSoConf((p) => files[p], (d) => (d === '/etc/conf.d' ? ['x.conf', '.hidden.conf'] : []));
    expect(dirs).toEqual(['/x', '/y', '/z', '/usr/local/lib']);
  });
  it('globs over an image directory listing', () => {
    const img = new MemoryImage().file('/etc/d/b.conf', '').file('/etc/d/a.conf', '').file('/etc/d/c.txt', '').file('/etc/d/sub/z.conf', '');
    expect(globImage('/etc/d/*.conf', (d) => listImageDir(img, d))).toEqual(['/etc/d/a.conf', '/etc/d/b.conf']);
  });
  it('globs in any component, and a pattern that is not a valid RegExp is just a pattern', () => {
    const img = new MemoryImage().file('/etc/d1/x.conf', '').file('/etc/d2/y.conf', '').file('/etc/e/z.conf', '').file('/etc/x/[\x1b[2J', '');
    expect(globImage('/etc/d*/*.conf', (d) => listImageDir(img, d))).toEqual(['/etc/d1/x.conf', '/etc/d2/y.conf']);
    // Once "internal: Invalid regular expression", with the escape codes printed raw.
    expect(globImage('/etc/x/[\x1b[2J', (d) => listImageDir(img, d))).toEqual(['/etc/x/[\x1b[2J']);
  });
  it('ignores a line that names no directory, with a note, as ldconfig does', () => {
    const notes: string[] = [];
    const files: Record<string, string> = { '/etc/ld.so.conf': 'include /etc/x/[\x1b[2J\n\x1b[2JALL-IMAGES-OK\n/opt/lib\n' };
    const dirs = parseLdSoConf((p) => files[p], () => [], undefined, undefined, notes);
    expect(dirs).toEqual(['/opt/lib']);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^\/etc\/ld\.so\.conf:2: ignored a line/);
    expect(notes[0]).not.toContain('\x1b');
  });
  it('bounds how many files includes read', () => {
    const notes: string[] = [];
    const names = Array.from({ length: 1000 }, (_, i) => `f${i}.conf`);
    const dirs = parseLdSoConf((p) => (p === '/etc/ld.so.conf' ? 'include /etc/c/*.conf' : `/lib/${p.slice(8)}`), (d) => (d === '/etc/c' ? names : []), undefined, undefined, notes);
    expect(dirs.length).toBeLessThan(256);
    expect(notes.join('\n')).toMatch(/more than 256 files/);
  });
});
