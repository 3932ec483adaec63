import type Dockerode from 'dockerode';
import { createHash } from 'node:crypto';
import { ConfineError } from '../../pipeline/errors';
import { dockerMessage, statusCode } from './client';

/**
 * What decides an image's root filesystem, from one inspect: the ordered diff IDs of
 * its layers. Two image IDs with the same chain (a re-tag, a LABEL or CMD copy) have
 * the same files, so whatever is read out of one holds for the other. A container
 * made from either adds only its init layer (empty /etc/hosts, mount points, the
 * WORKDIR directory), never a file of its own, so extraction sees the same files too.
 */
export interface ImageLayers {
  imageId: string;
  /** 'sha256:<hex>' over the RootFS type and its ordered diff IDs. */
  layerChain: string;
  /** The image's Config.Env: part of what decides the closure (PATH, LD_LIBRARY_PATH). */
  env: string[];
}

export function layerChainDigest(rootfs: { Type?: string; Layers?: string[] } | undefined): string {
  // One line per layer: a diff ID never holds a newline, so no two chains encode alike.
  const text = ['confine-layer-chain/1', rootfs?.Type ?? 'layers', ...(rootfs?.Layers ?? [])].join('\n');
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export async function inspectLayers(docker: Dockerode, imageId: string): Promise<ImageLayers> {
  let info: Dockerode.ImageInspectInfo;
  try {
    info = await docker.getImage(imageId).inspect();
  } catch (e) {
    if (statusCode(e) === 404) throw new ConfineError('image-not-found', `image ${imageId} is not in the local engine`);
    throw new ConfineError('docker-unavailable', `inspecting ${imageId}: ${dockerMessage(e)}`);
  }
  return {
    imageId: info.Id,
    layerChain: layerChainDigest(info.RootFS as { Type?: string; Layers?: string[] } | undefined),
    env: (info.Config?.Env as string[] | null | undefined) ?? [],
  };
}
