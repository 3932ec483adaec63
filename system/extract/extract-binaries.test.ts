import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extractBinaries, extractionEnv, type ExtractOptions } from './extract-binaries';
import { FakeEngine, type FakeFile } from './fake-engine';
import { IndexShare } from './index-share';
import { elfHeader } from '../image/memory-image';

const elf = (): Buffer => elfHeader();

const BASE = 'sha256:' + 'b'.repeat(64);
const TOP = 'sha256:' + 'c'.repeat(64);
const files: FakeFile[] = [
  { path: '/bin/sh', content: elf() },
  { path: '/opt/tool', content: elf() },
  { path: '/app/run.sh', content: '#!/bin/sh\nexec tool\n' },
  { path: '/app/run-env.sh', content: '#!/usr/bin/env tool\n' },
  { path: '/usr/bin/env', content: elf() },
  { path: '/etc/ld.so.conf', content: '/opt\n', mode: 0o644 },
];

let out: string;
beforeEach(() => {
  out = mkdtempSync(path.join(os.tmpdir(), 'confine-xb-'));
});
afterEach(() => rmSync(out, { recursive: true, force: true }));

function engine() {
  return new FakeEngine({
    'sha256:orig': { layers: [BASE, TOP], env: ['PATH=/opt:/bin'], files },
    'sha256:label-copy': { layers: [BASE, TOP], env: ['PATH=/opt:/bin'], files },
    'sha256:other': { layers: [BASE], env: ['PATH=/opt:/bin'], files },
  });
}

const req = (imageId: string, extra: Partial<ExtractOptions> = {}): ExtractOptions => ({
  imageId,
  executed: ['/app/run.sh', '/app/run-env.sh'],
  mapped: [],
  all: false,
  outDir: out,
  ...extra,
});

describe('extractBinaries across images with the same layers', () => {
  it('makes one index pass for two image IDs over the same layer chain, with equal results', async () => {
    const eng = engine();
    const indexes = new IndexShare();
    const [a, b] = await Promise.all([
      extractBinaries(eng.docker, req('sha256:orig', { indexes })),
      extractBinaries(eng.docker, req('sha256:label-copy', { indexes })),
    ]);
    expect(eng.calls.export).toBe(1);
    expect(indexes.passes).toBe(1);
    expect([a.timings.indexShared, b.timings.indexShared].sort()).toEqual([false, true]);
    const { timings: _ta, ...ra } = a;
    const { timings: _tb, ...rb } = b;
    expect(rb).toEqual(ra);
    expect(a.files.map((f) => f.resolvedPath).sort()).toEqual(['/app/run-env.sh', '/app/run.sh', '/bin/sh', '/opt/tool', '/usr/bin/env']);
    // Every helper made for reading or indexing is gone.
    expect(eng.live.size).toBe(0);
    expect(eng.calls.remove).toBe(eng.calls.create);
  });

  it('indexes a different layer chain on its own', async () => {
    const eng = engine();
    const indexes = new IndexShare();
    const a = await extractBinaries(eng.docker, req('sha256:orig', { indexes }));
    const c = await extractBinaries(eng.docker, req('sha256:other', { indexes }));
    expect(eng.calls.export).toBe(2);
    expect(c.layerChain).not.toBe(a.layerChain);
  });

  it('without a share each image indexes itself, as before', async () => {
    const eng = engine();
    await extractBinaries(eng.docker, req('sha256:orig'));
    await extractBinaries(eng.docker, req('sha256:label-copy'));
    expect(eng.calls.export).toBe(2);
  });

  it('a shared index with nothing to read creates no helper container', async () => {
    const eng = engine();
    const indexes = new IndexShare();
    await extractBinaries(eng.docker, req('sha256:orig', { indexes }));
    const created = eng.calls.create;
    const r = await extractBinaries(eng.docker, req('sha256:label-copy', { indexes, executed: ['/nowhere'] }));
    expect(r.files).toEqual([]);
    expect(eng.calls.create).toBe(created);
  });
});

describe('extractionEnv', () => {
  it('keeps what the closure reads, the last value winning, PATH defaulted as Docker does', () => {
    expect(extractionEnv({ env: [] }, undefined)).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(extractionEnv({ env: ['PATH=/a', 'HOME=/root', 'LD_LIBRARY_PATH=/l'] }, ['PATH=/b'])).toEqual(['PATH=/b', 'LD_LIBRARY_PATH=/l']);
    expect(extractionEnv({ env: ['PATH='] }, [])).toEqual(['PATH=']);
  });
});

describe('programs that cannot be taken out of the image', () => {
  it('an executed program over the size limit is named as unanalysable, not left out in silence', async () => {
    const big = Buffer.concat([elf(), Buffer.alloc(64 * 1024)]);
    const eng = new FakeEngine({ 'sha256:big': { layers: [BASE], env: [], files: [{ path: '/bin/big', content: big }, { path: '/bin/small', content: elf() }] } });
    const r = await extractBinaries(eng.docker, req('sha256:big', { executed: ['/bin/big', '/bin/small'], maxFileBytes: 32 * 1024 }));
    expect(r.unanalysable.map((u) => u.path)).toEqual(['/bin/big']);
    expect(r.unanalysable[0].reason).toMatch(/limit/);
    expect(r.files.map((f) => f.path)).toEqual(['/bin/small']);
  });

  it('a large data file mapped at run time is not a reason to fail', async () => {
    const eng = new FakeEngine({ 'sha256:data': { layers: [BASE], env: [], files: [{ path: '/bin/small', content: elf() }, { path: '/var/db.bin', content: Buffer.alloc(64 * 1024, 1) }] } });
    const r = await extractBinaries(eng.docker, req('sha256:data', { executed: ['/bin/small'], mapped: ['/var/db.bin'], maxFileBytes: 32 * 1024 }));
    expect(r.unanalysable).toEqual([]);
  });
});
