import Dockerode from 'dockerode';
import { ConfineError } from '../../pipeline/errors';

export const DOCKER_SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice('unix://'.length) : '/var/run/docker.sock';

/** A Docker client that answered a ping, or a docker-unavailable error saying what to do. */
export async function connectDocker(socketPath = DOCKER_SOCKET): Promise<Dockerode> {
  const docker = new Dockerode({ socketPath });
  try {
    await docker.ping();
  } catch (e) {
    throw new ConfineError('docker-unavailable', `cannot reach the Docker engine at ${socketPath}: ${dockerMessage(e)}; start it with: dockerd &`);
  }
  return docker;
}

/** Docker's own message from an API error, without dockerode's HTTP framing ("(HTTP code 404) no such container - ..."). */
export function dockerMessage(e: unknown): string {
  const err = e as { json?: { message?: string } | null; message?: string };
  // When the engine's body is not JSON, docker-modem leaves json null and frames the text itself.
  return (err?.json?.message ?? err?.message?.replace(/^\(HTTP code \d+\) [^-]*- /, '') ?? String(e)).trim();
}

export function statusCode(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}
