import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import * as fc from 'fast-check';
import type Dockerode from 'dockerode';
import { imageFsOver, indexTarStream } from './image-fs';

type H = Partial<tar.Header> & { name: string };

async function tarOf(entries: { h: H; body?: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) parts.push(c as Buffer);
  })();
  for (const { h, body } of entries) {
    await new Promise<void>((res, rej) => pack.entry(h as tar.Header, body ?? Buffer.alloc(0), (e) => (e ? rej(e) : res())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}

function elfBytes(): Buffer {
  const b = Buffer.alloc(4096);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; b[5] = 1; b.writeUInt16LE(3, 16); b.writeUInt16LE(62, 18);
  return b;
}

describe('indexTarStream', () => {
  it('indexes types, link targets, ELF heads and #! lines, keeping hostile names inside the image root', async () => {
    const seenElf: string[] = [];
    const kept = new Map<string, Buffer>();
    const buf = await tarOf([
      { h: { name: './', type: 'directory' } },
      { h: { name: './usr/bin/prog', type: 'file', mode: 0o755 }, body: elfBytes() },
      { h: { name: '../../../etc/passwd', type: 'file' }, body: Buffer.from('hostile') },
      { h: { name: '/abs/name', type: 'file' }, body: Buffer.from('#!/usr/bin/env -S python3 -u\nprint(1)\n') },
      { h: { name: 'lib/hard', type: 'link', linkname: '../../../../etc/shadow' } },
      { h: { name: 'lib/sym', type: 'symlink', linkname: '/../../../etc/shadow' } },
      { h: { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 } },
      { h: { name: 'etc/ld.so.conf', type: 'file' }, body: Buffer.from('/opt/lib\n') },
    ]);
    const ix = await indexTarStream(Readable.from([buf]), { onElfFile: (p, c) => seenElf.push(`${p}:${c.length}`), keepSmallFile: (p) => p === '/etc/ld.so.conf' }, kept);
    expect(ix.stat('/usr/bin/prog')).toMatchObject({ type: 'file', size: 4096, elf: { elfClass: 64, machine: 62 } });
    expect(seenElf).toEqual(['/usr/bin/prog:4096']);
    expect(ix.stat('/etc/passwd')?.size).toBe(7);
    expect(ix.stat('/abs/name')).toMatchObject({ script: true, shebang: '/usr/bin/env -S python3 -u' });
    expect(ix.stat('/lib/hard')).toMatchObject({ type: 'hardlink', linkTarget: '/etc/shadow' });
    expect(ix.resolve('/lib/hard')).toBeUndefined(); // no /etc/shadow in this image
    expect(ix.stat('/lib/sym')).toMatchObject({ type: 'symlink', linkTarget: '/../../../etc/shadow' });
    expect(ix.stat('/dev/sda')).toMatchObject({ type: 'other', size: 0 });
    expect(kept.get('/etc/ld.so.conf')?.toString()).toBe('/opt/lib\n');
    expect([...ix.entries()].every(([p]) => p.startsWith('/') && !p.split('/').includes('..'))).toBe(true);
  });

  it('fails (without buffering) on a header that claims more bytes than the stream has', async () => {
    const buf = await tarOf([{ h: { name: 'big', type: 'file' }, body: Buffer.alloc(1024, 1) }]);
    // Claim 8 GiB in the size field (octal, 11 digits + NUL) and fix the checksum.
    const hdr = Buffer.from(buf.subarray(0, 512));
    hdr.write('77777777777\0', 124, 'latin1');
    hdr.fill(' ', 148, 156);
    let sum = 0;
    for (const b of hdr) sum += b;
    hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const hostile = Buffer.concat([hdr, buf.subarray(512, 512 + 1024)]);
    const before = process.memoryUsage().rss;
    await expect(indexTarStream(Readable.from([hostile]))).rejects.toThrow();
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('rejects a name longer than PATH_MAX', async () => {
    const buf = await tarOf([{ h: { name: 'a/'.repeat(2100) + 'x', type: 'file' }, body: Buffer.from('x') }]);
    await expect(indexTarStream(Readable.from([buf]))).rejects.toThrow(/PATH_MAX/);
  });
});

describe('indexTarStream: names as bytes', () => {
  /** A PAX tar as Docker's export writes one (raw bytes in `path` records), by Python's tarfile. */
  function paxTar(names: Buffer[]): Buffer {
    const script = String.raw`
import io, os, sys, tarfile
out = io.BytesIO()
t = tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT, encoding='utf-8', errors='surrogateescape')
for h in sys.argv[1:]:
    ti = tarfile.TarInfo(os.fsdecode(bytes.fromhex(h))); data = bytes.fromhex(h); ti.size = len(data); ti.mode = 0o755
    t.addfile(ti, io.BytesIO(data))
t.close()
sys.stdout.buffer.write(out.getvalue())`;
    return require('node:child_process').execFileSync('python3', ['-c', script, ...names.map((n) => n.toString('hex'))]);
  }

  it('keeps a name that is not UTF-8 apart from the one its replacement character spells', async () => {
    const run = Buffer.from('bin/prog\xff', 'latin1');
    const decoy = Buffer.from('bin/prog\xef\xbf\xbd', 'latin1');
    const ix = await indexTarStream(Readable.from([paxTar([run, decoy, Buffer.from('bin/caf\xc3\xa9', 'latin1'), Buffer.from('bin/hid\nden')])]));
    const { decodePathBytes } = await import('../image/path-bytes');
    const runPath = '/' + decodePathBytes(run);
    expect(ix.stat(runPath)?.size).toBe(run.length);
    expect(ix.stat('/bin/prog\ufffd')?.size).toBe(decoy.length);
    expect(ix.stat('/bin/café')?.type).toBe('file');
    expect(ix.stat('/bin/hid\nden')?.type).toBe('file');
  });

  it('refuses a tar that names one path twice under different spellings', async () => {
    const buf = await tarOf([
      { h: { name: 'bin/x', type: 'file' }, body: Buffer.from('a') },
      { h: { name: './bin//x', type: 'file' }, body: Buffer.from('b') },
    ]);
    await expect(indexTarStream(Readable.from([buf]))).rejects.toThrow(/collide/);
  });
});

describe('indexTarStream: however the stream is chunked', () => {
  /** An ELF head followed by bytes that differ at every offset, so a lost or repeated chunk shows. */
  function elfOf(size: number, seed: number): Buffer {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
    elfBytes().copy(b, 0, 0, Math.min(20, size));
    return b;
  }

  const files = [
    { name: 'bin/tiny', body: elfOf(20, 1) },
    { name: 'bin/small', body: elfOf(100, 2) },
    { name: 'bin/prog', body: elfOf(5000, 3) },
    { name: 'bin/script', body: Buffer.from('#!/bin/sh -e\necho hi\n') },
    { name: 'etc/ld.so.conf', body: Buffer.from('/opt/lib\ninclude /etc/ld.so.conf.d/*.conf\n') },
    { name: 'etc/data', body: Buffer.alloc(3000, 7) },
  ];

  /** Splits buf at the given offsets (sorted, deduplicated, inside the buffer). */
  function split(buf: Buffer, cuts: number[]): Buffer[] {
    const at = [...new Set(cuts.filter((c) => c > 0 && c < buf.length))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let from = 0;
    for (const c of at) {
      out.push(buf.subarray(from, c));
      from = c;
    }
    out.push(buf.subarray(from));
    return out;
  }

  async function indexChunks(chunks: Buffer[]) {
    const elves = new Map<string, Buffer>();
    const kept = new Map<string, Buffer>();
    const ix = await indexTarStream(Readable.from(chunks), { onElfFile: (p, c) => elves.set(p, Buffer.from(c)), keepSmallFile: () => true }, kept);
    return { ix, elves, kept };
  }

  function expectEveryByte({ ix, elves, kept }: Awaited<ReturnType<typeof indexChunks>>) {
    for (const f of files) {
      const p = '/' + f.name;
      expect(kept.get(p)?.equals(f.body)).toBe(true);
      if (f.body[0] === 0x7f) {
        expect(ix.stat(p)?.elf).toMatchObject({ elfClass: 64, machine: 62 });
        expect(elves.get(p)?.equals(f.body)).toBe(true);
      }
    }
    expect([...elves.keys()].sort()).toEqual(['/bin/prog', '/bin/small', '/bin/tiny']);
    expect(ix.stat('/bin/script')).toMatchObject({ script: true, shebang: '/bin/sh -e' });
  }

  it('gives every byte of an ELF file whose first chunk is 16 bytes', async () => {
    const buf = await tarOf(files.map((f) => ({ h: { name: f.name, type: 'file' as const, mode: 0o755 }, body: f.body })));
    // Each file's data starts one 512-byte header after the previous entry; cut 16 bytes into every body.
    const cuts: number[] = [];
    let off = 0;
    for (const f of files) {
      const data = off + 512;
      cuts.push(data, data + 16, data + 17);
      off = data + Math.ceil(f.body.length / 512) * 512;
    }
    expectEveryByte(await indexChunks(split(buf, cuts)));
  });

  it('gives every byte whatever the chunk boundaries (property)', async () => {
    const buf = await tarOf(files.map((f) => ({ h: { name: f.name, type: 'file' as const, mode: 0o755 }, body: f.body })));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: buf.length - 1 }), { maxLength: 60 }), async (cuts) => {
        expectEveryByte(await indexChunks(split(buf, cuts)));
      }),
      { numRuns: 150 },
    );
  });

  it('gives every byte when the stream comes a byte at a time', async () => {
    const buf = await tarOf(files.map((f) => ({ h: { name: f.name, type: 'file' as const, mode: 0o755 }, body: f.body })));
    expectEveryByte(await indexChunks(split(buf, Array.from({ length: buf.length }, (_, i) => i))));
  });
});

