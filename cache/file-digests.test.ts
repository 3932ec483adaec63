import { mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileDigestIndex } from './file-digests';

function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'file-digests-'));
  const file = path.join(dir, 'lib.so');
  writeFileSync(file, 'one');
  // a file last written a minute ago: settled
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  return { dir, file, indexFile: path.join(dir, 'index.json') };
}

describe('FileDigestIndex', () => {
  it('hashes once, then trusts the entry across runs while the file is unchanged', async () => {
    const { file, indexFile } = setup();
    let hashed = 0;
    const hash = () => `sha256:${++hashed}`;
    const a = FileDigestIndex.open(indexFile);
    expect(a.digestOf(file, hash)).toBe('sha256:1');
    await a.save();
    // ctime was just set by utimes: the first recording is racy for ctime, so it is re-hashed once
    const b = FileDigestIndex.open(indexFile);
    const now = () => BigInt(Date.now() + 10_000) * 1_000_000n;
    b.digestOf(file, hash, now);
    await b.save();
    const before = hashed;
    const c = FileDigestIndex.open(indexFile);
    expect(c.digestOf(file, hash)).toBe(`sha256:${before}`);
    expect(hashed).toBe(before);
  });

  it('re-hashes after a write (even one that restores size and mtime)', async () => {
    const { file, indexFile } = setup();
    let hashed = 0;
    const hash = () => `sha256:${++hashed}`;
    const later = () => BigInt(Date.now() + 10_000) * 1_000_000n;
    const a = FileDigestIndex.open(indexFile);
    a.digestOf(file, hash, later);
    await a.save();
    writeFileSync(file, 'two'); // same size
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old); // mtime put back; ctime still moves
    const b = FileDigestIndex.open(indexFile);
    expect(b.digestOf(file, hash, later)).toBe('sha256:2');
  });

  it('never trusts a digest recorded within the racy window of the file’s last change', () => {
    const { file, indexFile } = setup();
    let hashed = 0;
    const hash = () => `sha256:${++hashed}`;
    const idx = FileDigestIndex.open(indexFile);
    idx.digestOf(file, hash); // recorded now, ctime ~now: racy
    expect(idx.digestOf(file, hash)).toBe('sha256:2');
  });

  it('a damaged index file is an empty index', () => {
    const { dir, file } = setup();
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"x": ');
    let hashed = 0;
    expect(FileDigestIndex.open(bad).digestOf(file, () => `h${++hashed}`)).toBe('h1');
  });
});
