import * as fs from 'node:fs';
import * as path from 'node:path';
import { compile, tempDir } from '../analysis/x86/test-fixtures';
import { analyzeCommand } from './analyze-command';

/**
 * A cache another user controls must not steer where root writes (issue 23 item 7):
 * `confine analyze --cache` on a cache whose objects/ is a link to a stand-in for /etc
 * is refused before anything is written, and nothing appears in the link's target.
 */
let dir: string;
let prog: string;
beforeAll(() => {
  dir = tempDir('confine-cache-trust-');
  prog = compile(dir, 'p.c', 'int main(void) { return 0; }', 'p', ['-O2', '-static'], 'musl-gcc');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function analyze(argv: string[]): Promise<{ code?: number; thrown?: Error }> {
  const o = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const e = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await analyzeCommand(argv) };
  } catch (err) {
    return { thrown: err as Error };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

function standInForEtc(name: string): string {
  const etc = path.join(dir, name);
  fs.mkdirSync(etc);
  fs.writeFileSync(path.join(etc, 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  return etc;
}

test('a cache whose objects/ is a link is refused, and nothing is written where it leads', async () => {
  const etc = standInForEtc('etc1');
  const cache = path.join(dir, 'cache1');
  fs.mkdirSync(cache);
  fs.symlinkSync(etc, path.join(cache, 'objects'));
  const r = await analyze([prog, '--json', '--cache', cache]);
  expect(r.thrown?.message).toMatch(new RegExp(`--cache ${cache}: ${path.join(cache, 'objects')} is a symbolic link`));
  expect(fs.readdirSync(etc)).toEqual(['passwd']);
});

test('a cache owned by another user is refused before anything is written in it', async () => {
  const etc = standInForEtc('etc2');
  const cache = path.join(dir, 'cache2');
  fs.mkdirSync(cache);
  fs.symlinkSync(etc, path.join(cache, 'objects'));
  fs.lchownSync(path.join(cache, 'objects'), 12345, 12345);
  fs.chownSync(cache, 12345, 12345);
  const r = await analyze([prog, '--json', '--cache', cache]);
  expect(r.thrown?.message).toMatch(/owned by uid 12345/);
  expect(fs.readdirSync(etc)).toEqual(['passwd']);
  expect(fs.readdirSync(cache)).toEqual(['objects']);
});

test('a cache of our own is used as before', async () => {
  const cache = path.join(dir, 'cache3');
  const r = await analyze([prog, '--json', '--cache', cache]);
  expect(r.code).toBe(0);
  expect(fs.readdirSync(path.join(cache, 'objects')).length).toBeGreaterThan(0);
});
