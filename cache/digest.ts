import { createHash } from 'node:crypto';

/** Branded so a plain string can't be passed where a digest or key is expected. */
export type Sha256Hex = string & { readonly __brand: 'sha256' };
export type CacheKey = string & { readonly __brand: 'cache-key' };
/** A Docker image ID (`sha256:…`): images are keyed by content, never by tag. */
export type ImageId = string & { readonly __brand: 'image-id' };

export function sha256Hex(data: string | Uint8Array): Sha256Hex {
  return createHash('sha256').update(data).digest('hex') as Sha256Hex;
}
