import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { ConfineError } from './errors';

/**
 * confine runs as root and writes where -o, -r, the cache and the state directory
 * say. A directory another user owns, or can write, lets that user put a symbolic
 * link (or a file of theirs) where confine is about to append or create a file, and
 * so have root write wherever the link leads (/etc, say), or feed it artifacts of
 * their making. One check, used for all of them: the path must be owned by the user
 * confine runs as, be writable by no one else, and not be a symbolic link.
 */

/** Why this process must not trust the entry that lstat described, or undefined when it may. */
export function distrustOf(st: Stats): string | undefined {
  const uid = process.geteuid?.();
  if (uid === undefined) return undefined; // no POSIX owners on this platform
  const mode = `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
  if (st.isSymbolicLink()) return 'is a symbolic link, which confine never follows there';
  if (st.uid !== uid) return `is owned by uid ${st.uid}, not by uid ${uid} that confine runs as`;
  if (st.mode & 0o002) return `is writable by every user (${mode})`;
  // A group of the user's own (the user-private groups of most distributions) is theirs.
  if (st.mode & 0o020 && st.gid !== process.getegid?.()) return `is writable by group ${st.gid} (${mode})`;
  return undefined;
}

function refuse(what: string, top: string, entry: string, reason: string, fix: string): ConfineError {
  return new ConfineError('bad-input', `${what} ${top}: ${entry === top ? 'the directory' : entry} ${reason}; refusing to write there. ${fix}`);
}

function fixFor(top: string, entry: string): string {
  if (entry === top) return 'Use a directory that you own and only you can write (chown it to yourself and chmod go-w, or choose another path).';
  return `Remove ${entry} (confine recreates what it needs), or use another directory that you own.`;
}

/**
 * The real path of a directory this process may write into: the path the user gave is
 * followed to its real path once (it is theirs to choose), and that directory must be
 * owned by us and writable by no one else. Missing is an error: create it first.
 */
export function trustedDir(dir: string, what: string): string {
  let real: string;
  let st: Stats;
  try {
    real = realpathSync(dir);
    st = lstatSync(real);
  } catch (e) {
    throw new ConfineError('missing-file', `${what} ${dir}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new ConfineError('bad-input', `${what} ${dir}: exists and is not a directory`);
  const why = distrustOf(st);
  if (why) throw refuse(what, dir, dir, why, fixFor(dir, dir));
  return real;
}

/**
 * trustedDir, and every entry below it (walked without following any link): each must
 * be owned by us and writable by no one else, and none may be a symbolic link. Once that
 * holds, no other user (root aside) can add or replace anything inside, so the check
 * at start stands for the whole run. Entries that vanish during the walk (another of our
 * runs removing a lock or a temp file) are skipped.
 */
export function trustedTree(dir: string, what: string): string {
  const real = trustedDir(dir, what);
  const pending = [real];
  while (pending.length) {
    const d = pending.pop()!;
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new ConfineError('bad-input', `${what} ${dir}: cannot list ${d}: ${(e as Error).message}`);
    }
    for (const name of names) {
      const p = path.join(d, name);
      let st: Stats;
      try {
        st = lstatSync(p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new ConfineError('bad-input', `${what} ${dir}: cannot inspect ${p}: ${(e as Error).message}`);
      }
      const why = distrustOf(st);
      if (why) throw refuse(what, dir, p, why, fixFor(real, p));
      if (st.isDirectory()) pending.push(p);
    }
  }
  return real;
}
