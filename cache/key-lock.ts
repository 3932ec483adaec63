import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface KeyLockOptions {
  /** A lock whose heartbeat is older than this is taken over (its holder is presumed lost). */
  staleMs: number;
  heartbeatMs: number;
  pollMs: number;
}

export const DEFAULT_LOCK_OPTIONS: KeyLockOptions = { staleMs: 120_000, heartbeatMs: 15_000, pollMs: 400 };

export interface HeldLock {
  /** True when another holder had the key first: the caller should look in the store again before computing. */
  waited: boolean;
  release(): Promise<void>;
}

interface Owner {
  host: string;
  pid: number;
}

/**
 * "Someone is computing this key", across processes and machines sharing one store
 * directory: a lock file made with O_CREAT|O_EXCL (atomic on local file systems and
 * NFSv3+), its mtime refreshed as a heartbeat. A holder that died is detected by pid
 * on the same host at once, and by a heartbeat older than staleMs from anywhere; its
 * lock is moved aside with rename (only one taker wins) and removed. Locks only save
 * work: the store's write-temp-then-rename keeps entries whole whatever they decide.
 */
export class KeyLocks {
  private readonly host = os.hostname();

  constructor(
    readonly dir: string,
    private readonly opts: KeyLockOptions = DEFAULT_LOCK_OPTIONS,
  ) {}

  lockPath(key: string): string {
    return path.join(this.dir, `${key}.lock`);
  }

  async acquire(key: string, signal?: AbortSignal): Promise<HeldLock> {
    const file = this.lockPath(key);
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    let waited = false;
    for (;;) {
      if (signal?.aborted) throw new Error('interrupted while waiting for another process computing the same artifact');
      try {
        const h = await fs.open(file, 'wx', 0o644);
        await h.writeFile(JSON.stringify({ host: this.host, pid: process.pid, t: new Date().toISOString() }));
        await h.close();
        return this.held(file, waited);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      waited = true;
      if (await this.isStale(file)) {
        // rename is atomic: of several processes seeing the same stale lock, one moves it.
        const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
        if (await fs.rename(file, aside).then(() => true, () => false)) await fs.rm(aside, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, this.opts.pollMs));
    }
  }

  private async isStale(file: string): Promise<boolean> {
    let st;
    let text;
    try {
      st = await fs.stat(file);
      text = await fs.readFile(file, 'utf8');
    } catch {
      return false; // gone already: the next O_EXCL try decides
    }
    let owner: Owner | undefined;
    try {
      owner = JSON.parse(text) as Owner;
    } catch {
      // Being written right now, or cut by a crash: only age can tell.
    }
    if (owner && owner.host === this.host && typeof owner.pid === 'number' && owner.pid !== process.pid && !isAlive(owner.pid)) return true;
    return Date.now() - st.mtimeMs > this.opts.staleMs;
  }

  private held(file: string, waited: boolean): HeldLock {
    const beat = setInterval(() => {
      const now = new Date();
      fs.utimes(file, now, now).catch(() => undefined);
    }, this.opts.heartbeatMs);
    beat.unref();
    let released = false;
    return {
      waited,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(beat);
        // Only our own lock: had we stalled past staleMs, the file may be a taker's now.
        const owner = await fs.readFile(file, 'utf8').then((t) => JSON.parse(t) as Owner, () => undefined);
        if (owner?.host === this.host && owner.pid === process.pid) await fs.rm(file, { force: true });
      },
    };
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
