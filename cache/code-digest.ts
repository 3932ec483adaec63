import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from './digest';

const memo = new Map<string, string>();

/**
 * A digest of the source files under the given folders (tests excluded). Put in a
 * cache key, it makes an artifact computed by older analysis code stale by itself,
 * so a forgotten version bump can never serve results of code that no longer exists.
 */
export function sourceDigest(root: string, dirs: readonly string[]): string {
  root = sourceRootOf(root);
  const id = `${root}\u0000${dirs.join('\u0000')}`;
  const hit = memo.get(id);
  if (hit) return hit;
  const files: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(ts|json)$/.test(name) && !/\.test\.ts$/.test(name)) files.push(full);
    }
  };
  for (const d of dirs) {
    const full = path.join(root, d);
    if (statSync(full, { throwIfNoEntry: false })?.isDirectory()) walk(full);
    else if (statSync(full, { throwIfNoEntry: false })?.isFile()) files.push(full);
  }
  const digest = sha256Hex(files.map((f) => `${path.relative(root, f)}\u0000${sha256Hex(readFileSync(f))}`).join('\n'));
  memo.set(id, digest);
  return digest;
}

/**
 * Under the compiled build (dist/, scripts/build.sh) the digest is still taken over the
 * TypeScript sources it was built from, so tsx and node runs share cache keys.
 */
export function sourceRootOf(root: string): string {
  const resolved = path.resolve(root);
  return path.basename(resolved) === 'dist' && statSync(path.join(path.dirname(resolved), 'tsconfig.json'), { throwIfNoEntry: false })?.isFile()
    ? path.dirname(resolved)
    : resolved;
}
