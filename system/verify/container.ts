/**
 * The little container plumbing verify needs, kept here so verify does not wait on the
 * shared runner: import a one-directory image, create a container with a seccomp
 * profile given inline (the API takes the profile text in `SecurityOpt`, as the CLI
 * sends it), and always remove what we created.
 */
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { ConfineError } from '../../pipeline/errors';
import type { DockerProfile } from '../../formats/profile/seccomp-types';

export const VERIFY_LABELS: Readonly<Record<string, string>> = { confine: '1', 'confine.verify': '1' };

export interface ImageFile {
  path: string;
  content: Buffer;
  mode?: number;
}

/** Does `ref` exist locally? */
export async function imageExists(docker: Dockerode, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch {
    return false;
  }
}

/** `docker import` of a tar made in memory; returns the reference. Reuses an existing tag. */
export async function importFiles(docker: Dockerode, ref: string, files: ImageFile[]): Promise<string> {
  if (await imageExists(docker, ref)) return ref;
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.path.replace(/^\/+/, ''), mode: f.mode ?? 0o755, mtime: new Date(0) }, f.content);
  pack.finalize();
  const [repo, tag] = splitRef(ref);
  const out = await docker.importImage(pack as unknown as NodeJS.ReadableStream, { repo, tag });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(out, (e: Error | null, res: Array<{ error?: string }>) => {
      const failed = res?.find((r) => r.error);
      if (e || failed) reject(new ConfineError('container-start-failed', `docker import ${ref}: ${e?.message ?? failed?.error}`));
      else resolve();
    }),
  );
  return ref;
}

function splitRef(ref: string): [string, string] {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
}

/**
 * Adds the profile, our labels and the image to caller-given create options. Any
 * seccomp option the caller had is replaced: the profile under test is the point.
 */
export function withProfile(
  base: Dockerode.ContainerCreateOptions,
  image: string,
  profile: DockerProfile,
  labels: Record<string, string> = {},
): Dockerode.ContainerCreateOptions {
  const hostConfig = { ...(base.HostConfig ?? {}) };
  const others = (hostConfig.SecurityOpt ?? []).filter((o: string) => !/^seccomp[=:]/.test(o));
  hostConfig.SecurityOpt = [...others, `seccomp=${JSON.stringify(profile)}`];
  return {
    ...base,
    Image: image,
    Labels: { ...(base.Labels ?? {}), ...VERIFY_LABELS, ...labels },
    HostConfig: hostConfig,
  };
}

/** Removes a container, ignoring "already gone". */
export async function removeContainer(c: Dockerode.Container): Promise<void> {
  try {
    await c.remove({ force: true, v: true });
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) throw e;
  }
}

/** Last lines of a container's output; demultiplexes the 8-byte frame headers of non-TTY logs. */
export async function logTail(c: Dockerode.Container, lines = 40, tty = false): Promise<string> {
  try {
    const raw = (await c.logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return tty ? raw.toString('utf8') : demux(raw);
  } catch (e) {
    return `(no logs: ${(e as Error).message})`;
  }
}

export function demux(raw: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= raw.length) {
    const kind = raw[i];
    const size = raw.readUInt32BE(i + 4);
    if (kind > 2 || raw[i + 1] !== 0 || raw[i + 2] !== 0 || raw[i + 3] !== 0) return raw.toString('utf8'); // not framed
    parts.push(raw.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