describe('imageFsOver', () => {
  it('gives files the index pass kept without asking the engine', async () => {
    const buf = await tarOf([
      { h: { name: 'etc/ld.so.conf', type: 'file' }, body: Buffer.from('include /etc/ld.so.conf.d/*.conf\n') },
      { h: { name: 'etc/ld.so.conf.d/a.conf', type: 'file' }, body: Buffer.from('/opt/a\n') },
    ]);
    const kept = new Map<string, Buffer>();
    const index = await indexTarStream(Readable.from([buf]), { keepSmallFile: () => true }, kept);
    const engine = new Proxy({}, { get: (_t, name) => () => Promise.reject(new Error(`the engine was asked (${String(name)})`)) }) as unknown as Dockerode;
    const fs = imageFsOver(engine, 'sha256:img', { index, kept }, { exportPassThreshold: 0 });
    const got = new Map<string, string>();
    await fs.eachFile(['/etc/ld.so.conf', '/etc/ld.so.conf.d/a.conf'], 1024, async (p, s) => {
      const parts: Buffer[] = [];
      for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
      got.set(p, Buffer.concat(parts).toString());
    });
    expect(Object.fromEntries(got)).toEqual({ '/etc/ld.so.conf': 'include /etc/ld.so.conf.d/*.conf\n', '/etc/ld.so.conf.d/a.conf': '/opt/a\n' });
  });
});
