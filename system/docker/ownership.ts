/**
 * Which containers this installation of confine created. Labels prove nothing on
 * their own: a container inherits its image's labels, so an image carrying
 * `confine=1` would have anyone's `docker run` of it counted as our leftover and
 * removed, volume and all. Each container confine creates gets a name of its own
 * and a label holding an HMAC of that name under a per-installation secret (random,
 * created once, mode 0600): an image author cannot compute it, and a copy of our
 * labels (an image committed from one of our containers) does not match the name
 * of a container made from that copy.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfineError } from '../../pipeline/errors';
import { distrustOf, trustedDir } from '../../pipeline/owned-paths';

export const TOKEN_LABEL = 'confine.token';
const SECRET_FILE = 'owner-secret';
const SECRET_BYTES = 32;

/** Where the secret lives: CONFINE_STATE_DIR, else /var/lib/confine for root, else ~/.cache/confine. */
export function stateDir(): string {
  if (process.env.CONFINE_STATE_DIR) return process.env.CONFINE_STATE_DIR;
  return process.getuid?.() === 0 ? '/var/lib/confine' : path.join(os.homedir(), '.cache', 'confine');
}

let cached: { dir: string; secret: Buffer } | undefined;

/** Reads the installation's secret, creating it (O_EXCL, 0600, never through a link) the first time. */
export function installationSecret(dir = stateDir()): Buffer {
  if (cached && cached.dir === dir) return cached.secret;
  const file = path.join(dir, SECRET_FILE);
  let secret: Buffer | undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Another user who owns or can write the directory could delete or replace the
    // secret: our leftovers would no longer be proven ours, theirs would be.
    trustedDir(dir, 'the state directory');
    try {
      const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      const fresh = randomBytes(SECRET_BYTES);
      try {
        writeSync(fd, fresh.toString('hex'));
      } finally {
        closeSync(fd);
      }
      secret = fresh;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const st = fstatSync(fd);
        if (!st.isFile() || (st.mode & 0o077) !== 0) throw new Error(`${file} must be a regular file readable by its owner only (mode 0600)`);
        const why = distrustOf(st);
        if (why) throw new Error(`${file} ${why}; remove it and confine makes a new one`);
        const buf = Buffer.alloc(SECRET_BYTES * 2);
        const n = readSync(fd, buf, 0, buf.length, 0);
        const text = buf.subarray(0, n).toString('latin1');
        if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} does not hold a secret confine wrote`);
        secret = Buffer.from(text, 'hex');
      } finally {
        closeSync(fd);
      }
    }
  } catch (e) {
    throw new ConfineError('bad-input', `cannot read or create confine's installation secret under ${dir} (set CONFINE_STATE_DIR to a directory of yours): ${(e as Error).message}`);
  }
  cached = { dir, secret };
  return secret;
}

function tokenFor(name: string, secret = installationSecret()): string {
  return createHmac('sha256', secret).update(`container-name:${name}`).digest('hex');
}

/** A fresh name for a container confine is about to create, and the label that proves it is ours. */
export function ownership(): { name: string; labels: Record<string, string> } {
  const name = `confine-${randomBytes(8).toString('hex')}`;
  return { name, labels: { [TOKEN_LABEL]: tokenFor(name) } };
}

/** Whether a listed container (its names as the engine lists them, '/name') carries our proof for its own name. */
export function isOurs(c: { Names?: string[]; Labels?: Record<string, string> }): boolean {
  const token = c.Labels?.[TOKEN_LABEL];
  if (!token || !/^[0-9a-f]{64}$/.test(token)) return false;
  for (const n of c.Names ?? []) {
    const name = n.replace(/^\//, '');
    if (name.includes('/')) continue; // a link alias, not the container's own name
    const want = Buffer.from(tokenFor(name), 'hex');
    if (timingSafeEqual(want, Buffer.from(token, 'hex'))) return true;
  }
  return false;
}
