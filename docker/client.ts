import Dockerode from 'dockerode';
import { ConfineError } from '../pipeline/errors';

export const DOCKER_SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock';

/** A Docker client that answered a ping, or a docker-unavailable error saying what to do. */
export async function connectDocker(): Promise<Dockerode> {
  const docker = new Dockerode({ socketPath: DOCKER_SOCKET });
  try {
    await docker.ping();
  } catch (e) {
    throw new ConfineError('docker-unavailable', `cannot reach the Docker engine at ${DOCKER_SOCKET}: ${(e as Error).message}; start it (scripts/setup.sh does)`);
  }
  return docker;
}

/** Docker's own message from an API error, without dockerode's HTTP framing. */
export function dockerMessage(e: unknown): string {
  const err = e as { json?: { message?: string }; reason?: string; message?: string };
  return err?.json?.message ?? err?.message ?? String(e);
}

export function statusCode(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}
