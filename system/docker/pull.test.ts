import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { ConfineError } from '../../pipeline/errors';
import { pullImage, PullProgress, type PullEvent } from './pull';

/** An engine whose pull answers with these JSON lines (the real modem parses them). */
function engine(answer: PullEvent[] | Error): Dockerode & { pulled: { ref: string; opts: unknown }[] } {
  const docker = new Dockerode({ socketPath: '/nonexistent.sock' }) as Dockerode & { pulled: { ref: string; opts: unknown }[] };
  docker.pulled = [];
  (docker as unknown as { pull: unknown }).pull = async (ref: string, opts: unknown) => {
    docker.pulled.push({ ref, opts });
    if (answer instanceof Error) throw answer;
    return Readable.from(answer.map((e) => JSON.stringify(e) + '\r\n'));
  };
  return docker;
}
const noConfig = { configDir: '/nonexistent-confine-docker-config' };

describe('PullProgress', () => {
  it('sums layers and bytes from the engine stream', () => {
    const p = new PullProgress();
    const events: PullEvent[] = [
      { status: 'Pulling from library/redis', id: '7' },
      { status: 'Pulling fs layer', id: 'a' },
      { status: 'Already exists', id: 'b' },
      { status: 'Downloading', id: 'a', progressDetail: { current: 1_000_000, total: 4_000_000 } },
    ];
    for (const e of events) p.add(e);
    // '7' is the image's own line, not a layer, yet it has an id: it counts as one not done.
    expect(p.summary()).toBe('1/3 layers, 1.0 of 4.0 MB');
    p.add({ status: 'Download complete', id: 'a' });
    p.add({ status: 'Pull complete', id: 'a' });
    expect(p.summary()).toBe('2/3 layers, 4.0 of 4.0 MB');
    expect(p.error).toBeUndefined();
  });
});

describe('pullImage', () => {
  it('fails with image-pull naming the image, the registry and its answer when the engine refuses at once', async () => {
    const answer = Object.assign(new Error('(HTTP code 500) server error - Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host'), { statusCode: 500, json: null });
    const e = await pullImage(engine(answer), 'acme/app:1', { auth: noConfig }).catch((x) => x);
    expect(e).toBeInstanceOf(ConfineError);
    expect(e.kind).toBe('image-pull');
    expect(e.message).toBe(`could not pull 'acme/app:1' from docker.io: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host`);
  });

  it('fails with the registry answer that arrives inside the stream', async () => {
    const docker = engine([{ status: 'Pulling from acme/app', id: '1' }, { errorDetail: { message: 'manifest unknown: manifest unknown' }, error: 'manifest unknown: manifest unknown' }]);
    const e = await pullImage(docker, 'ghcr.io/acme/app:1', { auth: noConfig }).catch((x) => x);
    expect(e.kind).toBe('image-pull');
    expect(e.message).toBe("could not pull 'ghcr.io/acme/app:1' from ghcr.io: manifest unknown: manifest unknown");
  });

  it('reports progress, sends no credentials when there are none, and leaves no listener on the signal', async () => {
    const docker = engine([{ status: 'Pulling fs layer', id: 'a' }, { status: 'Pull complete', id: 'a' }, { status: 'Status: Downloaded newer image for acme/app:1' }]);
    const seen: string[] = [];
    const ac = new AbortController();
    await pullImage(docker, 'acme/app:1', { auth: noConfig, signal: ac.signal, onProgress: (m) => seen.push(m) });
    expect(docker.pulled).toEqual([{ ref: 'acme/app:1', opts: {} }]);
    expect(seen[0]).toBe('pulling acme/app:1 from docker.io (credentials: anonymous (no Docker config))');
    expect(seen[seen.length - 1]).toBe('pulled acme/app:1: 1/1 layers');
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});
