import { closeSync, lstatSync, openSync, readFileSync, readSync, readdirSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { elfHeadOf, type IndexEntry } from './image-index';
import { dirLstat, resolveInRoot } from './root-path';

/**
 * A root exported to a directory on this machine (`confine analyze --root`, or `/`),
 * giving the lookups an image's index gives (stat, resolve, a directory's names), so
 * the loader's search (system/extract/library-search.ts) runs on it unchanged. Paths
 * are paths inside the root; every lookup stays inside it (root-path.ts).
 */
export class DirRoot {
  private readonly lstatInRoot;

  constructor(readonly root: string) {
    this.lstatInRoot = dirLstat(root);
  }

  /** Where a path inside the root is on this machine. */
  hostPath(p: string): string {
    return path.join(this.root, p);
  }

  resolve(p: string): string | undefined {
    return resolveInRoot(p, this.lstatInRoot);
  }

  /** lstat, with the ELF header fields the loader checks for a regular file (as the index pass records them). */
  stat(p: string): IndexEntry | undefined {
    let st: Stats;
    try {
      st = lstatSync(this.hostPath(p));
    } catch {
      return undefined;
    }
    const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    const entry: IndexEntry = { type, size: st.size, mode: st.mode & 0o7777 };
    if (type === 'file') {
      const elf = elfHeadOf(this.head(p));
      if (elf) entry.elf = elf;
    }
    return entry;
  }

  /** The names in the directory `p` resolves to; none when it is not one. */
  listDir(p: string): string[] {
    const real = this.resolve(p);
    if (real === undefined) return [];
    try {
      return readdirSync(this.hostPath(real));
    } catch {
      return [];
    }
  }

  /** A small text file's content (the loader's configuration), or undefined when it is absent, not a file or over `maxBytes`. */
  readText(p: string, maxBytes: number): string | undefined {
    const real = this.resolve(p);
    const e = real !== undefined ? this.stat(real) : undefined;
    if (real === undefined || e?.type !== 'file' || e.size > maxBytes) return undefined;
    try {
      return readFileSync(this.hostPath(real), 'utf8');
    } catch {
      return undefined;
    }
  }

  private head(p: string): Uint8Array {
    const b = Buffer.alloc(20);
    let fd: number | undefined;
    try {
      fd = openSync(this.hostPath(p), 'r');
      return b.subarray(0, readSync(fd, b, 0, b.length, 0));
    } catch {
      return new Uint8Array(0);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}
