import * as fs from 'fs';
import * as path from 'path';
import { compile, tempDir } from '../x86/test-fixtures';
import { analyzeCommand } from './analyze-command';
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

test('--cache stores one validated entry per file content and a rerun gives the same answer from it', async () => {
  const cache = path.join(dir, 'cache');
  const first = await run([musl, '--json', '--cache', cache]);
  const entries = () => fs.readdirSync(path.join(cache, 'objects'), { recursive: true }).filter((f) => String(f).endsWith('.json'));
  expect(entries()).toHaveLength(1);
  const second = await run([musl, '--json', '--cache', cache]);
  expect(second.out).toBe(first.out);
  expect(entries()).toHaveLength(1);
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
  await expect(analyzeCommand([path.join(dir, 'nope')])).rejects.toThrow(/no such file/);
});

test('a non-ELF file is reported, not a crash, and the exit status says so', async () => {
  const txt = path.join(dir, 'notes.txt');
  fs.writeFileSync(txt, 'hello');
  const r = await run([txt, '--json']);
  expect(r.code).toBe(1);
  expect(r.err).toContain('not-elf');
  expect(JSON.parse(r.out).binaries[0]).toEqual({ path: txt, syscalls: [], unresolvedSites: 0 });
});
