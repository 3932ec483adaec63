import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { confine, readSummary, REPO, tempWorkdir } from './cli-harness';
import { dirEntry, file, importImage, tempDir, type Built } from './hostile-images';

/**
 * The shape of an Alpine image: the sample web server compiled with `musl-gcc -O2`,
 * dynamically linked, next to musl's libc.so and the loader link only. musl makes its
 * cancellable syscalls (accept, read, write, …) through `__syscall_cp_asm`, code with no
 * symbol or FDE inside memset's extent: the profile must still allow them, and the server
 * must answer its probe under the profile with no syscall logged as denied.
 */
const MUSL_LIBC = '/usr/lib/x86_64-linux-musl/libc.so';
const PORT = 18187;
const NAME = 'musl-tinyhttpd';

let built: Built | undefined;
afterAll(() => built?.cleanup());

test('tinyhttpd on dynamic musl: the profile allows what the server does, its probe passes, nothing is logged as denied', async () => {
  const dir = tempDir();
  const src = path.join(REPO, 'images', 'programs', 'tinyhttpd.c');
  execFileSync('musl-gcc', ['-O2', '-o', path.join(dir, 'tinyhttpd'), src]);
  expect(execFileSync('readelf', ['-lW', path.join(dir, 'tinyhttpd')], { encoding: 'utf8' })).toContain('/lib/ld-musl-x86_64.so.1');
  const tag = `confine-musl-dynamic/tinyhttpd:${process.pid}`;
  built = importImage(tag, dir, [
    dirEntry('lib'), dirEntry('lib/x86_64-linux-musl'), dirEntry('usr'), dirEntry('usr/bin'),
    file('usr/bin/tinyhttpd', readFileSync(path.join(dir, 'tinyhttpd'))),
    file('lib/x86_64-linux-musl/libc.so', readFileSync(MUSL_LIBC)),
    { name: Buffer.from('lib/ld-musl-x86_64.so.1'), kind: 'symlink', linkname: 'x86_64-linux-musl/libc.so', mode: 0o777 },
  ], { cmd: ['/usr/bin/tinyhttpd', '8080'] });

  const work = tempWorkdir([`1;${NAME};${tag};['Web Servers'];0;Unofficial;-p 127.0.0.1:${PORT}:8080`]);
  const probes = path.join(work, 'probes.json');
  writeFileSync(probes, JSON.stringify({ [NAME]: { kind: 'http', port: PORT, path: '/', expectStatus: 200, expectBody: 'hello from tinyhttpd' } }));
  const r = await confine(['verify', '-i', 'images.list', '--probes', probes, '--duration', '6', '--verify-duration', '6'], work);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(readSummary(work).find((x) => x.image === NAME)).toMatchObject({ failed: 0, skipped: 0, interrupted: 0 });

  const profile = JSON.parse(readFileSync(path.join(work, 'results', `${NAME}.seccomp.json`), 'utf8')) as { syscalls: { names: string[]; action: string }[] };
  const allowed = new Set(profile.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names));
  console.log(`${NAME}: ${allowed.size} syscalls allowed`);
  for (const s of ['accept', 'read', 'write', 'close']) expect({ s, allowed: allowed.has(s) }).toEqual({ s, allowed: true });

  const ledger = readFileSync(path.join(work, '.confine-cache', 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const rec = ledger.find((x) => x.stage === 'verify' && x.image === NAME && x.key && (x.status === 'done' || x.status === 'reused'));
  expect(rec).toBeDefined();
  const v = JSON.parse(readFileSync(path.join(work, '.confine-cache', 'objects', rec.key.slice(0, 2), `${rec.key}.json`), 'utf8')).artifact;
  expect({ probeOk: v.probeOk, detail: v.probeDetail }).toMatchObject({ probeOk: true });
  expect(v.lostRecords).toBe(0);
  expect(v.falseNegatives).toEqual([]);
}, 300000);
