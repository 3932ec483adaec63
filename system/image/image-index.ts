import { ConfineError } from '../../pipeline/errors';
import { MAX_SYMLINK_HOPS, resolveInRoot } from './root-path';

/**
 * What an image's root holds, by path, without file contents. Built from a tar stream
 * (docker export) or by hand in tests. Paths are absolute, normalised, and never
 * climb above '/': a tar name is only ever a key here, never a place on the host.
 */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface ElfHead {
  elfClass: 32 | 64 | 0; // 0: an EI_CLASS the loader would reject
  littleEndian: boolean;
  machine: number;
  etype: number;
}

export interface IndexEntry {
  type: EntryType;
  size: number;
  mode: number;
  /** Symlink target as stored (may be relative or absolute); hard link target as a normalised image path. */
  linkTarget?: string;
  /** Set by the index pass for regular files that start with an ELF header. */
  elf?: ElfHead;
  /** Regular file that starts with '#!'. */
  script?: boolean;
  /** What follows '#!' up to the newline, within the kernel's 256-byte buffer. */
  shebang?: string;
}

/** Linux's limit on symlinks followed in one lookup (root-path.ts). */
export { MAX_SYMLINK_HOPS };
/** An export with more entries than this is refused rather than indexed without bound. */
export const MAX_INDEX_ENTRIES = 4_000_000;
/** PATH_MAX; a longer name in a tar is not a path any process in the image could open. */
export const MAX_PATH_LENGTH = 4096;

/**
 * '/a/./b/../c' → '/a/c'. '..' at the root stays at the root, as the kernel does in
 * a chroot, so '/../../etc/shadow' is the image's /etc/shadow and nothing else.
 */
export function normalizeImagePath(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return '/' + out.join('/');
}

export function dirnameImage(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** Reads the fields of an ELF identification + header that the loader checks before mapping. */
export function elfHeadOf(head: Uint8Array): ElfHead | undefined {
  if (head.length < 20 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined;
  const littleEndian = head[5] !== 2;
  const u16 = (o: number) => (littleEndian ? head[o] | (head[o + 1] << 8) : (head[o] << 8) | head[o + 1]);
  const cls = head[4] === 1 ? 32 : head[4] === 2 ? 64 : 0;
  return { elfClass: cls, littleEndian, etype: u16(16), machine: u16(18) };
}

export class ImageIndex {
  private readonly map = new Map<string, IndexEntry>();
  /** Normalised path → the name the tar gave it, for entries the tar listed (not parents made up here). */
  private readonly listed = new Map<string, string>();

  constructor() {
    this.map.set('/', { type: 'dir', size: 0, mode: 0o755 });
  }

  get size(): number {
    return this.map.size;
  }

  /**
   * Adds an entry under its normalised name; parents that the tar did not list become
   * directories (an export lists them, a hand-made tar may not). A later entry for the
   * same path replaces the earlier one, as extracting the tar would.
   */
  add(rawName: string, entry: IndexEntry): string {
    if (rawName.length > MAX_PATH_LENGTH) {
      throw new ConfineError('extract-failed', `tar entry name of ${rawName.length} characters exceeds PATH_MAX`);
    }
    const p = normalizeImagePath(rawName);
    if (p === '/') return p; // the root stays a directory whatever the tar says
    // Two different names for one path ('bin/x' and './bin//x'): which one a lookup
    // finds would decide which file is analysed. An export never writes that; refuse.
    const raw = rawName.replace(/\/+$/, '');
    const before = this.listed.get(p);
    if (before !== undefined && before !== raw) {
      throw new ConfineError('extract-failed', `the image's tar names one path twice (${JSON.stringify(before)} and ${JSON.stringify(raw)}); refusing an image whose names collide`);
    }
    this.listed.set(p, raw);
    if (this.map.size >= MAX_INDEX_ENTRIES && !this.map.has(p)) {
      throw new ConfineError('extract-failed', `image has more than ${MAX_INDEX_ENTRIES} filesystem entries; refusing to index it`);
    }
    for (let d = dirnameImage(p); d !== '/' && !this.map.has(d); d = dirnameImage(d)) {
      this.map.set(d, { type: 'dir', size: 0, mode: 0o755 });
    }
    this.map.set(p, entry);
    return p;
  }

  /** lstat: the entry itself, no link followed. */
  stat(path: string): IndexEntry | undefined {
    return this.map.get(normalizeImagePath(path));
  }

  entries(): IterableIterator<[string, IndexEntry]> {
    return this.map.entries();
  }

  /**
   * The path a process chrooted into the image would reach: symlinks followed inside
   * the image only (absolute targets restart at the image root, '..' stops at '/'),
   * at most 40 links, a non-directory in the middle is a failure. A hard link resolves
   * to the entry that holds its content. Undefined when the path does not exist, is a
   * dangling or looping link, or a hard link to nothing in the image.
   */
  resolve(path: string, followLast = true): string | undefined {
    const final = resolveInRoot(path, (p) => {
      const e = this.map.get(p);
      if (!e) return undefined;
      return e.type === 'symlink' ? { kind: 'symlink', linkTarget: e.linkTarget ?? '' } : { kind: e.type === 'dir' ? 'dir' : 'other' };
    }, followLast);
    if (final === undefined) return undefined;
    const e = this.map.get(final);
    if (e?.type === 'hardlink') {
      const t = e.linkTarget !== undefined ? this.map.get(e.linkTarget) : undefined;
      // A tar hard link names its target literally; a chain of them is a malformed tar.
      return t && t.type === 'file' ? e.linkTarget : undefined;
    }
    return final;
  }
}
