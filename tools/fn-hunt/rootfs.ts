// An image's files on the host: exported once per image ID, and looked up the way
// the kernel would inside the image (absolute symlinks restart at the image root,
// never at the host's).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveInDir } from '../../system/image/root-path';

export function imageId(tag: string): string {
  return execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
}

/** Exports the image's filesystem to DIR/<image id> (once); returns that directory. */
export function exportRootfs(tag: string, dir: string): string {
  const id = imageId(tag).replace(/^sha256:/, '').slice(0, 16);
  const root = path.join(dir, id);
  if (existsSync(path.join(root, '.fnhunt-complete'))) return root;
  // Per process: a concurrent export of the same image (make fn-hunt beside the test) must not share it.
  const tmp = `${root}.partial.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const cid = execFileSync('docker', ['create', '--label', 'confine-fnhunt=1', tag, '/fnhunt-none'], { encoding: 'utf8' }).trim();
  try {
    // Device nodes are neither programs nor libraries; leave them out.
    const r = spawnSync('sh', ['-c', 'docker export "$1" | tar -x -C "$2" --exclude=dev --no-same-owner', 'sh', cid, tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`exporting ${tag} failed (exit ${r.status})`);
  } finally {
    spawnSync('docker', ['rm', '-f', cid], { stdio: 'ignore' });
  }
  writeFileSync(path.join(tmp, '.fnhunt-complete'), tag + '\n');
  if (existsSync(path.join(root, '.fnhunt-complete'))) {
    rmSync(tmp, { recursive: true, force: true }); // another process finished first
    return root;
  }
  rmSync(root, { recursive: true, force: true });
  renameSync(tmp, root);
  return root;
}

/**
 * Removes exports of images the engine no longer has (a rebuilt image has a new ID;
 * each export is ~0.3-1 GB). Partial exports are left to the process writing them.
 */
export function pruneRootfs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const ids = new Set(
    execFileSync('docker', ['images', '-q', '--no-trunc'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^sha256:/, '').slice(0, 16)),
  );
  const removed: string[] = [];
  for (const e of readdirSync(dir)) {
    if (!/^[0-9a-f]{16}$/.test(e) || ids.has(e)) continue;
    rmSync(path.join(dir, e), { recursive: true, force: true });
    removed.push(e);
  }
  return removed;
}

/**
 * The path P (absolute, as the image sees it) names inside ROOT, with every
 * symlink resolved inside ROOT; undefined when it does not exist or loops.
 * The one lookup inside a root (system/image/root-path.ts).
 */
export const resolveInRoot = resolveInDir;

function isElfExecutable(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(20);
    if (readSync(fd, b, 0, 20, 0) < 20) return false;
    if (b.readUInt32BE(0) !== 0x7f454c46) return false;
    if (b[4] !== 2 || b[5] !== 1) return false; // ELF64 little-endian only (x86-64)
    const type = b.readUInt16LE(16);
    return type === 2 || type === 3;
  } finally {
    closeSync(fd);
  }
}

export interface Program {
  /** Real path inside the image (symlinks resolved): what is run and analysed. */
  path: string;
  /** Every name under the program directories with this content. */
  names: string[];
  sha256: string;
}

export const PROGRAM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/** Executable ELF regular files in the program directories, one per content. */
export function listPrograms(root: string, extra: string[] = []): Program[] {
  const byHash = new Map<string, Program>();
  const seenReal = new Set<string>();
  const candidates: string[] = [];
  for (const d of PROGRAM_DIRS) {
    const real = resolveInRoot(root, d);
    if (!real) continue;
    let entries: string[];
    try {
      entries = readdirSync(path.join(root, real)).sort();
    } catch {
      continue;
    }
    for (const e of entries) candidates.push(`${d}/${e}`);
  }
  candidates.push(...extra);
  for (const name of candidates) {
    const real = resolveInRoot(root, name);
    if (!real) continue;
    const host = path.join(root, real);
    let st;
    try {
      st = statSync(host);
    } catch {
      continue;
    }
    if (!st.isFile() || (st.mode & 0o111) === 0) continue;
    if (seenReal.has(real)) {
      for (const p of byHash.values()) if (p.path === real && !p.names.includes(name)) p.names.push(name);
      continue;
    }
    seenReal.add(real);
    if (!isElfExecutable(host)) continue;
    const sha256 = createHash('sha256').update(readFileSync(host)).digest('hex');
    const prev = byHash.get(sha256);
    if (prev) {
      prev.names.push(name);
      continue;
    }
    byHash.set(sha256, { path: real, names: [name], sha256 });
  }
  return [...byHash.values()];
}
