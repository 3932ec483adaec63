import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import { CacheKey, sha256Hex } from './digest';
import { Fingerprint, fingerprintKey } from './fingerprint';
import { HeldLock, KeyLocks } from './key-lock';

/** What a stored entry holds besides the artifact: enough to re-check it on read. */
interface StoredEntry {
  fingerprint: Fingerprint;
  /** sha256 of the artifact's canonical JSON: a truncated or edited entry is caught even if it still parses. */
  artifactSha256: string;
  artifact: unknown;
  /** The stage's log lines, replayed on a cache hit. */
  log: string[];
}

export type ReadOutcome<T> =
  | { status: 'hit'; artifact: T; log: string[]; fingerprint: Fingerprint; /** sha256 of the artifact's canonical JSON */ digest: string }
  | { status: 'miss' }
  | { status: 'corrupt'; reason: string };

/** Checks an artifact against its schema; returns an error text or undefined. */
export type ArtifactValidator = (schemaId: string, artifact: unknown) => string | undefined;

/**
 * A content-addressed store of artifacts on disk, sharded by key prefix. Entries are
 * written to a temp file, fsynced and renamed, so a crash or a full disk never leaves
 * a half entry under a real key; anything that fails to parse, hash or validate on
 * read is reported corrupt, deleted, and recomputed by the caller — never trusted.
 */
export class ContentStore {
  /** Cross-process "computing this key" markers, so processes sharing the store compute an entry once. */
  readonly locks: KeyLocks;

  constructor(
    readonly root: string,
    private readonly validate: ArtifactValidator,
  ) {
    this.locks = new KeyLocks(path.join(root, 'locks'));
  }

  /** Waits while another process (here or on another machine) computes this key; see KeyLocks. */
  lock(key: CacheKey, signal?: AbortSignal): Promise<HeldLock> {
    return this.locks.acquire(key, signal);
  }

  entryPath(key: CacheKey): string {
    return path.join(this.root, 'objects', key.slice(0, 2), `${key}.json`);
  }

  async read<T>(key: CacheKey): Promise<ReadOutcome<T>> {
    const file = this.entryPath(key);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'miss' };
      return this.discard(file, `unreadable: ${(e as Error).message}`);
    }
    let entry: StoredEntry;
    try {
      entry = JSON.parse(text) as StoredEntry;
    } catch (e) {
      return this.discard(file, `not JSON (${(e as Error).message})`);
    }
    if (!entry || typeof entry !== 'object' || !entry.fingerprint || !('artifact' in entry)) {
      return this.discard(file, 'not a cache entry');
    }
    if (fingerprintKey(entry.fingerprint) !== key) return this.discard(file, 'fingerprint does not match its key');
    // Entries are written canonically, so the artifact's canonical text is a slice of
    // the file: hashing it saves re-serialising a large artifact. Anything else (an
    // entry reformatted by hand) is checked the slow way.
    const slice = artifactSlice(text);
    if ((slice === undefined || sha256Hex(slice) !== entry.artifactSha256) && sha256Hex(canonicalJson(entry.artifact)) !== entry.artifactSha256) {
      return this.discard(file, 'artifact hash mismatch');
    }
    const invalid = this.validate(entry.fingerprint.schema, entry.artifact);
    if (invalid) return this.discard(file, `fails schema ${entry.fingerprint.schema}: ${invalid}`);
    return { status: 'hit', artifact: entry.artifact as T, log: Array.isArray(entry.log) ? entry.log : [], fingerprint: entry.fingerprint, digest: entry.artifactSha256 };
  }

  /**
   * Validates, then writes atomically; returns the key and the artifact's digest.
   * Throws if the artifact is invalid or the write fails.
   */
  async write(fingerprint: Fingerprint, artifact: unknown, log: string[] = []): Promise<{ key: CacheKey; digest: string }> {
    const invalid = this.validate(fingerprint.schema, artifact);
    if (invalid) throw new Error(`stage ${fingerprint.stage} produced an artifact that fails ${fingerprint.schema}: ${invalid}`);
    const key = fingerprintKey(fingerprint);
    // The artifact is serialised once: its text is both what is hashed and what is stored.
    const artifactText = canonicalJson(artifact);
    const digest = sha256Hex(artifactText);
    await writeFileAtomic(this.entryPath(key), canonicalEntryText(artifactText, digest, fingerprint, log));
    return { key, digest };
  }

  async has(key: CacheKey): Promise<boolean> {
    return (await this.read(key)).status === 'hit';
  }

  async delete(key: CacheKey): Promise<void> {
    await fs.rm(this.entryPath(key), { force: true });
  }

  private async discard(file: string, reason: string): Promise<{ status: 'corrupt'; reason: string }> {
    await fs.rm(file, { force: true }).catch(() => undefined);
    return { status: 'corrupt', reason };
  }
}

const ENTRY_HEAD = '{"artifact":';
const DIGEST_FIELD = ',"artifactSha256":"';

/** canonicalJson of a StoredEntry (keys in sorted order) around an already serialised artifact. */
export function canonicalEntryText(artifactText: string, digest: string, fingerprint: Fingerprint, log: string[]): string {
  return `${ENTRY_HEAD}${artifactText}${DIGEST_FIELD}${digest}","fingerprint":${canonicalJson(fingerprint)},"log":${canonicalJson(log)}}`;
}

/**
 * The artifact's text in a canonically written entry. Inside JSON strings quotes are
 * escaped, so the last unescaped `,"artifactSha256":"` is the top-level field.
 */
function artifactSlice(text: string): string | undefined {
  if (!text.startsWith(ENTRY_HEAD)) return undefined;
  const end = text.lastIndexOf(DIGEST_FIELD);
  return end > ENTRY_HEAD.length ? text.slice(ENTRY_HEAD.length, end) : undefined;
}

/** temp file in the same directory + fsync + rename: readers see the old entry or the whole new one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  // 0755 whatever the umask: the cache's own directories must stay writable by us alone (pipeline/owned-paths.ts).
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = path.join(dir, `.tmp-${path.basename(file)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  // Make the rename itself durable, so a power cut cannot lose an entry the ledger calls done.
  const dirHandle = await fs.open(dir, 'r').catch(() => undefined);
  await dirHandle?.sync().catch(() => undefined);
  await dirHandle?.close();
}
