/**
 * fn-hunt on the Alpine-like samples (issue 22 point 3): every ELF program of the
 * musl-* images of images/images.list (busybox, lighttpd, redis, ... built with
 * musl-gcc, dynamically linked against musl's libc.so) runs with --version and
 * --help, and the commands of tools/fn-hunt/sample-runs.txt (busybox applets, redis-cli,
 * lighttpd's config check, ...) run in each image that has their program, under
 * strace — the fn-hunt CI image's strace, mounted in, since these images have
 * none — and every syscall strace saw must be in what `confine analyze --root`
 * reports for that program.
 *
 * Which images: the rule "name starts with musl-" over images.list, not a list of
 * results. Needs the Docker engine, the images (images/build.sh) and the fn-hunt CI
 * image (built on first use, shared with fn-hunt.test.ts). A missing image fails.
 */
import type { FalseNegative } from '../../tools/fn-hunt/compare';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureImage, FN_HUNT_DIR, imageExists } from '../../tools/fn-hunt/image';
import { readCommandRuns } from '../../tools/fn-hunt/command-runs';
import { huntImage, HuntResult } from '../../tools/fn-hunt/hunt';
import { exportRootfs } from '../../tools/fn-hunt/rootfs';
import { parseImageList } from '../../formats/image-list';
import { readDynamicInfo } from '../../analysis/elf';

const REPO = path.resolve(__dirname, '../..');
const WORK = path.join(os.tmpdir(), 'confine-fn-hunt');
const LIST = path.join(REPO, 'images', 'images.list');
const RUNS = readCommandRuns(path.join(FN_HUNT_DIR, 'sample-runs.txt'));
const MUSL_IMAGES = parseImageList(readFileSync(LIST, 'utf8'), LIST).images.filter((i) => i.name.startsWith('musl-'));
const log = (m: string) => process.stderr.write(`[fn-hunt-musl] ${m}\n`);

describe('fn-hunt on the musl sample images', () => {
  const results = new Map<string, HuntResult>();
  let toolsRoot: string;

  beforeAll(async () => {
    const missing = MUSL_IMAGES.filter((i) => !imageExists(i.ref)).map((i) => i.ref);
    if (missing.length) throw new Error(`sample images missing: ${missing.join(', ')}: run images/build.sh (make images)`);
    const tools = ensureImage('ci', path.join(FN_HUNT_DIR, 'packages.ci.txt'), WORK);
    toolsRoot = exportRootfs(tools, path.join(WORK, 'rootfs'));
    for (const img of MUSL_IMAGES) results.set(img.name, await huntImage({ image: img.ref, workDir: WORK, toolsRoot, runs: RUNS, log }));
  }, 900000);

  test('there are at least three musl images, each with at least one program', () => {
    expect(MUSL_IMAGES.length).toBeGreaterThanOrEqual(3);
    for (const img of MUSL_IMAGES) expect({ image: img.name, programs: results.get(img.name)!.programsTried > 0 }).toEqual({ image: img.name, programs: true });
  });

  test("every program hunted is dynamically linked against musl (PT_INTERP is musl's loader)", () => {
    const notMusl: string[] = [];
    for (const img of MUSL_IMAGES) {
      const root = exportRootfs(img.ref, path.join(WORK, 'rootfs'));
      for (const p of results.get(img.name)!.programs) {
        const name = readDynamicInfo(readFileSync(path.join(root, p.path)), p.path).interp ?? '(none)';
        if (name !== '/lib/ld-musl-x86_64.so.1') notMusl.push(`${img.name} ${p.path}: ${name}`);
      }
    }
    expect(notMusl).toEqual([]);
  });

  test('every command of sample-runs.txt ran in at least one musl image, and started', () => {
    const ran = new Set([...results.values()].flatMap((r) => r.programs.flatMap((p) => p.runs.filter((x) => x.command && x.started).map((x) => x.command!))));
    const command = (r: { path: string; args: string[] }) => [r.path, ...r.args].join(' ');
    expect(RUNS.map(command).filter((c) => !ran.has(c))).toEqual([]);
  });

  test('every program ran under strace and was analysed', () => {
    for (const [name, r] of results) {
      expect({ name, notStarted: r.programs.filter((p) => !p.runs.some((x) => x.started)).map((p) => p.path) }).toEqual({ name, notStarted: [] });
      expect({ name, errors: r.programs.filter((p) => p.analysisError).map((p) => `${p.path}: ${p.analysisError}`) }).toEqual({ name, errors: [] });
      expect({ name, seenNothing: r.programs.filter((p) => p.seen.length === 0).map((p) => p.path) }).toEqual({ name, seenNothing: [] });
    }
  });

  test('no process image went unchecked', () => {
    for (const [name, r] of results) expect({ name, unchecked: r.unchecked }).toEqual({ name, unchecked: [] });
  });

  test('negative control: a command run whose set misses a syscall it made reports it, with the command', async () => {
    const img = MUSL_IMAGES.find((i) => i.name === 'musl-busybox') ?? MUSL_IMAGES[0];
    const r = await huntImage({
      image: img.ref,
      workDir: WORK,
      toolsRoot,
      only: ['/bin/busybox'],
      runs: [{ path: '/bin/cat', args: ['/etc/passwd'] }],
      log,
      tamper: () => new Set(),
    });
    // busybox's analysis may report an unresolved site: its misses are then listed behind it.
    const fromRun = [...r.falseNegatives, ...r.behindUnresolved].filter((f) => f.mode === 'run');
    expect(fromRun.length).toBeGreaterThan(0);
    expect(fromRun.every((f) => f.command === '/bin/cat /etc/passwd' && f.exe === '/bin/busybox')).toBe(true);
    expect(r.programs[0].runs.map((x) => x.mode).sort()).toEqual(['help', 'run', 'version']);
  }, 300000);

  // Failed before the analysis resolved musl's cancellable syscalls (__syscall_cp_asm,
  // issue 22 point 1): read, write, connect, ... made through it were missed. A miss in a
  // program with an unresolved site (musl's do_setxid, called through __synccall) is no
  // outage under the default, which keeps such a program's base profile: listed, not counted.
  test('no false negatives: every syscall a musl program made is in its analysed set', () => {
    const fmt = (name: string, f: FalseNegative) => `${name} ${f.exe} ${f.syscall} (${f.command ?? '--' + f.mode}) at ${(f.stack ?? []).slice(0, 3).join(' ← ')}`;
    const behind = [...results].flatMap(([name, r]) => r.behindUnresolved.map((f) => fmt(name, f)));
    if (behind.length) process.stdout.write(`missed behind an unresolved site (the profile keeps the base by default):\n  ${behind.join('\n  ')}\n`);
    expect([...results].flatMap(([name, r]) => r.falseNegatives.map((f) => fmt(name, f)))).toEqual([]);
  });
});
