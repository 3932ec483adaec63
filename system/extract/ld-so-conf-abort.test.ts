import { computeClosure } from './closure';
import type { DynamicInfo } from '../../analysis/elf/dynamic-info';
import { buildSearchConfig, findLibrary, MAX_INCLUDED_FILES, parseLdSoConf } from './library-search';
import { MemoryImage, elfHeader } from '../image/memory-image';

/**
 * An image can make its loader configuration as long to walk as it likes within the
 * bounds (256 included files, 4096 names a glob): a million directory lines. SIGTERM
 * must stop that walk as it stops the scans (issue 23 item 10: it took 31–35 s).
 */
const FILES = 256;
const LINES = 4096;

/** ld.so.conf includes FILES files of LINES directories each, each starting with an include that lists /etc/c and matches nothing. */
function crawlImage(): MemoryImage {
  const img = new MemoryImage();
  img.file('/etc/ld.so.conf', 'include /etc/c/*.conf\n', 0o644);
  for (let i = 0; i < FILES; i++) {
    let t = 'include /etc/c/*.none\n';
    for (let j = 0; j < LINES; j++) t += `/crawl${i}/dir${j}\n`;
    img.file(`/etc/c/f${String(i).padStart(3, '0')}.conf`, t, 0o644);
  }
  img.file('/bin/prog', elfHeader({ type: 2 }), 0o755);
  return img;
}

test('an abort during a crafted ld.so.conf crawl stops the walk within a few files', async () => {
  const img = crawlImage();
  // Each file's include line lists /etc/c: the count of files the walk has parsed.
  let parsed = 0;
  const ac = new AbortController();
  let abortedAt = 0;
  const resolve = img.resolve.bind(img);
  img.resolve = (p: string) => {
    if (p === '/etc/c' && ++parsed === 50) {
      abortedAt = performance.now();
      ac.abort();
    }
    return resolve(p);
  };
  await expect(computeClosure(img, { executed: ['/bin/prog'], mapped: [], all: false }, { signal: ac.signal })).rejects.toThrow(/interrupted/);
  const stoppedAfter = parsed - 50;
  process.stdout.write(`ld.so.conf crawl: stopped ${Math.round(performance.now() - abortedAt)} ms after the abort, ${stoppedAfter} file(s) of ${LINES} lines later\n`);
  // The whole walk parses every one of the FILES files (once more per pass); stopping
  // within the pass the abort came in, long before its end, is what "promptly" means here.
  expect(abortedAt).toBeGreaterThan(0);
  expect(parsed).toBeLessThan(FILES);
});

test('includes nested 256 deep give every directory once, in linear time and without overflowing the stack', () => {
  const LINES = 512; // enough to overflow a push(...) of what the includes return; 4096 takes ~10 s here
  const files = new Map<string, string>([['/etc/ld.so.conf', 'include /etc/c/*.conf\n']]);
  const names: string[] = [];
  for (let i = 0; i < FILES; i++) {
    names.push(`f${String(i).padStart(3, '0')}.conf`);
    // Each file includes them all again: f000 reads f001, which reads f002, ... a chain FILES deep.
    let t = 'include /etc/c/*.conf\n';
    for (let j = 0; j < LINES; j++) t += `/crawl${i}/dir${j}\n`;
    files.set(`/etc/c/${names[i]}`, t);
  }
  const dirs = parseLdSoConf((p) => files.get(p), (d) => (d === '/etc/c' ? names : []));
  // ld.so.conf itself is one of the MAX_INCLUDED_FILES files read.
  expect(dirs.length).toBe((MAX_INCLUDED_FILES - 1) * LINES);
  // Each include's lines stand where its line does: the deepest file read comes first.
  expect(dirs[0]).toBe(`/crawl${MAX_INCLUDED_FILES - 2}/dir0`);
  expect(dirs[dirs.length - 1]).toBe(`/crawl0/dir${LINES - 1}`);
});

test('configured directories that are not directories of the image are not searched for each library', () => {
  const img = new MemoryImage().file('/usr/lib/x86_64-linux-gnu/libz.so.1', elfHeader({ type: 3 })).file('/opt/real/libq.so', elfHeader({ type: 3 }));
  let conf = '/opt/real\n';
  for (let j = 0; j < 20_000; j++) conf += `/nowhere/dir${j}\n`;
  const texts = new Map([['/etc/ld.so.conf', conf]]);
  const cfg = buildSearchConfig(img, (p) => texts.get(p), {});
  expect(cfg.ldSoConfDirs).toEqual(['/opt/real']);
  let lookups = 0;
  const resolve = img.resolve.bind(img);
  img.resolve = (p: string) => (lookups++, resolve(p));
  const exe = { path: '/bin/x', resolvedPath: '/bin/x', info: { elfClass: 64, machine: 62, type: 'dyn', isPie: true, needed: [], runpath: [], rpath: [], isStatic: false } as DynamicInfo };
  expect(findLibrary(img, 'libz.so.1', [exe], cfg)?.resolvedPath).toBe('/usr/lib/x86_64-linux-gnu/libz.so.1');
  expect(findLibrary(img, 'libq.so', [exe], cfg)?.via).toBe('ld.so.cache');
  // Each lookup tries a handful of names per real directory, not 4 × 20,000.
  expect(lookups).toBeLessThan(100);
});

test('an abort while the included files are read stops the reads: one request for them all, not one each', async () => {
  const img = crawlImage();
  const ac = new AbortController();
  // Requests to the reader (an engine round trip each for an image in Docker), not the files a request holds.
  let requests = 0;
  let inRequest = false;
  const readFile = img.readFile.bind(img);
  const eachFile = img.eachFile.bind(img);
  const included = (p: string) => p.startsWith('/etc/c/');
  img.readFile = async (p, max) => {
    if (!inRequest) {
      requests++;
      if (included(p)) ac.abort();
    }
    return readFile(p, max);
  };
  img.eachFile = async (paths, max, fn) => {
    requests++;
    if (paths.some(included)) ac.abort();
    inRequest = true;
    try {
      return await eachFile(paths, max, fn);
    } finally {
      inRequest = false;
    }
  };
  await expect(computeClosure(img, { executed: ['/bin/prog'], mapped: [], all: false }, { signal: ac.signal })).rejects.toThrow(/interrupted/);
  expect(requests).toBeLessThan(5);
});
