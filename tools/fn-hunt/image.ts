// Builds the fn-hunt image: a Debian bookworm root (mmdebstrap --variant=apt) with a
// package set, plus two static programs compiled here (gcc -static, musl-gcc -static),
// imported with `docker import`. The tag carries a hash of everything that went into
// it, so an unchanged package list is never rebuilt.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';

export const FN_HUNT_DIR = __dirname;
const STATIC_SRC = path.join(FN_HUNT_DIR, 'programs', 'static-threads.c');
/** Paths of the two compiled programs inside the image. */
export const STATIC_PROGRAMS = ['/usr/bin/fnhunt-static-glibc', '/usr/bin/fnhunt-static-musl'];

export function readPackageList(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/** The tag an image of these packages has: same inputs, same tag. */
export function imageTag(set: string, packages: string[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([...packages].sort()));
  h.update(readFileSync(STATIC_SRC));
  h.update(readFileSync(__filename));
  return `confine-fnhunt/${set}:${h.digest('hex').slice(0, 12)}`;
}

export function imageExists(tag: string): boolean {
  return spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
}

function log(msg: string): void {
  process.stderr.write(`[fn-hunt] ${msg}\n`);
}

/** Builds the image unless present; returns its tag. */
export function ensureImage(set: string, packageFile: string, buildDir: string): string {
  const packages = readPackageList(packageFile);
  if (!packages.includes('strace')) throw new Error(`${packageFile}: strace must be in the image (it traces inside)`);
  const tag = imageTag(set, packages);
  if (imageExists(tag)) {
    log(`image ${tag} present`);
    return tag;
  }
  const t0 = Date.now();
  mkdirSync(buildDir, { recursive: true });
  const overlay = path.join(buildDir, `${set}.overlay`);
  rmSync(overlay, { recursive: true, force: true });
  mkdirSync(path.join(overlay, 'usr', 'bin'), { recursive: true });
  const [glibcOut, muslOut] = STATIC_PROGRAMS.map((p) => path.join(overlay, p));
  execFileSync('gcc', ['-static', '-O2', '-pthread', '-o', glibcOut, STATIC_SRC], { stdio: 'inherit' });
  execFileSync('musl-gcc', ['-static', '-O2', '-o', muslOut, STATIC_SRC], { stdio: 'inherit' });
  // .debs shared between builds, kept out of the image (the pattern from images/build.sh).
  const archives = path.join(buildDir, 'apt-archives');
  mkdirSync(archives, { recursive: true });
  for (const p of [overlay, archives]) {
    if (/\s/.test(p)) throw new Error(`build path must not contain whitespace (mmdebstrap hooks split on it): ${p}`);
  }
  const tar = path.join(buildDir, `${set}.tar`);
  rmSync(tar, { force: true });
  log(`building ${tag}: ${packages.length} packages`);
  execFileSync(
    'mmdebstrap',
    [
      '--quiet',
      '--variant=apt',
      `--include=${packages.join(',')}`,
      '--skip=essential/unlink',
      '--setup-hook=mkdir -p "$1/var/cache/apt/archives/"',
      `--setup-hook=sync-in ${archives} /var/cache/apt/archives/`,
      `--customize-hook=sync-out /var/cache/apt/archives ${archives}`,
      // Documentation is never executed; dropping it keeps the export small.
      '--customize-hook=rm -rf "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/* "$1"/usr/share/doc/*',
      `--customize-hook=sync-in ${overlay} /`,
      'bookworm',
      tar,
    ],
    { stdio: 'inherit' },
  );
  execFileSync('docker', ['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--message', `confine fn-hunt image (${set})`, tar, tag], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(tar, { force: true });
  rmSync(overlay, { recursive: true, force: true });
  log(`built ${tag} in ${Math.round((Date.now() - t0) / 1000)} s`);
  return tag;
}
