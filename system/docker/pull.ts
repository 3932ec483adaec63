/**
 * Pulls an image through the engine (as `docker pull` does), with the user's registry
 * credentials and a one-line progress summary. A refused or unreachable registry is an
 * `image-pull` error for that image that carries the engine's answer word for word.
 */
import type Dockerode from 'dockerode';
import { ConfineError } from '../../pipeline/errors';
import { dockerMessage } from './client';
import { registryAuth, registryOf, type AuthOptions } from './registry-auth';

export interface PullOptions {
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
  auth?: AuthOptions;
}

/** One event of the engine's pull stream (JSON lines). */
export interface PullEvent {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

export async function pullImage(docker: Dockerode, ref: string, opts: PullOptions = {}): Promise<void> {
  const registry = registryOf(ref);
  // The runner adds the image's name and the stage; the message names the reference pulled.
  const fail = (answer: string) => new ConfineError('image-pull', `could not pull '${ref}' from ${registry}: ${answer}`);
  const { auth, source } = await registryAuth(ref, opts.auth);
  opts.onProgress?.(`pulling ${ref} from ${registry} (credentials: ${source})`);

  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.pull(ref, auth ? { authconfig: auth } : {});
  } catch (e) {
    throw fail(dockerMessage(e));
  }
  const progress = new PullProgress();
  let lastShown = 0;
  // The run's signal is shared by every image: the listener goes when the pull ends.
  const onAbort = () => (stream as { destroy?: (e?: Error) => void }).destroy?.(new Error('interrupted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (e: Error | null) => (e ? reject(e) : resolve()),
        (ev: PullEvent) => {
          progress.add(ev);
          if (Date.now() - lastShown >= 500) {
            lastShown = Date.now();
            opts.onProgress?.(`pulling ${ref}: ${progress.summary()}`);
          }
        },
      );
    });
  } catch (e) {
    if (opts.signal?.aborted) throw new ConfineError('interrupted', `interrupted while pulling ${ref}`);
    // Errors inside the stream (a 200 that turned into "manifest unknown") come as plain Errors.
    throw fail(dockerMessage(e));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (progress.error) throw fail(progress.error);
  opts.onProgress?.(`pulled ${ref}: ${progress.summary()}`);
}

/** Per-layer state from the pull stream, summed into "3/5 layers, 12.0 of 40.2 MB". */
export class PullProgress {
  private layers = new Map<string, { done: boolean; current: number; total: number }>();
  error?: string;

  add(ev: PullEvent): void {
    if (ev.error || ev.errorDetail?.message) {
      this.error = ev.errorDetail?.message ?? ev.error;
      return;
    }
    // Events without an id are about the image as a whole ("Pulling from library/x", "Digest: …").
    if (!ev.id || !ev.status) return;
    const layer = this.layers.get(ev.id) ?? { done: false, current: 0, total: 0 };
    this.layers.set(ev.id, layer);
    if (ev.status === 'Downloading' && ev.progressDetail?.total) {
      layer.total = ev.progressDetail.total;
      layer.current = ev.progressDetail.current ?? layer.current;
    } else if (ev.status === 'Download complete' || ev.status === 'Verifying Checksum') {
      layer.current = layer.total;
    } else if (ev.status === 'Pull complete' || ev.status === 'Already exists') {
      layer.done = true;
      layer.current = layer.total;
    }
  }

  summary(): string {
    const all = [...this.layers.values()];
    const done = all.filter((l) => l.done).length;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const total = all.reduce((s, l) => s + l.total, 0);
    const current = all.reduce((s, l) => s + l.current, 0);
    return `${done}/${all.length} layers${total ? `, ${mb(current)} of ${mb(total)} MB` : ''}`;
  }
}
