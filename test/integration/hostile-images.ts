/**
 * Builds the images of the hostile-images suite with `docker import` from tars written
 * here: names given as bytes (Python's surrogateescape), so a tar can hold a newline
 * or an invalid UTF-8 byte in a file name, and small programs compiled with gcc or
 * musl-gcc in test set-up.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TarEntry {
  /** Path in the image, as bytes (no leading '/'). */
  name: Buffer;
  kind?: 'file' | 'dir' | 'symlink';
  data?: Buffer;
  mode?: number;
  linkname?: string;
}

export interface Built {
  tag: string;
  /** The image ID: containers of this image are told apart from other sessions' by it. */
  id: string;
  dir: string;
  cleanup(): void;
}

/** Compiles C source into dir/name with the given compiler; returns the binary's bytes' path. */
export function compile(dir: string, name: string, src: string, cc: 'musl-gcc' | 'gcc' = 'musl-gcc', extra: string[] = ['-static']): string {
  const c = join(dir, `${name}.c`);
  writeFileSync(c, src + '\n');
  execFileSync(cc, ['-O1', ...extra, '-o', join(dir, name), c]);
  return join(dir, name);
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'confine-hostile-'));
}

/** Writes the tar and imports it as `tag`, with a CMD and labels. */
export function importImage(tag: string, dir: string, entries: TarEntry[], opts: { cmd: string[]; labels?: Record<string, string> }): Built {
  const spec = entries.map((e) => ({ name: e.name.toString('hex'), kind: e.kind ?? 'file', data: (e.data ?? Buffer.alloc(0)).toString('base64'), mode: e.mode ?? 0o755, linkname: e.linkname ?? '' }));
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
  execFileSync('python3', ['-c', TAR_WRITER, join(dir, 'spec.json'), join(dir, 'image.tar')]);
  const changes = [`CMD ${JSON.stringify(opts.cmd)}`, ...Object.entries(opts.labels ?? {}).map(([k, v]) => `LABEL ${k}=${v}`)];
  try {
    execFileSync('docker', ['import', ...changes.flatMap((c) => ['-c', c]), join(dir, 'image.tar'), tag], { stdio: 'ignore' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const id = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
  return {
    tag,
    id,
    dir,
    cleanup: () => {
      // By ID, a few times: a container of it still being removed keeps the image (untagged) otherwise.
      for (let i = 0; i < 5; i++) {
        try {
          execFileSync('docker', ['rmi', '-f', id], { stdio: 'ignore' });
          break;
        } catch {
          if (!execFileSync('docker', ['images', '-q', '--no-trunc'], { encoding: 'utf8' }).includes(id)) break;
          execFileSync('sleep', ['1']);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const file = (name: string | Buffer, data: Buffer | string, mode = 0o755): TarEntry => ({
  name: typeof name === 'string' ? Buffer.from(name) : name,
  data: typeof data === 'string' ? Buffer.from(data) : data,
  mode,
});
export const dirEntry = (name: string): TarEntry => ({ name: Buffer.from(name), kind: 'dir', mode: 0o755 });

const TAR_WRITER = String.raw`
import base64, io, json, os, sys, tarfile
spec = json.load(open(sys.argv[1]))
t = tarfile.open(sys.argv[2], 'w', format=tarfile.PAX_FORMAT, encoding='utf-8', errors='surrogateescape')
kinds = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE}
for e in spec:
    ti = tarfile.TarInfo(os.fsdecode(bytes.fromhex(e['name'])))
    ti.type = kinds[e['kind']]; ti.mode = e['mode']; ti.linkname = e['linkname']
    data = base64.b64decode(e['data'])
    ti.size = len(data) if e['kind'] == 'file' else 0
    t.addfile(ti, io.BytesIO(data) if e['kind'] == 'file' else None)
t.close()
`;

/** Containers of one image, by the image ID each was created from (whatever tag or ID it was asked for by). */
export function containersOfImage(imageId: string): string[] {
  const ids = execFileSync('docker', ['ps', '-aq', '--no-trunc'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  return ids.filter((c) => {
    try {
      return execFileSync('docker', ['inspect', '-f', '{{.Image}}', c], { encoding: 'utf8' }).trim() === imageId;
    } catch {
      return false; // removed meanwhile
    }
  });
}
