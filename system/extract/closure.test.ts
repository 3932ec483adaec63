import { readFileSync, realpathSync } from 'node:fs';
import { closureEnv, computeClosure, preloadNames } from './closure';
import { MemoryImage } from '../image/memory-image';

// Real host objects, so the closure reads real dynamic sections.
const host = (p: string) => readFileSync(realpathSync(p));
const LIB = '/usr/lib/x86_64-linux-gnu';

function debianLike(): MemoryImage {
  return new MemoryImage()
    .file('/usr/bin/true', host('/usr/bin/true'))
    .file('/usr/sbin/ldconfig', host('/sbin/ldconfig')) // static-pie: no loader, no preloads
    .file(`${LIB}/ld-linux-x86-64.so.2`, host('/lib64/ld-linux-x86-64.so.2'))
    .symlink('/lib64/ld-linux-x86-64.so.2', `${LIB}/ld-linux-x86-64.so.2`)
    .file(`${LIB}/libc.so.6`, host(`${LIB}/libc.so.6`))
    .file(`${LIB}/libm.so.6`, host(`${LIB}/libm.so.6`))
    .file(`${LIB}/libgcc_s.so.1`, host(`${LIB}/libgcc_s.so.1`))
    .file(`${LIB}/libstdc++.so.6`, host(`${LIB}/libstdc++.so.6`));
}

describe('computeClosure: preloaded objects', () => {
  it('takes /etc/ld.so.preload objects (and their own libraries) for a dynamic program', async () => {
    const img = debianLike().file('/etc/ld.so.preload', `${LIB}/libstdc++.so.6\n`, 0o644);
    const r = await computeClosure(img, { executed: ['/usr/bin/true'], mapped: [], all: false });
    const byPath = new Map(r.files.map((f) => [f.path, f]));
    expect(byPath.get(`${LIB}/libstdc++.so.6`)?.role).toBe('mapped');
    // Its DT_NEEDED are followed like any mapped object's: libm and libgcc_s are in only through it.
    expect([...byPath.keys()]).toEqual(expect.arrayContaining([`${LIB}/libm.so.6`, `${LIB}/libgcc_s.so.1`]));
  });

  it('takes LD_PRELOAD names (searched like DT_NEEDED) and paths, and reports the ones not in the image', async () => {
    const img = debianLike();
    const r = await computeClosure(img, {
      executed: ['/usr/bin/true'],
      mapped: [],
      all: false,
      env: ['PATH=/usr/bin', `LD_PRELOAD=libstdc++.so.6:/opt/gone.so libnothere.so`],
    });
    expect(r.files.find((f) => f.resolvedPath === `${LIB}/libstdc++.so.6`)?.role).toBe('mapped');
    expect(r.missing).toEqual(expect.arrayContaining([
      { name: '/opt/gone.so', neededBy: 'LD_PRELOAD' },
      { name: 'libnothere.so', neededBy: 'LD_PRELOAD' },
    ]));
  });

  it('takes LD_AUDIT objects like LD_PRELOAD ones: ld.so loads and calls them in every dynamic program', async () => {
    const r = await computeClosure(debianLike(), {
      executed: ['/usr/bin/true'],
      mapped: [],
      all: false,
      env: ['PATH=/usr/bin', `LD_AUDIT=${LIB}/libstdc++.so.6:libnothere.so`],
    });
    const byPath = new Map(r.files.map((f) => [f.path, f]));
    expect(byPath.get(`${LIB}/libstdc++.so.6`)?.role).toBe('mapped');
    // The auditor's own libraries come with it.
    expect([...byPath.keys()]).toEqual(expect.arrayContaining([`${LIB}/libm.so.6`, `${LIB}/libgcc_s.so.1`]));
    expect(r.missing).toEqual(expect.arrayContaining([{ name: 'libnothere.so', neededBy: 'LD_AUDIT' }]));
  });

  it('adds nothing for static programs, and nothing without a preload', async () => {
    const withPreload = debianLike().file('/etc/ld.so.preload', `${LIB}/libstdc++.so.6\n`, 0o644);
    const staticOnly = await computeClosure(withPreload, { executed: ['/usr/sbin/ldconfig'], mapped: [], all: false });
    expect(staticOnly.files.map((f) => f.path)).toEqual(['/usr/sbin/ldconfig']);
    const plain = await computeClosure(debianLike(), { executed: ['/usr/bin/true'], mapped: [], all: false });
    expect(plain.files.map((f) => f.path)).not.toContain(`${LIB}/libstdc++.so.6`);
  });
});

