import * as path from 'node:path';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';

/**
 * A stand-in for the few engine calls extraction makes (image inspect, create,
 * export, getArchive, remove), for tests of sharing between images without an
 * engine. It counts what it was asked, so a test can tell one index pass from two.
 */
export interface FakeFile {
  path: string;
  content?: Buffer | string;
  symlink?: string;
  mode?: number;
}

export interface FakeImage {
  layers: string[];
  env?: string[];
  files: FakeFile[];
}

export class FakeEngine {
  readonly calls = { inspect: 0, create: 0, export: 0, getArchive: 0, remove: 0 };
  /** Helper containers created and not yet removed. */
  readonly live = new Set<string>();
  private next = 0;

  constructor(private readonly images: Record<string, FakeImage>) {}

  get docker(): Dockerode {
    return this as unknown as Dockerode;
  }

  getImage(id: string) {
    return {
      inspect: async () => {
        this.calls.inspect++;
        const img = this.images[id];
        if (!img) throw Object.assign(new Error(`no such image: ${id}`), { statusCode: 404 });
        return { Id: id, RootFS: { Type: 'layers', Layers: img.layers }, Config: { Env: img.env ?? null } };
      },
    };
  }

  async createContainer(opts: { Image: string }) {
    this.calls.create++;
    const img = this.images[opts.Image];
    if (!img) throw Object.assign(new Error(`no such image: ${opts.Image}`), { statusCode: 404 });
    const id = `fake-${++this.next}`;
    this.live.add(id);
    return {
      id,
      export: async () => {
        this.calls.export++;
        return Readable.from([await tarOf(img.files)]);
      },
      getArchive: async ({ path: p }: { path: string }) => {
        this.calls.getArchive++;
        const f = img.files.find((x) => x.path === p && x.content !== undefined);
        if (!f) throw Object.assign(new Error(`no such file: ${p}`), { statusCode: 404 });
        return Readable.from([await tarOf([{ ...f, path: path.posix.basename(p) }])]);
      },
      remove: async () => {
        this.calls.remove++;
        this.live.delete(id);
      },
    };
  }
}

export async function tarOf(files: FakeFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) parts.push(c as Buffer);
  })();
  for (const f of files) {
    const name = f.path.replace(/^\/+/, '');
    const header: Partial<tar.Header> & { name: string } =
      f.symlink !== undefined ? { name, type: 'symlink', linkname: f.symlink, mode: 0o777 } : { name, type: 'file', mode: f.mode ?? 0o755 };
    const body = f.symlink !== undefined ? Buffer.alloc(0) : Buffer.from(f.content ?? '');
    await new Promise<void>((res, rej) => pack.entry(header as tar.Header, body, (e) => (e ? rej(e) : res())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}
