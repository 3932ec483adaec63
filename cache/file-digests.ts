import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { writeFileAtomic } from './content-store';

interface Entry {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  /** When the index was opened, before the file was read and hashed. */
  recordedNs: string;
  digest: string;
}

/**
 * How long a file (or directory) must have been left alone before what was read of it is
 * trusted by its identity and change times: a change in the same timestamp tick as the
 * reading would not show (racy-git). Shared with system/host/library-trees.ts.
 */
export const RACY_WINDOW_NS = 2_000_000_000n;

/**
 * Content digests of host files by identity and change times (git's index idea), so a
 * warm `confine analyze` need not re-hash tens of megabytes. An entry is trusted only
 * when device, inode, size, mtime and ctime all match — ctime moves on any write and
 * cannot be set back by the writer — and the file was already older than
 * RACY_WINDOW_NS when the digest was taken: a write in the same timestamp tick as the
 * recording (racy-git) makes the entry re-hashed, never trusted.
 */
export class FileDigestIndex {
  private dirty = false;

  private constructor(
    private readonly file: string,
    private readonly entries: Map<string, Entry>,
    /** Opened before the caller reads any file: a file changed after this is never recorded. */
    private readonly openedNs: bigint,
  ) {}

  /**
   * Open before reading the files whose digests are asked for. A missing or unreadable
   * index is an empty one: it only ever saves work.
   */
  static open(file: string, now: () => bigint = wallClockNs): FileDigestIndex {
    const openedNs = now();
    const entries = new Map<string, Entry>();
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry>;
      for (const [p, e] of Object.entries(data)) if (isEntry(e)) entries.set(p, e);
    } catch {
      // absent or damaged: start empty
    }
    return new FileDigestIndex(file, entries, openedNs);
  }

  /**
   * The digest of the file at `absPath`, whose bytes the caller read after opening the
   * index: from the index when the file is unchanged since it was recorded, else
   * `hash()` of those bytes. It is recorded only when the file's last change is older
   * than the opening, so the bytes hashed are the bytes the stat describes.
   */
  digestOf(absPath: string, hash: () => string): string {
    let st: BigIntStats;
    try {
      st = statSync(absPath, { bigint: true });
    } catch {
      return hash();
    }
    const e = this.entries.get(absPath);
    const same = e && e.dev === String(st.dev) && e.ino === String(st.ino) && e.size === String(st.size) && e.mtimeNs === String(st.mtimeNs) && e.ctimeNs === String(st.ctimeNs);
    const settled = e && BigInt(e.recordedNs) - maxBig(st.mtimeNs, st.ctimeNs) > RACY_WINDOW_NS;
    if (same && settled) return e.digest;
    const digest = hash();
    if (maxBig(st.mtimeNs, st.ctimeNs) < this.openedNs) {
      this.entries.set(absPath, {
        dev: String(st.dev), ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs),
        recordedNs: String(this.openedNs), digest,
      });
      this.dirty = true;
    }
    return digest;
  }

  async save(): Promise<void> {
    if (!this.dirty) return;
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.entries)));
    this.dirty = false;
  }
}

/** File times are wall-clock nanoseconds since the epoch; so is this (to a microsecond or so). */
export const wallClockNs = () => BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000)) * 1000n;

export const maxBig = (a: bigint, b: bigint) => (a > b ? a : b);

function isEntry(e: unknown): e is Entry {
  if (!e || typeof e !== 'object') return false;
  const o = e as Record<string, unknown>;
  return ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs', 'recordedNs', 'digest'].every((k) => typeof o[k] === 'string') && /^\d+$/.test(o.recordedNs as string);
}