describe('computeClosure: libraries named for dlopen', () => {
  it('takes a library a loaded object names as a string (glibc names libgcc_s.so.1 for unwinding) as role dlopen', async () => {
    const r = await computeClosure(debianLike(), { executed: ['/usr/bin/true'], mapped: [], all: false });
    const gcc = r.files.find((f) => f.resolvedPath === `${LIB}/libgcc_s.so.1`);
    expect(gcc?.role).toBe('dlopen');
    expect(gcc?.neededBy).toBe('libgcc_s.so.1');
  });

  it('finds a plugin named by a constant file name anywhere in the image when no search path has it', async () => {
    // libgcc_s.so.1 (which glibc names for dlopen) only under /opt/plugins, off every search path.
    const img = new MemoryImage()
      .file('/usr/bin/true', host('/usr/bin/true'))
      .file(`${LIB}/ld-linux-x86-64.so.2`, host('/lib64/ld-linux-x86-64.so.2'))
      .symlink('/lib64/ld-linux-x86-64.so.2', `${LIB}/ld-linux-x86-64.so.2`)
      .file(`${LIB}/libc.so.6`, host(`${LIB}/libc.so.6`))
      .file('/opt/plugins/libgcc_s.so.1', host(`${LIB}/libgcc_s.so.1`));
    const r = await computeClosure(img, { executed: ['/usr/bin/true'], mapped: [], all: false });
    expect(r.files.find((f) => f.resolvedPath === '/opt/plugins/libgcc_s.so.1')?.role).toBe('dlopen');
  });

  it('uses the names the index pass found instead of reading files again', async () => {
    const r = await computeClosure(debianLike(), { executed: ['/usr/bin/true'], mapped: [], all: false }, { libraryNames: new Map() });
    expect(r.files.map((f) => f.role)).not.toContain('dlopen');
  });
});

describe('preload parsing and keys', () => {
  it('splits at blanks and colons like ld.so', () => {
    expect(preloadNames(' /a.so:libb.so\n\tlibc.so  ')).toEqual(['/a.so', 'libb.so', 'libc.so']);
    expect(preloadNames(undefined)).toEqual([]);
  });
  it('LD_PRELOAD is part of what shared extractions are keyed by', () => {
    expect(closureEnv(['LD_PRELOAD=/x.so', 'HOME=/root'])).toContain('LD_PRELOAD=/x.so');
    expect(closureEnv(['HOME=/root']).some((e) => e.startsWith('LD_PRELOAD'))).toBe(false);
  });
  it('LD_AUDIT is part of what shared extractions are keyed by', () => {
    expect(closureEnv(['LD_AUDIT=/a.so', 'HOME=/root'])).toContain('LD_AUDIT=/a.so');
  });
});

describe('computeClosure: programs run by a constant path', () => {
  // glibc's system() and popen() run "/bin/sh": a string of libc.so.6.
  const withShell = () => debianLike().file('/usr/bin/dash', host('/usr/bin/dash')).symlink('/bin/sh', '/usr/bin/dash');

  it('takes a program an object names by its absolute path (libc names /bin/sh) as role exec-candidate, with its libraries', async () => {
    const r = await computeClosure(withShell(), { executed: ['/usr/bin/true'], mapped: [], all: false });
    const sh = r.files.find((f) => f.resolvedPath === '/usr/bin/dash');
    expect(sh).toMatchObject({ path: '/bin/sh', role: 'exec-candidate', neededBy: '/bin/sh' });
    // The loader's own path is a string of every dynamic program, but a library (no loader of its own) runs nothing.
    expect(r.files.find((f) => f.resolvedPath === `${LIB}/ld-linux-x86-64.so.2`)?.role).toBe('interpreter');
  });

  it('a candidate script brings its interpreter as a candidate too, activated by the same path', async () => {
    const img = withShell().file('/usr/local/bin/helper', '#!/bin/sh\necho hi\n', 0o755).file('/usr/bin/prog', host('/usr/bin/true'));
    // /usr/bin/prog names /usr/local/bin/helper (a script run through /bin/sh).
    const prog = Buffer.concat([host('/usr/bin/true'), Buffer.from('\0/usr/local/bin/helper\0', 'latin1')]);
    const r = await computeClosure(img.file('/usr/bin/prog', prog), { executed: ['/usr/bin/prog'], mapped: [], all: false });
    expect(r.files.find((f) => f.path === '/usr/local/bin/helper')).toMatchObject({ role: 'exec-candidate', neededBy: '/usr/local/bin/helper' });
    // dash is a candidate by libc's own "/bin/sh" first (sorted: "/bin/sh" < "/usr/local/bin/helper").
    expect(r.files.find((f) => f.resolvedPath === '/usr/bin/dash')?.role).toBe('exec-candidate');
  });

  it('every name of a candidate activates it: a symlinked alias, and a script it interprets', async () => {
    const prog = Buffer.concat([host('/usr/bin/true'), Buffer.from('\0/usr/bin/dash\0/usr/local/bin/helper\0', 'latin1')]);
    const img = withShell().file('/usr/local/bin/helper', '#!/bin/sh\necho hi\n', 0o755).file('/usr/bin/prog', prog);
    const r = await computeClosure(img, { executed: ['/usr/bin/prog'], mapped: [], all: false });
    const dash = r.files.find((f) => f.resolvedPath === '/usr/bin/dash');
    expect(dash?.activatedBy).toEqual(['/bin/sh', '/usr/bin/dash', '/usr/local/bin/helper']);
    expect(r.files.find((f) => f.path === '/usr/local/bin/helper')?.activatedBy).toEqual(['/usr/local/bin/helper']);
  });

  it("an executed #!/usr/bin/env script takes the program env runs, and reports no gap when PATH has it", async () => {
    const img = debianLike().file('/usr/bin/env', host('/usr/bin/env')).file('/usr/local/bin/run', '#!/usr/bin/env true\n', 0o755);
    const r = await computeClosure(img, { executed: ['/usr/local/bin/run'], mapped: [], all: false, env: ['PATH=/usr/bin'] });
    expect(r.files.find((f) => f.resolvedPath === '/usr/bin/env')?.role).toBe('script-interpreter');
    expect(r.files.find((f) => f.resolvedPath === '/usr/bin/true')?.role).toBe('script-interpreter');
    expect(r.notScanned).toEqual([]);
    const missing = await computeClosure(img.file('/usr/local/bin/run', '#!/usr/bin/env nothere\n', 0o755), { executed: ['/usr/local/bin/run'], mapped: [], all: false, env: ['PATH=/usr/bin'] });
    expect(missing.notScanned).toEqual([{ path: '/usr/local/bin/run: nothere', reason: "'nothere' (run through env) is not in PATH /usr/bin" }]);
  });

  it('a program already traced keeps its role, and the index pass can say there are no paths', async () => {
    const traced = await computeClosure(withShell(), { executed: ['/usr/bin/true', '/bin/sh'], mapped: [], all: false });
    expect(traced.files.find((f) => f.resolvedPath === '/usr/bin/dash')?.role).toBe('executed');
    const none = await computeClosure(withShell(), { executed: ['/usr/bin/true'], mapped: [], all: false }, { execPaths: new Map() });
    expect(none.files.map((f) => f.role)).not.toContain('exec-candidate');
  });
});

