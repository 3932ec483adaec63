import * as fs from 'fs';
import * as path from 'path';
import { compile, tempDir } from '../analysis/x86/test-fixtures';
import { analyzeCommand, locateInRoot, resolutionFingerprint, SummarySource } from './analyze-command';
import { UsageError } from './args';

const PROGRAM = String.raw`
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("%d\n", (int)getpid()); return 0; }
`;

let dir: string;
let dyn: string;
let musl: string;
beforeAll(() => {
  dir = tempDir('confine-analyze-');
  dyn = compile(dir, 'p.c', PROGRAM, 'dyn', ['-O2']);
  musl = compile(dir, 'p.c', PROGRAM, 'musl', ['-O2', '-static'], 'musl-gcc');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await analyzeCommand(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

test('--json prints exactly binaries (path, syscall names, unresolvedSites) and the union', async () => {
  const r = await run([dyn, musl, '--json']);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.out);
  expect(Object.keys(j).sort()).toEqual(['binaries', 'syscalls']);
  expect(j.binaries.map((b: { path: string }) => b.path)).toEqual([dyn, musl]);
  for (const b of j.binaries) {
    expect(Object.keys(b).sort()).toEqual(['path', 'syscalls', 'unresolvedSites']);
    expect(b.syscalls).toEqual([...b.syscalls].sort());
    expect(b.syscalls).toEqual(expect.arrayContaining(['getpid', 'exit_group']));
    expect(b.syscalls).not.toContain('reboot');
    expect(typeof b.unresolvedSites).toBe('number');
  }
  expect(j.binaries[1].syscalls).toEqual(expect.arrayContaining(['writev']));
  const union = new Set([...j.binaries[0].syscalls, ...j.binaries[1].syscalls]);
  expect(j.syscalls).toEqual([...union].sort());
});

test('--cache stores one entry per file content plus one per program, and a rerun gives the same answer from them', async () => {
  const cache = path.join(dir, 'cache');
  const first = await run([musl, '--json', '--cache', cache]);
  const entries = () => fs.readdirSync(path.join(cache, 'objects'), { recursive: true }).filter((f) => String(f).endsWith('.json')).map((f) => path.join(cache, 'objects', String(f)));
  const stages = () => entries().map((f) => JSON.parse(fs.readFileSync(f, 'utf8')).fingerprint.stage).sort();
  expect(stages()).toEqual(['analyze-program', 'elf-scan']);
  const second = await run([musl, '--json', '--cache', cache]);
  expect(second.out).toBe(first.out);
  expect(entries()).toHaveLength(2);
  // The verbose table (chains, per-object counts) comes back from the program entry unchanged.
  const cold = await run([musl, '-v']);
  const warm = await run([musl, '-v', '--cache', cache]);
  expect(warm.out).toBe(cold.out);
});

test('a program entry that is tampered with is not trusted: the answer is recomputed', async () => {
  const cache = path.join(dir, 'cache-tamper');
  const first = await run([musl, '--json', '--cache', cache]);
  const files = fs.readdirSync(path.join(cache, 'objects'), { recursive: true }).map((f) => path.join(cache, 'objects', String(f))).filter((f) => f.endsWith('.json'));
  const program = files.find((f) => JSON.parse(fs.readFileSync(f, 'utf8')).fingerprint.stage === 'analyze-program')!;
  const entry = JSON.parse(fs.readFileSync(program, 'utf8'));
  entry.artifact.resolution.syscalls = [];
  fs.writeFileSync(program, JSON.stringify(entry));
  const second = await run([musl, '--json', '--cache', cache]);
  expect(second.out).toBe(first.out);
});

test('the program key changes with any loaded object\'s path or content and with the analysis code', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const lib = { name: 'libc.so', rootPath: '/lib/libc.so', hostPath: '/lib/libc.so', bytes: bytes('libc'), info: {} as never };
  const plan = (libBytes: Uint8Array, libPath = '/lib/libc.so') => ({
    rootPath: '/bin/p', bytes: bytes('exe'), order: { libraries: [{ ...lib, bytes: libBytes, rootPath: libPath }], missing: [], candidates: [] },
  });
  const source = new SummarySource();
  const key = (p: ReturnType<typeof plan>) => JSON.stringify(resolutionFingerprint(p, source));
  expect(key(plan(bytes('libc')))).toBe(key(plan(bytes('libc'))));
  expect(key(plan(bytes('libc2')))).not.toBe(key(plan(bytes('libc'))));
  expect(key(plan(bytes('libc'), '/usr/lib/libc.so'))).not.toBe(key(plan(bytes('libc'))));
  const fp = resolutionFingerprint(plan(bytes('libc')), source);
  expect((fp.config as { code: string }).code).toMatch(/^[0-9a-f]{64}$/);
});

test('scans on worker threads give the same answer and entries as scans inline', async () => {
  const saved = process.env.CONFINE_SCAN_WORKERS;
  try {
    process.env.CONFINE_SCAN_WORKERS = '0';
    const inline = await run([dyn, musl, '-v']);
    process.env.CONFINE_SCAN_WORKERS = '2';
    const cache = path.join(dir, 'cache-workers');
    const pooled = await run([dyn, musl, '-v', '--cache', cache]);
    expect(pooled.out).toBe(inline.out);
    // Entries the workers wrote are valid: the rerun reads them back (program entries included).
    const again = await run([dyn, musl, '-v', '--cache', cache]);
    expect(again.out).toBe(inline.out);
  } finally {
    if (saved === undefined) delete process.env.CONFINE_SCAN_WORKERS;
    else process.env.CONFINE_SCAN_WORKERS = saved;
  }
});

test('--root: PATH is taken inside the root', async () => {
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.copyFileSync(musl, path.join(root, 'bin', 'prog'));
  const r = await run(['/bin/prog', '--root', root, '--json']);
  expect(JSON.parse(r.out).binaries[0].path).toBe('/bin/prog');
});

test('the table names every binary and its syscall count; --help and bad usage', async () => {
  const t = await run([musl]);
  expect(t.out).toContain(musl);
  expect(t.out).toMatch(/syscalls: \d+ \(direct edges only: \d+/);
  const h = await run(['--help']);
  expect(h.code).toBe(0);
  expect(h.out).toContain('confine analyze PATH...');
  await expect(analyzeCommand([])).rejects.toBeInstanceOf(UsageError);
  const nope = await run([path.join(dir, 'nope')]);
  expect(nope.code).toBe(1);
  expect(nope.err).toMatch(/nope: no such file/);
});

test('a non-ELF file is reported, not a crash, and the exit status says so', async () => {
  const txt = path.join(dir, 'notes.txt');
  fs.writeFileSync(txt, 'hello');
  const r = await run([txt, '--json']);
  expect(r.code).toBe(1);
  expect(r.err).toContain('not-elf');
  expect(JSON.parse(r.out).binaries[0]).toEqual({ path: txt, syscalls: [], unresolvedSites: 0, error: expect.stringContaining('not-elf') });
});

test('--cache: a program rewritten in place just after a run is analysed afresh', async () => {
  const cache = path.join(dir, 'cache-rewrite');
  const prog = path.join(dir, 'rewritten');
  fs.copyFileSync(musl, prog);
  const first = await run([prog, '--json', '--cache', cache]);
  // Same path, new content (a program that calls something else), just after the first run.
  const other = compile(dir, 'q.c', String.raw`
#include <unistd.h>
int main(void) { return (int)getppid(); }
`, 'musl2', ['-O2', '-static'], 'musl-gcc');
  fs.copyFileSync(other, prog);
  const second = await run([prog, '--json', '--cache', cache]);
  expect(JSON.parse(first.out).syscalls).toContain('getpid');
  expect(JSON.parse(second.out).syscalls).toContain('getppid');
  expect(JSON.parse(second.out).syscalls).not.toContain('getpid');
});

describe('--root: every path is resolved inside the root, never on the host', () => {
  let root: string;
  beforeAll(() => {
    root = path.join(dir, 'rootfs');
    const mk = (p: string) => fs.mkdirSync(path.join(root, p), { recursive: true });
    for (const d of ['opt/real', 'etc/alternatives', 'usr/bin', 'bin']) mk(d);
    fs.copyFileSync(musl, path.join(root, 'opt/real/prog'));
    // Debian's alternatives: two absolute links, both meant inside the root.
    fs.symlinkSync('/opt/real/prog', path.join(root, 'etc/alternatives/prog'));
    fs.symlinkSync('/etc/alternatives/prog', path.join(root, 'usr/bin/prog'));
    // The host has a /bin/sh too (dash): the root's /bin/sh is our musl program.
    fs.copyFileSync(musl, path.join(root, 'bin/sh'));
    fs.symlinkSync('/bin/sh', path.join(root, 'usr/bin/shell'));
    fs.symlinkSync('../../../../../../opt/real/prog', path.join(root, 'usr/bin/up')); // '..' stops at the root
    fs.symlinkSync('/usr/bin/env', path.join(root, 'usr/bin/hostonly')); // exists on the host only
    fs.symlinkSync('/usr/bin/loop', path.join(root, 'usr/bin/loop'));
    fs.symlinkSync('/opt/real', path.join(root, 'usr/bin/dir'));
  });

  test('locateInRoot follows absolute links, .. and chains inside the root', () => {
    expect(locateInRoot(root, '/usr/bin/prog')).toEqual({ label: '/usr/bin/prog', rootPath: '/opt/real/prog' });
    expect(locateInRoot(root, '/usr/bin/shell')).toEqual({ label: '/usr/bin/shell', rootPath: '/bin/sh' });
    expect(locateInRoot(root, '/usr/bin/up')).toEqual({ label: '/usr/bin/up', rootPath: '/opt/real/prog' });
    // A host path under the root is taken inside it too.
    expect(locateInRoot(root, path.join(root, 'usr/bin/prog'))).toEqual({ label: '/usr/bin/prog', rootPath: '/opt/real/prog' });
    expect(locateInRoot(root, '/usr/bin/hostonly')).toMatchObject({ label: '/usr/bin/hostonly', error: expect.stringMatching(/no such file inside --root/) });
    expect(locateInRoot(root, '/usr/bin/loop').error).toMatch(/no such file/);
    expect(locateInRoot(root, '/usr/bin/dir').error).toMatch(/not a regular file/);
    expect(locateInRoot(root, '../elsewhere').error).toMatch(/not inside --root/);
  });

  test("an absolute link whose target exists on the host analyses the root's file", async () => {
    const direct = JSON.parse((await run([musl, '--json'])).out).binaries[0].syscalls;
    const viaRoot = await run(['/usr/bin/shell', '/usr/bin/prog', '--root', root, '--json']);
    expect(viaRoot.code).toBe(0);
    const j = JSON.parse(viaRoot.out);
    expect(j.binaries.map((b: { path: string }) => b.path)).toEqual(['/usr/bin/shell', '/usr/bin/prog']);
    // The host's /bin/sh (dash) makes many more syscalls than this small musl program.
    expect(j.binaries[0].syscalls).toEqual(direct);
    expect(j.binaries[1].syscalls).toEqual(direct);
  });

  test('one PATH failing: the others are still printed, the failed ones carry an error, exit 1', async () => {
    const r = await run(['/usr/bin/hostonly', '/usr/bin/prog', '/usr/bin/loop', '/usr/bin/nope', '--root', root, '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.binaries.map((b: { path: string }) => b.path)).toEqual(['/usr/bin/hostonly', '/usr/bin/prog', '/usr/bin/loop', '/usr/bin/nope']);
    const [hostonly, prog, loop, nope] = j.binaries;
    expect(prog.error).toBeUndefined();
    expect(prog.syscalls).toEqual(expect.arrayContaining(['getpid', 'exit_group']));
    for (const b of [hostonly, loop, nope]) {
      expect(b.error).toMatch(/no such file inside --root/);
      expect(b.syscalls).toEqual([]);
    }
    expect(j.syscalls).toEqual(prog.syscalls);
    expect(r.err).toContain('/usr/bin/hostonly: no such file');
    // The table form too.
    const t = await run(['/usr/bin/loop', '/usr/bin/prog', '--root', root]);
    expect(t.code).toBe(1);
    expect(t.out).toContain('/usr/bin/loop: not analysed: no such file');
    expect(t.out).toMatch(/\/usr\/bin\/prog\n\s+objects/);
  });
});

describe('the --cache reader: planning without reading files seen before', () => {
  /** A clock some seconds ahead, so the file's last change is settled (FileDigestIndex's racy window). */
  const later = (s: number) => () => BigInt(Date.now() + s * 1000) * 1_000_000n;
  const { FileDigestIndex } = require('../cache/file-digests') as typeof import('../cache/file-digests');
  const { ObjectFactsStore } = require('../system/host/object-facts') as typeof import('../system/host/object-facts');

  /** A copy of the dynamic test program, indexed and its facts stored as a first run leaves them. */
  async function firstRun() {
    const d = fs.mkdtempSync(path.join(dir, 'reader-'));
    const file = path.join(d, 'p');
    fs.copyFileSync(dyn, file);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const index = FileDigestIndex.open(path.join(d, 'index.json'), later(10));
    const facts = ObjectFactsStore.open(path.join(d, 'facts.json'));
    const first = new SummarySource(undefined, index, undefined, facts).reader()!(file, '/p')!;
    const names = first.libraryNames();
    await index.save();
    await facts.save();
    const again = () => new SummarySource(undefined, FileDigestIndex.open(path.join(d, 'index.json'), later(20)), undefined, ObjectFactsStore.open(path.join(d, 'facts.json'))).reader()!;
    return { file, first, names, again };
  }

  it('a second run takes digest, dynamic info and library names from the stores, and reads the file only for its bytes', async () => {
    const t = await firstRun();
    const read = jest.spyOn(fs, 'readFileSync');
    try {
      const o = t.again()(t.file, '/p')!;
      expect({ digest: o.digest, info: o.info, names: o.libraryNames() }).toEqual({ digest: t.first.digest, info: t.first.info, names: t.names });
      expect(read.mock.calls.filter((c) => c[0] === t.file)).toHaveLength(0);
      expect(Buffer.from(o.bytes).equals(fs.readFileSync(dyn))).toBe(true);
    } finally {
      read.mockRestore();
    }
  });

  it('bytes that no longer have the digest planning used are an error, never analysed under the old name', async () => {
    const t = await firstRun();
    const o = t.again()(t.file, '/p')!;
    // Changed after planning took the digest from the index, before a scan asked for the bytes.
    fs.writeFileSync(t.file, Buffer.concat([fs.readFileSync(t.file), Buffer.from('x')]));
    expect(() => o.bytes).toThrow(/changed while it was being analysed/);
  });

  it('a damaged facts file, or one written by other code, is an empty store', async () => {
    const f = path.join(fs.mkdtempSync(path.join(dir, 'facts-')), 'facts.json');
    const d = `sha256:${'a'.repeat(64)}`;
    const info: import('../analysis/elf').DynamicInfo = { elfClass: 64, machine: 62, type: 'dyn', isPie: true, needed: [], runpath: [], rpath: [], isStatic: true };
    const kept = ObjectFactsStore.open(f, 'code-1');
    kept.set(d, { info, names: ['libx.so'] });
    await kept.save();
    expect(ObjectFactsStore.open(f, 'code-1').get(d)).toEqual({ info, names: ['libx.so'] });
    expect(ObjectFactsStore.open(f, 'code-2').get(d)).toBeUndefined();
    fs.writeFileSync(f, '{"code":"code-1","entries":{"sha256:00":{"info":7}');
    expect(ObjectFactsStore.open(f, 'code-1').get('sha256:00')).toBeUndefined();
    fs.writeFileSync(f, JSON.stringify({ code: 'code-1', entries: { [d]: { info: { elfClass: 64 } } } }));
    expect(ObjectFactsStore.open(f, 'code-1').get(d)).toBeUndefined();
  });
});
