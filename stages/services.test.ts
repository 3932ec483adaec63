import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { Services } from './services';

/** An engine that has `present` images and answers pulls with `pullAnswer` (then has the image). */
function engine(present: Record<string, string>, pullAnswer: 'ok' | Error) {
  const docker = new Dockerode({ socketPath: '/nonexistent.sock' });
  const pulls: string[] = [];
  Object.assign(docker, {
    getImage: (ref: string) => ({
      inspect: async () => {
        if (present[ref]) return { Id: present[ref] };
        throw Object.assign(new Error('(HTTP code 404) no such image'), { statusCode: 404, json: { message: `No such image: ${ref}` } });
      },
    }),
    pull: async (ref: string) => {
      pulls.push(ref);
      if (pullAnswer instanceof Error) throw pullAnswer;
      present[ref] = `sha256:${'b'.repeat(64)}`;
      return Readable.from([JSON.stringify({ status: 'Pull complete', id: 'l1' }) + '\n']);
    },
  });
  return { docker, pulls };
}
const auth = { configDir: '/nonexistent-confine-docker-config' };

describe('Services.imageId', () => {
  it('takes a present image as it is, without pulling', async () => {
    const { docker, pulls } = engine({ 'a:1': `sha256:${'a'.repeat(64)}` }, 'ok');
    const s = new Services('t', { connect: async () => docker, auth });
    expect(await s.imageId('a:1')).toBe(`sha256:${'a'.repeat(64)}`);
    expect(pulls).toEqual([]);
  });

  it('pulls a missing image once for every image that asks, showing progress', async () => {
    const { docker, pulls } = engine({}, 'ok');
    const s = new Services('t', { connect: async () => docker, auth });
    const seen: string[] = [];
    const [x, y] = await Promise.all([s.imageId('new:1', { progress: (m) => seen.push(m) }), s.imageId('new:1')]);
    expect(x).toBe(`sha256:${'b'.repeat(64)}`);
    expect(y).toBe(x);
    expect(pulls).toEqual(['new:1']);
    expect(seen).toContain('pulled new:1: 1/1 layers');
  });

  it('with --no-pull, fails a missing image with its own message and never asks the registry', async () => {
    const { docker, pulls } = engine({}, 'ok');
    const s = new Services('t', { connect: async () => docker, pull: false, auth });
    await expect(s.imageId('gone:1')).rejects.toMatchObject({
      kind: 'image-not-found',
      message: expect.stringMatching(/^image 'gone:1' is not in the local Docker engine, and --no-pull forbids pulling it/),
    });
    expect(pulls).toEqual([]);
  });

  it("a refused pull is that image's image-pull error; the next image still pulls", async () => {
    const refused = Object.assign(new Error('(HTTP code 500) server error - pull access denied for gone, repository does not exist or may require \'docker login\''), { statusCode: 500, json: null });
    const { docker } = engine({ 'ok:1': `sha256:${'c'.repeat(64)}` }, refused);
    const s = new Services('t', { connect: async () => docker, auth });
    const [bad, good] = await Promise.allSettled([s.imageId('gone:1'), s.imageId('ok:1')]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { kind: 'image-pull', message: "could not pull 'gone:1' from docker.io: pull access denied for gone, repository does not exist or may require 'docker login'" } });
    expect(good).toEqual({ status: 'fulfilled', value: `sha256:${'c'.repeat(64)}` });
  });
});
