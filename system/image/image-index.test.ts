import { ImageIndex, MAX_SYMLINK_HOPS, normalizeImagePath, elfHeadOf } from './image-index';

function image(): ImageIndex {
  const ix = new ImageIndex();
  const f = (p: string) => ix.add(p, { type: 'file', size: 1, mode: 0o755 });
  const l = (p: string, t: string) => ix.add(p, { type: 'symlink', size: 0, mode: 0o777, linkTarget: t });
  f('etc/passwd');
  f('etc/shadow');
  f('usr/lib/x86_64-linux-gnu/libc.so.6');
  l('lib', 'usr/lib'); // merged-/usr style, relative
  l('lib64', '/usr/lib64'); // absolute, dangling
  l('usr/lib/x86_64-linux-gnu/libc.so', 'libc.so.6');
  l('usr/lib/evil-rel', '../../../../../etc/passwd');
  l('usr/lib/evil-abs', '/../../../etc/shadow');
  l('usr/lib/loop-a', 'loop-b');
  l('usr/lib/loop-b', './loop-a');
  l('usr/lib/self', 'self');
  l('usr/lib/empty', '');
  l('usr/lib/to-dir-then-up', '../lib/x86_64-linux-gnu/../x86_64-linux-gnu/libc.so');
  ix.add('usr/lib/hard', { type: 'hardlink', size: 0, mode: 0o644, linkTarget: '/usr/lib/x86_64-linux-gnu/libc.so.6' });
  ix.add('usr/lib/hard-out', { type: 'hardlink', size: 0, mode: 0o644, linkTarget: normalizeImagePath('../../../host/secret') });
  ix.add('dev/null', { type: 'other', size: 0, mode: 0o666 });
  return ix;
}

describe('normalizeImagePath', () => {
  it.each([
    ['./usr/bin/x', '/usr/bin/x'],
    ['/a//b/./c/', '/a/b/c'],
    ['../../etc/passwd', '/etc/passwd'],
    ['/a/../../..', '/'],
    ['', '/'],
  ])('%s → %s', (i, o) => expect(normalizeImagePath(i)).toBe(o));
});

describe('ImageIndex.resolve', () => {
  const ix = image();
  it('follows relative and absolute links, through linked directories', () => {
    expect(ix.resolve('/lib/x86_64-linux-gnu/libc.so')).toBe('/usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(ix.resolve('/usr/lib/to-dir-then-up')).toBe('/usr/lib/x86_64-linux-gnu/libc.so.6');
  });
  it('keeps ../ escapes and absolute targets inside the image root', () => {
    expect(ix.resolve('/usr/lib/evil-rel')).toBe('/etc/passwd');
    expect(ix.resolve('/usr/lib/evil-abs')).toBe('/etc/shadow');
    expect(ix.resolve('/../../../usr/lib/evil-rel')).toBe('/etc/passwd');
  });
  it('detects loops and empty or dangling links', () => {
    expect(ix.resolve('/usr/lib/loop-a')).toBeUndefined();
    expect(ix.resolve('/usr/lib/self')).toBeUndefined();
    expect(ix.resolve('/usr/lib/empty')).toBeUndefined();
    expect(ix.resolve('/lib64/ld-linux-x86-64.so.2')).toBeUndefined();
  });
  it('lstat-style resolution leaves the last link alone', () => {
    expect(ix.resolve('/lib/evil-abs', false)).toBe('/usr/lib/evil-abs');
  });
  it('fails through a non-directory, and for absent paths', () => {
    expect(ix.resolve('/etc/passwd/x')).toBeUndefined();
    expect(ix.resolve('/nope')).toBeUndefined();
  });
  it('maps hard links to the entry with the content, and rejects ones pointing at nothing', () => {
    expect(ix.resolve('/usr/lib/hard')).toBe('/usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(ix.resolve('/usr/lib/hard-out')).toBeUndefined();
  });
  it(`follows ${MAX_SYMLINK_HOPS} links and no more`, () => {
    const chain = (n: number) => {
      const x = new ImageIndex();
      x.add('/t', { type: 'file', size: 0, mode: 0 });
      for (let i = 0; i < n; i++) x.add(`/l${i}`, { type: 'symlink', size: 0, mode: 0, linkTarget: i === n - 1 ? '/t' : `l${i + 1}` });
      return x.resolve('/l0');
    };
    expect(chain(MAX_SYMLINK_HOPS)).toBe('/t');
    expect(chain(MAX_SYMLINK_HOPS + 1)).toBeUndefined();
  });
  it('creates implied parent directories and keeps / a directory', () => {
    const x = new ImageIndex();
    x.add('a/b/c', { type: 'file', size: 0, mode: 0 });
    x.add('/', { type: 'file', size: 9, mode: 0 });
    expect(x.stat('/a/b')?.type).toBe('dir');
    expect(x.stat('/')?.type).toBe('dir');
  });
});

describe('elfHeadOf', () => {
  it('reads class and machine, rejects non-ELF', () => {
    const h = Buffer.alloc(20);
    h.write('\x7fELF', 0, 'latin1');
    h[4] = 2; h[5] = 1; h.writeUInt16LE(3, 16); h.writeUInt16LE(62, 18);
    expect(elfHeadOf(h)).toEqual({ elfClass: 64, littleEndian: true, etype: 3, machine: 62 });
    expect(elfHeadOf(Buffer.from('#!/bin/sh\n.........'))).toBeUndefined();
  });
});
