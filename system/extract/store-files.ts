import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { ConfineError } from '../../pipeline/errors';
import type { ClosureFile } from './closure';
import { DEFAULT_MAX_FILE_BYTES, type ImageReader } from '../image/image-reader';

/**
 * Content-addressed store under -o: outDir/files/<hex[0:2]>/<hex>. One copy per
 * content, whatever image or path it came from, so symbol-scan analyses glibc once.
 * Image paths never become host paths: the only name written is the digest.
 */
export interface StoredFileRow extends ClosureFile {
  digest: string; // 'sha256:<64 hex>'
  size: number;
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;

export function storedFilePath(outDir: string, digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new ConfineError('internal', `not a sha256 digest: ${digest}`);
  return path.join(outDir, 'files', m[1].slice(0, 2), m[1]);
}

export interface StoreResult {
  rows: StoredFileRow[];
  /** Files that could not be taken out (over the size cap, vanished), with a message a user can act on. */
  failed: { path: string; reason: string }[];
}

export async function storeFiles(
  fs: ImageReader,
  files: ClosureFile[],
  outDir: string,
  opts: { maxBytes?: number; onProgress?: (m: string) => void } = {},
): Promise<StoreResult> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  await fsp.mkdir(outDir, { recursive: true });
  const root = await fsp.realpath(outDir);
  const filesDir = await ensurePlainDir(root, path.join(root, 'files'));

  const failed: StoreResult['failed'] = [];
  const toRead: string[] = [];
  for (const r of new Set(files.map((f) => f.resolvedPath))) {
    const e = fs.stat(r);
    if (!e || e.type !== 'file') failed.push({ path: r, reason: `not a regular file in the image` });
    else if (e.size > maxBytes) failed.push({ path: r, reason: `${r} is ${e.size} bytes, over the ${maxBytes}-byte limit for one file taken out of an image; its syscalls are not analysed` });
    else toRead.push(r);
  }

  const stored = new Map<string, { digest: string; size: number }>();
  let n = 0;
  await fs.eachFile(toRead, maxBytes, async (p, content) => {
    stored.set(p, await writeOne(root, filesDir, content, maxBytes, p));
    if (++n % 50 === 0) opts.onProgress?.(`stored ${n}/${toRead.length} files`);
  });

  const rows: StoredFileRow[] = [];
  for (const f of files) {
    const s = stored.get(f.resolvedPath);
    if (s) rows.push({ ...f, ...s });
  }
  for (const p of toRead) if (!stored.has(p)) failed.push({ path: p, reason: 'the engine did not return its content' });
  return { rows, failed };
}

/** mkdir that refuses to go through a symlink someone planted in the output tree. */
async function ensurePlainDir(root: string, dir: string): Promise<string> {
  assertInside(root, dir);
  try {
    await fsp.mkdir(dir, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await fsp.lstat(dir);
  if (!st.isDirectory()) throw new ConfineError('extract-failed', `${dir} exists and is not a plain directory (a symlink?); refusing to write through it`);
  return dir;
}

function assertInside(root: string, p: string): void {
  const rel = path.relative(root, path.resolve(p));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ConfineError('internal', `refusing to write ${p}: outside the output directory ${root}`);
  }
}

async function writeOne(root: string, filesDir: string, content: Readable, maxBytes: number, imagePath: string): Promise<{ digest: string; size: number }> {
  const tmp = path.join(filesDir, `.tmp-${process.pid}-${randomBytes(8).toString('hex')}`);
  assertInside(root, tmp);
  // O_EXCL + O_NOFOLLOW: never write into something that was already there.
  const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  const hash = createHash('sha256');
  let size = 0;
  let ok = false;
  try {
    for await (const chunk of content as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        throw new ConfineError('extract-failed', `${imagePath} grew past the ${maxBytes}-byte limit while being read`, { file: imagePath });
      }
      hash.update(chunk);
      await fh.write(chunk);
    }
    await fh.close();
    const hex = hash.digest('hex');
    const dir = await ensurePlainDir(root, path.join(filesDir, hex.slice(0, 2)));
    const final = path.join(dir, hex);
    assertInside(root, final);
    // rename(2) replaces a planted symlink itself, never what it points to.
    await fsp.rename(tmp, final);
    ok = true;
    return { digest: `sha256:${hex}`, size };
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
    }
  }
}
