import * as fs from 'fs';
import * as path from 'path';
import { compile, tempDir } from '../analysis/x86/test-fixtures';
import { canonicalJson } from '../cache/canonical-json';
import { sha256Hex } from '../cache/digest';
import { analyzeCommand, locateInRoot } from './analyze-command';
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

test('a program entry that fails its schema is a cache miss even when its hash matches: recomputed, never trusted', async () => {
  const cache = path.join(dir, 'cache-schema');
  const first = await run([musl, '-v', '--cache', cache]);
  const files = fs.readdirSync(path.join(cache, 'objects'), { recursive: true }).map((f) => path.join(cache, 'objects', String(f))).filter((f) => f.endsWith('.json'));
  const program = files.find((f) => JSON.parse(fs.readFileSync(f, 'utf8')).fingerprint.stage === 'analyze-program')!;
  const entry = JSON.parse(fs.readFileSync(program, 'utf8'));
  // An answer that would print differently if it were used (only `read`), in a shape the
  // schema rejects (a field it does not know), re-hashed so that only the schema can tell.
  entry.artifact.resolution.syscalls = [0];
  entry.artifact.resolution.unknownField = true;
  entry.artifactSha256 = sha256Hex(canonicalJson(entry.artifact));
  fs.writeFileSync(program, JSON.stringify(entry));
  const second = await run([musl, '-v', '--cache', cache]);
  expect(second.out).toBe(first.out);
  // Recomputed and written again in the valid shape: the next run reuses it.
  expect(JSON.parse(fs.readFileSync(program, 'utf8')).artifact.resolution.unknownField).toBeUndefined();
  expect((await run([musl, '-v', '--cache', cache])).out).toBe(first.out);
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
