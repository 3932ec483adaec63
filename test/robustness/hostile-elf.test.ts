import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElf } from '../../analysis/elf';
import { ConfineError } from '../../pipeline/errors';
import { scanFile } from '../../analysis/scan/scan-file';
import { validateArtifact } from '../../schemas/validate';
import { hostileVariants } from './hostile-elf';

/**
 * Each hostile variant of a real gcc binary, musl static binary and shared library:
 * the reader either accepts it or throws a ConfineError naming the file; scanFile
 * always returns a storable value, within a time and memory bound.
 */
let dir: string;
const seeds: Record<string, Buffer> = {};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'confine-hostile-'));
  writeFileSync(join(dir, 'p.c'), '#include <stdio.h>\n#include <unistd.h>\nint v(int x){return puts("a")+x;}\nint main(int c,char**a){printf("%s\\n",a[0]);write(1,"x",1);return v(c);}\n');
  execFileSync('gcc', ['-O1', '-o', join(dir, 'pie'), join(dir, 'p.c')]);
  execFileSync('gcc', ['-O1', '-shared', '-fPIC', '-o', join(dir, 'lib.so'), join(dir, 'p.c')]);
  execFileSync('musl-gcc', ['-O1', '-static', '-o', join(dir, 'musl'), join(dir, 'p.c')]);
  for (const n of ['pie', 'lib.so', 'musl']) seeds[n] = readFileSync(join(dir, n));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TIME_BOUND_MS = 3000;
const HEAP_BOUND_MB = 256;

const cases = ['pie', 'lib.so', 'musl'].flatMap((seed) =>
  [
    'truncated-header', 'truncated-half', 'truncated-before-shdrs', 'shnum-absurd', 'shoff-past-end', 'shstrndx-out-of-range', 'phnum-absurd',
    'sections-overlap', 'section-size-gigantic', 'segment-size-gigantic', 'symbol-sizes-gigantic', 'section-link-self', 'dynamic-strsz-gigantic',
    'eh-frame-cie-loop', 'eh-frame-length-gigantic', 'eh-frame-zero-lengths', 'plt-jumps-to-itself', 'text-all-self-calls', 'relocations-garbage',
    'not-elf-but-named-so', 'elf-magic-only',
  ].map((v) => [seed, v] as const),
).filter(([seed, v]) => !(seed === 'musl' && (v === 'dynamic-strsz-gigantic' || v === 'plt-jumps-to-itself' || v === 'relocations-garbage' || v === 'symbol-sizes-gigantic' || v === 'sections-overlap' || v === 'section-size-gigantic')));

test.each(cases)('%s / %s: a typed error or a value, in bounded time and memory', (seed, variant) => {
  const bytes = hostileVariants(seeds[seed])[variant];
  expect(bytes.equals(seeds[seed])).toBe(false);
  const label = `${seed}:${variant}`;
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = Date.now();
  try {
    parseElf(bytes, label);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfineError);
    expect((e as ConfineError).where.file).toBe(label);
  }
  const scanned = scanFile(bytes, `sha256:${'0'.repeat(64)}`, label);
  const ms = Date.now() - t0;
  const heapMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  expect(validateArtifact('confine/elf-scan/v1', scanned)).toBeUndefined();
  if (scanned.format === 'malformed') expect(scanned.error).toMatch(/\S/);
  expect(ms).toBeLessThan(TIME_BOUND_MS);
  expect(heapMb).toBeLessThan(HEAP_BOUND_MB);
});
