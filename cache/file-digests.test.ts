import { mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileDigestIndex } from './file-digests';

/** A clock some seconds ahead: the file's last change (its ctime, ~now) is then well in the past. */
const later = (s = 10) => () => BigInt(Date.now() + s * 1000) * 1_000_000n;

function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'file-digests-'));
  const file = path.join(dir, 'lib.so');
  writeFileSync(file, 'one');
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  let hashed = 0;
  return { dir, file, old, indexFile: path.join(dir, 'index.json'), hash: () => `sha256:${++hashed}`, hashes: () => hashed };
}

describe('FileDigestIndex', () => {
  it('hashes once, then trusts the entry in later runs while the file is unchanged', async () => {
    const t = setup();
    const a = FileDigestIndex.open(t.indexFile, later());
    expect(a.digestOf(t.file, t.hash)).toBe('sha256:1');
    await a.save();
    const b = FileDigestIndex.open(t.indexFile, later(20));
    expect(b.digestOf(t.file, t.hash)).toBe('sha256:1');
    expect(t.hashes()).toBe(1);
  });

  it('re-hashes after a write, even one that restores size and mtime exactly (ctime moves)', async () => {
    const t = setup();
    const a = FileDigestIndex.open(t.indexFile, later());
    a.digestOf(t.file, t.hash);
    await a.save();
    await new Promise((r) => setTimeout(r, 10)); // a ctime tick apart
    writeFileSync(t.file, 'two'); // same size
    utimesSync(t.file, t.old, t.old); // the very same mtime as before
    const b = FileDigestIndex.open(t.indexFile, later(20));
    expect(b.digestOf(t.file, t.hash)).toBe('sha256:2');
  });

  it('never trusts a digest recorded within the racy window of the file’s last change', async () => {
    const t = setup();
    const a = FileDigestIndex.open(t.indexFile); // now: the file changed (ctime) a moment ago
    a.digestOf(t.file, t.hash);
    await a.save();
    const b = FileDigestIndex.open(t.indexFile, later(20));
    expect(b.digestOf(t.file, t.hash)).toBe('sha256:2');
  });

  it('does not record a file changed after the index was opened (its bytes may predate the change)', async () => {
    const t = setup();
    const a = FileDigestIndex.open(t.indexFile, () => BigInt(Date.now() - 30_000) * 1_000_000n);
    expect(a.digestOf(t.file, t.hash)).toBe('sha256:1'); // still answered for this run
    await a.save();
    const b = FileDigestIndex.open(t.indexFile, later(20));
    expect(b.digestOf(t.file, t.hash)).toBe('sha256:2');
  });

  it('a damaged index file is an empty index', () => {
    const t = setup();
    const bad = path.join(t.dir, 'bad.json');
    writeFileSync(bad, '{"x": ');
    expect(FileDigestIndex.open(bad, later()).digestOf(t.file, t.hash)).toBe('sha256:1');
  });
});
