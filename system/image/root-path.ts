import { lstatSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Path lookup as a process chrooted into a root would do it: the one implementation for
 * an image's index (image-index.ts), a root exported to a directory on disk (confine
 * analyze --root, fn-hunt) and the tests. It is a security boundary: whatever the links
 * say, the answer is a path inside the root — an absolute target restarts at the root,
 * '..' stops at the root — and at most MAX_SYMLINK_HOPS links are followed.
 */

/** Linux's limit on symlinks followed in one lookup (MAXSYMLINKS). */
export const MAX_SYMLINK_HOPS = 40;

/** What sits at a path inside the root, no link followed (lstat); `linkTarget` for a symlink. */
export interface RootNode {
  kind: 'dir' | 'symlink' | 'other';
  linkTarget?: string;
}

/** lstat inside a root: `path` is absolute and normalised; undefined when nothing is there. */
export type RootLstat = (path: string) => RootNode | undefined;

/**
 * The path `p` reaches inside the root, symlinks followed (the last one only when
 * `followLast`). Undefined when a component does not exist, a link is empty, dangles or
 * loops, or a non-directory has a component after it (ENOTDIR: `/etc/passwd/..` is not `/etc`).
 */
export function resolveInRoot(p: string, lstat: RootLstat, followLast = true): string | undefined {
  const todo = p.split('/').reverse(); // a stack: next component on top
  const cur: string[] = [];
  let hops = 0;
  const dropEmpty = () => {
    while (todo.length && (todo[todo.length - 1] === '' || todo[todo.length - 1] === '.')) todo.pop();
  };
  for (dropEmpty(); todo.length; dropEmpty()) {
    const c = todo.pop()!;
    if (c === '..') {
      cur.pop();
      continue;
    }
    dropEmpty();
    const isLast = todo.length === 0;
    const node = lstat('/' + [...cur, c].join('/'));
    if (!node) return undefined;
    if (node.kind === 'symlink' && (!isLast || followLast)) {
      if (++hops > MAX_SYMLINK_HOPS) return undefined; // ELOOP
      const target = node.linkTarget ?? '';
      if (target === '') return undefined; // Linux: ENOENT for an empty link
      if (target.startsWith('/')) cur.length = 0;
      todo.push(...target.split('/').reverse());
      continue;
    }
    if (!isLast && node.kind !== 'dir') return undefined; // ENOTDIR
    cur.push(c);
  }
  return '/' + cur.join('/');
}

/** lstat of a root exported to the directory `root` on this machine. */
export function dirLstat(root: string): RootLstat {
  return (p) => {
    const host = path.join(root, p);
    try {
      const st = lstatSync(host);
      if (st.isSymbolicLink()) return { kind: 'symlink', linkTarget: readlinkSync(host) };
      return { kind: st.isDirectory() ? 'dir' : 'other' };
    } catch {
      return undefined;
    }
  };
}

/** resolveInRoot for a root exported to the directory `root`: the answer is a path inside it. */
export function resolveInDir(root: string, p: string): string | undefined {
  return resolveInRoot(p, dirLstat(root));
}
