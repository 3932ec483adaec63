/**
 * watchExit on the real engine: the exit of a container is known even when docker's
 * `wait` (next-exit) was not yet registered when the container exited — the race that
 * once hung a calibration run — and a removed container ends the watch.
 */
import Docker from 'dockerode';
import { watchExit } from '../../system/docker/exit-watch';
import { owned } from '../../system/docker/leftovers';
import { importFiles, removeContainer, VERIFY_LABELS } from '../../system/verify/container';
import { exitElf, pauseElf } from '../../system/verify/exit-elf';

jest.setTimeout(60_000);

const docker = new Docker();
const ref = `confine-test/exit-watch:${process.pid}`;
const created: Docker.Container[] = [];

beforeAll(async () => {
  await importFiles(docker, ref, [
    { path: '/exit3', content: exitElf({ status: 3 }) },
    { path: '/pause', content: pauseElf() },
  ]);
});

afterAll(async () => {
  for (const c of created) await removeContainer(c);
  await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
});

async function create(cmd: string): Promise<Docker.Container> {
  const c = await docker.createContainer(owned({ Image: ref, Cmd: [cmd], Labels: { ...VERIFY_LABELS }, HostConfig: { NetworkMode: 'none' } }));
  created.push(c);
  return c;
}

/** A watch that has not settled within `ms` is reported as 'pending' instead of hanging the test. */
function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)))]).finally(() => clearTimeout(timer));
}

it('gives the exit status of a container watched before its start', async () => {
  const c = await create('/exit3');
  const exited = watchExit(c);
  await c.start();
  expect(await settledWithin(exited, 15_000)).toEqual({ code: 3 });
});

it('sees an exit that happened before its wait reached the engine (next-exit alone waits for ever)', async () => {
  const c = await create('/exit3');
  await c.start();
  for (let i = 0; i < 100 && (await c.inspect()).State.Running; i++) await new Promise((r) => setTimeout(r, 50));
  expect((await c.inspect()).State.Status).toBe('exited');
  expect(await settledWithin(watchExit(c), 15_000)).toEqual({ code: 3 });
});

it('does not take a container that was never started for an exited one, and ends when it is removed', async () => {
  const c = await create('/exit3');
  const exited = watchExit(c);
  expect(await settledWithin(exited, 1500)).toBe('pending');
  await removeContainer(c);
  // The engine's wait answers a removal too (status 0 on this engine), or the poll finds it gone.
  expect(await settledWithin(exited, 15_000)).not.toBe('pending');
});

it('ends when a running container is removed', async () => {
  const c = await create('/pause');
  const exited = watchExit(c);
  await c.start();
  expect(await settledWithin(exited, 1000)).toBe('pending');
  await removeContainer(c);
  const r = await settledWithin(exited, 15_000);
  expect(r).not.toBe('pending');
});

it('ends, with no status, when the engine stops answering (the wait and then every inspect fail)', async () => {
  const gone = new Docker({ socketPath: `/tmp/confine-no-engine-${process.pid}.sock` });
  expect(await settledWithin(watchExit(gone.getContainer('f'.repeat(64)), 50), 15_000)).toEqual({ code: undefined });
});
