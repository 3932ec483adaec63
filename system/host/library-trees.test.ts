import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { libraryFilesByName } from './host-resolver';
import { LibraryTreeIndex } from './library-trees';

let dir: string;
let root: string;
let file: string;
// Opened "later": every directory made here is past the racy window.
const later = () => BigInt(Date.now() + 60_000) * 1_000_000n;
const put = (p: string) => {
  fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
  fs.writeFileSync(path.join(root, p), 'x');
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-trees-'));
  root = path.join(dir, 'root');
  file = path.join(dir, 'library-trees.json');
  put('usr/lib/x86_64-linux-gnu/libc.so.6');
  put('usr/lib/jvm/lib/server/libjvm.so');
  put('opt/app/plugins/libplug.so.1');
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The listing a fresh index gives, and whether it had to walk the trees for it. */
async function listed(now = later): Promise<{ m: Map<string, string[]>; reads: number }> {
  const idx = LibraryTreeIndex.open(file, now);
  const m = idx.listing(root);
  await idx.save();
  expect(idx.stats.walked + idx.stats.reused).toBe(1);
  return { m, reads: idx.stats.walked };
}

test('a recorded listing is the walk, and is reused without reading a directory', async () => {
  const first = await listed();
  expect(first.m).toEqual(libraryFilesByName(root));
  expect(first.m.get('libjvm.so')).toEqual(['/usr/lib/jvm/lib/server/libjvm.so']);
  expect(first.reads).toBe(1);
  const again = await listed();
  expect(again.reads).toBe(0);
  expect(again.m).toEqual(first.m);
});

test('a library added, removed or put in a new directory is seen: the tree is read again', async () => {
  await listed();
  put('usr/lib/x86_64-linux-gnu/libnew.so.2');
  let r = await listed();
  expect(r.reads).toBeGreaterThan(0);
  expect(r.m.get('libnew.so.2')).toEqual(['/usr/lib/x86_64-linux-gnu/libnew.so.2']);
  put('opt/app/plugins/deeper/still/libdeep.so');
  r = await listed();
  expect(r.m.get('libdeep.so')).toEqual(['/opt/app/plugins/deeper/still/libdeep.so']);
  fs.rmSync(path.join(root, 'opt/app/plugins/libplug.so.1'));
  r = await listed();
  expect(r.m.has('libplug.so.1')).toBe(false);
  expect(r.m).toEqual(libraryFilesByName(root));
});

test('a new library tree (/usr/local/lib appears) is walked', async () => {
  await listed();
  put('usr/local/lib/liblocal.so');
  const r = await listed();
  expect(r.m.get('liblocal.so')).toEqual(['/usr/local/lib/liblocal.so']);
});

test('directories changed within the racy window are not recorded: the next run reads them again', async () => {
  const now = () => BigInt(Date.now()) * 1_000_000n;
  await listed(now);
  expect((await listed(now)).reads).toBeGreaterThan(0);
});

test('without a file, one run lists each root once', async () => {
  const idx = LibraryTreeIndex.open(undefined, later);
  const a = idx.listing(root);
  expect(idx.listing(root)).toBe(a);
  expect(idx.stats).toEqual({ walked: 1, reused: 0 });
  await idx.save();
  expect(fs.existsSync(file)).toBe(false);
});
