import * as fs from 'node:fs';
import * as path from 'node:path';
import { compile, tempDir } from '../../analysis/x86/test-fixtures';
import { SummarySource } from './summary-source';

let dir: string;
let dyn: string;
beforeAll(() => {
  dir = tempDir('confine-summary-source-');
  dyn = compile(dir, 'p.c', 'int main(void) { return 0; }', 'dyn', ['-O2']);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the --cache reader: planning without reading files seen before', () => {
  /** A clock some seconds ahead, so the file's last change is settled (FileDigestIndex's racy window). */
  const later = (s: number) => () => BigInt(Date.now() + s * 1000) * 1_000_000n;
  const { FileDigestIndex } = require('../../cache/file-digests') as typeof import('../../cache/file-digests');
  const { ObjectFactsStore } = require('./object-facts') as typeof import('./object-facts');

  /** A copy of the dynamic test program, indexed and its facts stored as a first run leaves them. */
  async function firstRun() {
    const d = fs.mkdtempSync(path.join(dir, 'reader-'));
    const file = path.join(d, 'p');
    fs.copyFileSync(dyn, file);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const index = FileDigestIndex.open(path.join(d, 'index.json'), later(10));
    const facts = ObjectFactsStore.open(path.join(d, 'facts.json'));
    const first = new SummarySource(undefined, index, undefined, facts).reader()!(file, '/p')!;
    const names = first.libraryNames();
    await index.save();
    await facts.save();
    const again = () => new SummarySource(undefined, FileDigestIndex.open(path.join(d, 'index.json'), later(20)), undefined, ObjectFactsStore.open(path.join(d, 'facts.json'))).reader()!;
    return { file, first, names, again };
  }

  it('a second run takes digest, dynamic info and library names from the stores, and reads the file only for its bytes', async () => {
    const t = await firstRun();
    // The module object itself: `import * as fs` is a copy (esModuleInterop), and a spy on it sees no read.
    // The bytes are read into shared memory (shared-read.ts): an open of the file is a read of it.
    const read = jest.spyOn(require('node:fs') as typeof fs, 'openSync');
    try {
      const o = t.again()(t.file, '/p')!;
      expect({ digest: o.digest, info: o.info, names: o.libraryNames() }).toEqual({ digest: t.first.digest, info: t.first.info, names: t.names });
      expect(read.mock.calls.filter((c) => c[0] === t.file)).toHaveLength(0);
      expect(Buffer.from(o.bytes).equals(fs.readFileSync(dyn))).toBe(true);
      expect(read.mock.calls.filter((c) => c[0] === t.file)).toHaveLength(1);
    } finally {
      read.mockRestore();
    }
  });

  it('bytes that no longer have the digest planning used are an error, never analysed under the old name', async () => {
    const t = await firstRun();
    const o = t.again()(t.file, '/p')!;
    // Changed after planning took the digest from the index, before a scan asked for the bytes.
    fs.writeFileSync(t.file, Buffer.concat([fs.readFileSync(t.file), Buffer.from('x')]));
    expect(() => o.bytes).toThrow(/changed while it was being analysed/);
  });

  it('a damaged facts file, or one written by other code, is an empty store', async () => {
    const f = path.join(fs.mkdtempSync(path.join(dir, 'facts-')), 'facts.json');
    const d = `sha256:${'a'.repeat(64)}`;
    const info: import('../../analysis/elf').DynamicInfo = { elfClass: 64, machine: 62, type: 'dyn', isPie: true, needed: [], runpath: [], rpath: [], isStatic: true };
    const kept = ObjectFactsStore.open(f, 'code-1');
    kept.set(d, { info, names: ['libx.so'] });
    await kept.save();
    expect(ObjectFactsStore.open(f, 'code-1').get(d)).toEqual({ info, names: ['libx.so'] });
    expect(ObjectFactsStore.open(f, 'code-2').get(d)).toBeUndefined();
    fs.writeFileSync(f, '{"code":"code-1","entries":{"sha256:00":{"info":7}');
    expect(ObjectFactsStore.open(f, 'code-1').get('sha256:00')).toBeUndefined();
    fs.writeFileSync(f, JSON.stringify({ code: 'code-1', entries: { [d]: { info: { elfClass: 64 } } } }));
    expect(ObjectFactsStore.open(f, 'code-1').get(d)).toBeUndefined();
  });
});
