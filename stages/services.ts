import type Dockerode from 'dockerode';
import { ConfineError } from '../pipeline/errors';
import { connectDocker } from '../system/docker/client';
import { pullImage, type PullOptions } from '../system/docker/pull';
import { ImageId } from '../cache/digest';
import { IndexShare } from '../system/extract/index-share';
import { Semaphore } from '../pipeline/semaphore';

/**
 * The outside world the stages share in one run: one Docker connection, made on
 * first use (so commands that never touch Docker never need the engine), and image
 * IDs looked up once per tag, image filesystems indexed once per layer chain.
 */
export class Services {
  /** extract-binaries' index passes, shared by images with the same layers. */
  readonly indexes = new IndexShare();
  private dockerPromise?: Promise<Dockerode>;
  private ids = new Map<string, Promise<ImageId>>();
  /** A batch of new images must not start a hundred pulls at once (each already fetches layers in parallel). */
  private pulls = new Semaphore(2);

  constructor(
    readonly runLabel: string,
    private readonly opts: {
      /** false (--no-pull): an image missing from the engine fails instead of being pulled. */
      pull?: boolean;
      /** The engine connection (tests pass a stand-in). */
      connect?: () => Promise<Dockerode>;
      /** Where registry credentials are looked up (tests point it at a temporary config). */
      auth?: PullOptions['auth'];
    } = {},
  ) {}

  docker(): Promise<Dockerode> {
    if (this.dockerPromise) return this.dockerPromise;
    const p = (this.opts.connect ?? connectDocker)();
    this.dockerPromise = p;
    // A failed connection is not remembered: the next image tries again (dockerd may be back).
    p.catch(() => (this.dockerPromise = undefined));
    return p;
  }

  /**
   * Images are keyed by content (their ID), never by tag: a re-tagged image is the same work.
   * One missing from the engine is pulled once, whichever image asks first; `progress` and
   * `signal` are that first asker's.
   */
  imageId(ref: string, pull: { progress?: (m: string) => void; signal?: AbortSignal } = {}): Promise<ImageId> {
    if (!ref) return Promise.reject(new ConfineError('image-not-found', 'the image list gives no download-name for this image'));
    let p = this.ids.get(ref);
    if (!p) {
      p = this.lookup(ref, pull);
      this.ids.set(ref, p);
      p.catch(() => this.ids.delete(ref));
    }
    return p;
  }

  private async lookup(ref: string, pull: { progress?: (m: string) => void; signal?: AbortSignal }): Promise<ImageId> {
    const docker = await this.docker();
    const local = await inspectId(docker, ref);
    if (local) return local;
    if (this.opts.pull === false) {
      throw new ConfineError('image-not-found', `image '${ref}' is not in the local Docker engine, and --no-pull forbids pulling it; pull or load it first (docker pull ${ref}; the samples: images/build.sh)`);
    }
    pull.progress?.(`${ref} is not in the local engine; waiting to pull it`);
    await this.pulls.use(() => pullImage(docker, ref, { onProgress: pull.progress, signal: pull.signal, auth: this.opts.auth }));
    const pulled = await inspectId(docker, ref);
    if (!pulled) throw new ConfineError('image-pull', `the engine pulled '${ref}' but does not list it afterwards (removed meanwhile?)`);
    return pulled;
  }
}

/** The image's ID, or undefined when the engine does not have it. */
async function inspectId(docker: Dockerode, ref: string): Promise<ImageId | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id as ImageId;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw new ConfineError('docker-unavailable', `looking up image '${ref}': ${(e as Error).message}`);
  }
}
