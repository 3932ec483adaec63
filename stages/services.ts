import type Dockerode from 'dockerode';
import { ConfineError } from '../pipeline/errors';
import { connectDocker } from '../docker/client';
import { ImageId } from '../cache/digest';
import { IndexShare } from '../extract/index-share';

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

  constructor(readonly runLabel: string) {}

  docker(): Promise<Dockerode> {
    if (this.dockerPromise) return this.dockerPromise;
    const p = connectDocker();
    this.dockerPromise = p;
    // A failed connection is not remembered: the next image tries again (dockerd may be back).
    p.catch(() => (this.dockerPromise = undefined));
    return p;
  }

  /** Images are keyed by content (their ID), never by tag: a re-tagged image is the same work. */
  imageId(ref: string): Promise<ImageId> {
    if (!ref) return Promise.reject(new ConfineError('image-not-found', 'the image list gives no download-name for this image'));
    let p = this.ids.get(ref);
    if (!p) {
      p = this.lookup(ref);
      this.ids.set(ref, p);
      p.catch(() => this.ids.delete(ref));
    }
    return p;
  }

  private async lookup(ref: string): Promise<ImageId> {
    const docker = await this.docker();
    try {
      const info = await docker.getImage(ref).inspect();
      return info.Id as ImageId;
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 404) {
        throw new ConfineError('image-not-found', `image '${ref}' is not in the local Docker engine (confine never pulls); build or load it first, e.g. images/build.sh`);
      }
      throw new ConfineError('docker-unavailable', `looking up image '${ref}': ${(e as Error).message}`);
    }
  }
}
