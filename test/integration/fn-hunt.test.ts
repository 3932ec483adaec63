/**
 * The bounded form of `make fn-hunt` (issue 13): a fixed subset of programs
 * (tools/fn-hunt/ci-programs.txt, ≥ 60, chosen by a rule) runs with --version and --help
 * under strace in throwaway containers of the small CI image, and every syscall
 * strace saw must be in what `confine analyze --root` reports for that program.
 *
 * Needs the Docker engine, mmdebstrap, gcc and musl-gcc (the image is built on first
 * use and cached by its package list). Image roots, traces and the analysis cache go
 * to $TMPDIR/confine-fn-hunt, shared with `make fn-hunt`.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureImage, FN_HUNT_DIR } from '../../tools/fn-hunt/image';
import { huntImage, HuntResult } from '../../tools/fn-hunt/hunt';

const WORK = path.join(os.tmpdir(), 'confine-fn-hunt');
const ONLY = readFileSync(path.join(FN_HUNT_DIR, 'ci-programs.txt'), 'utf8')
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .filter(Boolean);
const log = (m: string) => process.stderr.write(`[fn-hunt] ${m}\n`);

describe('fn-hunt on the CI subset', () => {
  let image: string;
  let result: HuntResult;

  beforeAll(async () => {
    image = ensureImage('ci', path.join(FN_HUNT_DIR, 'packages.ci.txt'), WORK);
    result = await huntImage({ image, workDir: WORK, only: ONLY, log });
  }, 900000);

  test('the subset is at least 60 programs, all present in the image', () => {
    expect(ONLY.length).toBeGreaterThanOrEqual(60);
    const found = new Set(result.programs.flatMap((p) => [p.path, ...p.names]));
    expect(ONLY.filter((p) => !found.has(p))).toEqual([]);
  });

  test('every program ran under strace and was analysed', () => {
    expect(result.programs.filter((p) => !p.runs.some((r) => r.started)).map((p) => p.path)).toEqual([]);
    expect(result.programs.filter((p) => p.analysisError).map((p) => `${p.path}: ${p.analysisError}`)).toEqual([]);
    expect(result.programsAnalysed).toBe(result.programsTried);
    // A run that saw nothing would make the check vacuous.
    expect(result.programs.filter((p) => p.seen.length === 0).map((p) => p.path)).toEqual([]);
  });

  test('no false negatives: every syscall a program made is in its analysed set', () => {
    const fns = result.falseNegatives.map((f) => `${f.exe} ${f.syscall} (--${f.mode}) at ${(f.stack ?? []).slice(0, 2).join(' ← ')}`);
    expect(fns).toEqual([]);
  });

  test('no process image went unchecked', () => {
    expect(result.unchecked).toEqual([]);
  });

  test('negative control: a set missing a syscall the program made is reported, with where it was made', async () => {
    const r = await huntImage({
      image,
      workDir: WORK,
      only: ['/usr/bin/ls'],
      log,
      tamper: (p, s) => (p === '/usr/bin/ls' ? new Set([...s].filter((n) => n !== 'write')) : s),
    });
    const fn = r.falseNegatives.find((f) => f.exe === '/usr/bin/ls' && f.syscall === 'write');
    expect(fn).toBeDefined();
    expect(r.programs[0].falseNegatives).toEqual(['write']);
    // The second pass (strace -k, only the missed syscalls) says which code made it.
    expect(fn!.stack?.[0]).toMatch(/libc\.so\.6\(.*write/);
  }, 300000);
});
