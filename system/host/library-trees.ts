import { lstatSync, readFileSync } from 'node:fs';
import { libraryFilesByName, libraryTreeRoots } from './host-resolver';
import { writeFileAtomic } from '../../cache/content-store';
import { maxBig, RACY_WINDOW_NS, wallClockNs } from '../../cache/file-digests';

/** One root's recorded listing: the trees walked, every directory read (with its identity and change times), the result. */
interface Recorded {
  roots: string[];
  dirs: [string, string][];
  names: [string, string[]][];
}

/**
 * The shared objects under a root's library trees, by file name (host-resolver's
 * libraryFilesByName: reading every directory of /usr/lib and /opt, over 10,000 on a
 * developer machine, was a third of a warm `confine analyze`), remembered across runs.
 * A recorded listing is reused only while every directory it read has the same device,
 * inode, mtime and ctime (adding, removing or renaming an entry moves the directory's
 * mtime; chmod its ctime) and the same trees are walked; it is recorded only when every
 * directory was already older than RACY_WINDOW_NS when the walk began (a change in the
 * same timestamp tick as the reading would not show). Within one run each root is
 * listed once either way.
 */
export class LibraryTreeIndex {
  private readonly memo = new Map<string, Map<string, string[]>>();
  private recorded?: Record<string, Recorded>;
  private dirty = false;
  /** Roots walked, and roots whose recorded listing was reused, by this index. */
  readonly stats = { walked: 0, reused: 0 };

  private constructor(
    /** Where listings persist; undefined: this run only. */
    private readonly file: string | undefined,
    private readonly openedNs: bigint,
  ) {}

  static open(file?: string, now: () => bigint = wallClockNs): LibraryTreeIndex {
    return new LibraryTreeIndex(file, now());
  }

  /** The listing of `root`'s library trees (a LibraryListing for resolveLoadOrder). */
  readonly listing = (root: string): Map<string, string[]> => {
    const hit = this.memo.get(root);
    if (hit) return hit;
    const saved = this.load()[root];
    const roots = libraryTreeRoots(root);
    if (saved && sameList(saved.roots, roots) && saved.dirs.every(([p, id]) => stamp(p)?.id === id)) {
      const m = new Map(saved.names);
      this.stats.reused++;
      this.memo.set(root, m);
      return m;
    }
    this.stats.walked++;
    const dirs: [string, string][] = [];
    let settled = true;
    const m = libraryFilesByName(root, (p) => {
      const s = stamp(p);
      if (!s || this.openedNs - s.changedNs <= RACY_WINDOW_NS) settled = false;
      else dirs.push([p, s.id]);
    });
    if (this.file && settled) this.load()[root] = { roots, dirs, names: [...m] };
    else delete this.load()[root];
    this.dirty = this.file !== undefined;
    this.memo.set(root, m);
    return m;
  };

  async save(): Promise<void> {
    if (!this.dirty || !this.file || !this.recorded) return;
    await writeFileAtomic(this.file, JSON.stringify(this.recorded));
    this.dirty = false;
  }

  private load(): Record<string, Recorded> {
    if (this.recorded) return this.recorded;
    this.recorded = {};
    if (!this.file) return this.recorded;
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, unknown>;
      for (const [root, r] of Object.entries(data)) if (isRecorded(r)) this.recorded[root] = r;
    } catch {
      // absent or damaged: nothing recorded
    }
    return this.recorded;
  }
}

function stamp(p: string): { id: string; changedNs: bigint } | undefined {
  try {
    const st = lstatSync(p, { bigint: true });
    return { id: `${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`, changedNs: maxBig(st.mtimeNs, st.ctimeNs) };
  } catch {
    return undefined;
  }
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function isRecorded(r: unknown): r is Recorded {
  if (!r || typeof r !== 'object') return false;
  const o = r as Record<string, unknown>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  return strings(o.roots)
    && Array.isArray(o.dirs) && o.dirs.every((d) => Array.isArray(d) && d.length === 2 && strings(d))
    && Array.isArray(o.names) && o.names.every((n) => Array.isArray(n) && n.length === 2 && typeof n[0] === 'string' && strings(n[1]));
}