describe('computeClosure: programs that ran but are not files of the image', () => {
  it('a program written at run time (or on a volume) and executed cannot be analysed: it is unreadable, so the image fails by its name', async () => {
    const r = await computeClosure(debianLike(), { executed: ['/usr/bin/true', '/tmp/dropped'], mapped: [], all: false });
    expect(r.unreadable).toEqual([{ path: '/tmp/dropped', reason: expect.stringMatching(/not in the image/) }]);
  });

  it('so is the interpreter of a script that ran, when the image does not hold it', async () => {
    const img = debianLike().file('/app/run', '#!/tmp/interp\n', 0o755);
    const r = await computeClosure(img, { executed: ['/app/run'], mapped: [], all: false });
    expect(r.unreadable.map((u) => u.path)).toEqual(['/tmp/interp']);
  });

  it('code mapped from a file that is not in the image (a library written at run time and dlopen\'d) is unreadable; data is not', async () => {
    const r = await computeClosure(debianLike(), { executed: ['/usr/bin/true'], mapped: ['/tmp/plugin.so', '/data/db.bin'], mappedCode: ['/tmp/plugin.so'], all: false });
    expect(r.unreadable.map((u) => u.path)).toEqual(['/tmp/plugin.so']);
    expect(r.notScanned.map((u) => u.path)).toEqual(expect.arrayContaining(['/tmp/plugin.so', '/data/db.bin']));
  });

  it('a directory executed is not a program either', async () => {
    const r = await computeClosure(debianLike().entry('/opt/d', 'dir'), { executed: ['/opt/d'], mapped: [], all: false });
    expect(r.unreadable.map((u) => u.path)).toEqual(['/opt/d']);
  });
});

describe('computeClosure: the load order', () => {
  it('takes a DT_NEEDED name an already loaded object answers to (its soname) as that object, as ld.so does, not a second file a new search would find', async () => {
    const { elfHeader } = await import('../image/memory-image');
    const info = (p: Partial<import('../../analysis/elf/dynamic-info').DynamicInfo>) => ({ elfClass: 64 as const, machine: 62, type: 'dyn' as const, isPie: false, needed: [], runpath: [], rpath: [], isStatic: false, ...p });
    const img = new MemoryImage()
      .file('/app/prog', elfHeader({ type: 2, tag: 1 }))
      .file('/opt/z/libz.so.1', elfHeader({ type: 3, tag: 2 }))
      .file('/usr/lib/libz.so.1', elfHeader({ type: 3, tag: 3 }))
      .file('/usr/lib/liba.so', elfHeader({ type: 3, tag: 4 }));
    const infoCache = new Map<string, ReturnType<typeof info>>([
      // The program finds libz.so.1 through its DT_RPATH; liba has a DT_RUNPATH, so that RPATH is not its search.
      ['/app/prog', info({ type: 'exec', needed: ['libz.so.1', 'liba.so'], rpath: ['/opt/z'] })],
      ['/opt/z/libz.so.1', info({ soname: 'libz.so.1' })],
      ['/usr/lib/libz.so.1', info({ soname: 'libz.so.1' })],
      ['/usr/lib/liba.so', info({ soname: 'liba.so', needed: ['libz.so.1'], runpath: ['/nowhere'] })],
    ]);
    const r = await computeClosure(img, { executed: ['/app/prog'], mapped: [], all: false }, { infoCache });
    expect(r.files.map((f) => f.resolvedPath).sort()).toEqual(['/app/prog', '/opt/z/libz.so.1', '/usr/lib/liba.so']);
  });
});
