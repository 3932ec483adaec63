import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageIndex } from './image-index';
import { MAX_SYMLINK_HOPS, resolveInDir, resolveInRoot } from './root-path';

/**
 * The lookup inside a root is a security boundary and used to exist three times (the
 * image index, `confine analyze --root`, fn-hunt). Every case runs against the two
 * backends it now serves — an image's index and a directory on disk — and both must
 * give the table's answer, so neither can drift from the other or from the kernel.
 */

type Tree = Record<string, { dir: true } | { file: string } | { link: string }>;

const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function onDisk(tree: Tree): (p: string) => string | undefined {
  const root = mkdtempSync(path.join(os.tmpdir(), 'confine-rootpath-'));
  made.push(root);
  for (const [p, n] of Object.entries(tree)) {
    const host = path.join(root, p);
    mkdirSync(path.dirname(host), { recursive: true });
    if ('dir' in n) mkdirSync(host, { recursive: true });
    else if ('file' in n) writeFileSync(host, n.file);
    else symlinkSync(n.link, host);
  }
  return (p) => resolveInDir(root, p);
}

function inIndex(tree: Tree): (p: string) => string | undefined {
  const idx = new ImageIndex();
  for (const [p, n] of Object.entries(tree)) {
    if ('dir' in n) idx.add(p, { type: 'dir', size: 0, mode: 0o755 });
    else if ('file' in n) idx.add(p, { type: 'file', size: n.file.length, mode: 0o644 });
    else idx.add(p, { type: 'symlink', size: 0, mode: 0o777, linkTarget: n.link });
  }
  return (p) => idx.resolve(p);
}

const BACKENDS = { 'image index': inIndex, 'directory on disk': onDisk };

const chain = (n: number): Tree => {
  const t: Tree = { '/t': { file: 'end' } };
  for (let i = 0; i < n; i++) t[`/l${i}`] = { link: i === n - 1 ? '/t' : `l${i + 1}` };
  return t;
};

const base: Tree = {
  '/etc/passwd': { file: 'root:x:0:0' },
  '/usr/lib/libc.so.6': { file: 'libc' },
  '/usr/bin/other': { file: 'nc' },
  '/lib': { link: 'usr/lib' },
  '/usr/bin/nc': { link: '/etc/alternatives/nc' },
  '/etc/alternatives/nc': { link: '/usr/bin/other' },
  '/usr/bin/escape': { link: '../../../../../../../../etc/passwd' },
  '/usr/bin/abs-escape': { link: '/../../etc/passwd' },
  '/usr/bin/dotdot-dir': { link: '../../..' },
  '/usr/bin/deep': { link: '/usr/lib/../../usr/lib/libc.so.6' },
  '/usr/bin/loop1': { link: 'loop2' },
  '/usr/bin/loop2': { link: 'loop1' },
  '/usr/bin/self': { link: 'self' },
  '/usr/bin/dangling': { link: '/nowhere' },
  '/usr/bin/libdir': { link: '/usr/lib' },
  '/usr/bin/rootlink': { link: '/' },
};

const CASES: [string, Tree, string, string | undefined][] = [
  ['a plain file', base, '/etc/passwd', '/etc/passwd'],
  ['a relative link to a directory', base, '/lib/libc.so.6', '/usr/lib/libc.so.6'],
  ['absolute links restart at the root, not the host', base, '/usr/bin/nc', '/usr/bin/other'],
  ['.. in the path stops at the root', base, '/../../../etc/passwd', '/etc/passwd'],
  ['.. in a relative link stops at the root', base, '/usr/bin/escape', '/etc/passwd'],
  ['.. after an absolute target stops at the root', base, '/usr/bin/abs-escape', '/etc/passwd'],
  ['a link to .. past the root is the root', base, '/usr/bin/dotdot-dir/etc/passwd', '/etc/passwd'],
  ['.. climbs the real path, not the link', base, '/usr/bin/libdir/../bin/other', '/usr/bin/other'],
  ['a link to / then ..', base, '/usr/bin/rootlink/../etc/passwd', '/etc/passwd'],
  ['.. inside a target', base, '/usr/bin/deep', '/usr/lib/libc.so.6'],
  ['a two-link loop', base, '/usr/bin/loop1', undefined],
  ['a link to itself', base, '/usr/bin/self', undefined],
  ['a dangling link', base, '/usr/bin/dangling', undefined],
  ['a missing file', base, '/usr/bin/nothing', undefined],
  ['a file in the middle of a path (ENOTDIR)', base, '/etc/passwd/x', undefined],
  ['.. after a file is ENOTDIR, not its directory', base, '/etc/passwd/../passwd', undefined],
  [`a chain of ${MAX_SYMLINK_HOPS} links`, chain(MAX_SYMLINK_HOPS), '/l0', '/t'],
  [`a chain of ${MAX_SYMLINK_HOPS + 1} links (ELOOP)`, chain(MAX_SYMLINK_HOPS + 1), '/l0', undefined],
  ['the root', base, '/', '/'],
  ['dots and slashes', base, '//usr/./bin//other/', '/usr/bin/other'],
];

describe.each(Object.entries(BACKENDS))('resolve inside a root: %s', (_, backend) => {
  test.each(CASES)('%s', (_name, tree, p, want) => {
    expect(backend(tree)(p)).toBe(want);
  });
});

test('the last link is left alone when asked (lstat of the final component)', () => {
  const nodes = new Map<string, { kind: 'dir' | 'symlink' | 'other'; linkTarget?: string }>([
    ['/usr', { kind: 'dir' }],
    ['/usr/bin', { kind: 'dir' }],
    ['/usr/bin/nc', { kind: 'symlink', linkTarget: '/etc/alternatives/nc' }],
  ]);
  expect(resolveInRoot('/usr/bin/nc', (p) => nodes.get(p), false)).toBe('/usr/bin/nc');
  expect(resolveInRoot('/usr/bin/nc', (p) => nodes.get(p))).toBeUndefined();
});

/**
 * Random trees of directories, files and links (relative, absolute, climbing far past
 * the root): both backends give the same answer for every path, and an answer is
 * always a normalised path of the tree that is not a link.
 */
test('random trees: both backends agree, and every answer is a real path inside the root', () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const names = ['a', 'b', 'c'];
  for (let round = 0; round < 25; round++) {
    const tree: Tree = {};
    const dirs = ['/a', '/a/b', '/c', '/c/a'];
    for (const d of dirs) tree[d] = { dir: true };
    const targets = () => {
      const parts = Array.from({ length: 1 + rnd(4) }, () => ['..', '.', ...names][rnd(5)]);
      const rel = parts.join('/');
      return rnd(3) === 0 ? `/${rel}` : rnd(4) === 0 ? `${'../'.repeat(1 + rnd(8))}${rel}` : rel;
    };
    for (const d of dirs) {
      for (const n of names) {
        const p = `${d}/${n}`;
        if (tree[p]) continue;
        tree[p] = rnd(2) ? { file: p } : { link: targets() };
      }
    }
    const index = inIndex(tree);
    const disk = onDisk(tree);
    for (let k = 0; k < 40; k++) {
      const p = '/' + Array.from({ length: 1 + rnd(4) }, () => ['..', ...names][rnd(4)]).join('/');
      const got = index(p);
      expect({ p, got: disk(p) }).toEqual({ p, got });
      if (got === undefined) continue;
      expect(got).toMatch(/^\/(?:[^/.][^/]*(?:\/[^/.][^/]*)*)?$/); // normalised: no '.', '..' or '//'
      if (got !== '/') expect(tree[got] && !('link' in tree[got])).toBe(true);
    }
  }
});
