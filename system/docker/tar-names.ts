/**
 * Tar entry names as bytes. Docker's export writes a name that is not ASCII into a
 * PAX `path` record as raw bytes; tar-stream decodes those records as UTF-8 with
 * replacement, so `/bin/prog\xff` and `/bin/prog\xef\xbf\xbd` would both come out as
 * `/bin/prog\ufffd`, and the index would hold the decoy under the name that ran. Here
 * PAX records are decoded byte for byte (latin1), header names are asked for in
 * latin1 too, and walkTar turns both into the lossless form of system/image/path-bytes.ts.
 */
import * as path from 'node:path';
import { fromLatin1 } from '../image/path-bytes';

type PaxDecoder = (buf: Buffer) => Record<string, string>;

let patched = false;

/** Replaces tar-stream's PAX decoder once (it looks the function up at every use). */
export function bytePreservingPax(): void {
  if (patched) return;
  // The package's exports map hides headers.js; its file is required by path.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const headers = require(path.join(path.dirname(require.resolve('tar-stream')), 'headers.js')) as { decodePax: PaxDecoder };
  headers.decodePax = (buf: Buffer) => {
    const result: Record<string, string> = {};
    let b = buf;
    while (b.length) {
      let i = 0;
      while (i < b.length && b[i] !== 32) i++;
      const len = parseInt(b.subarray(0, i).toString('latin1'), 10);
      if (!len || len > b.length) return result;
      const rec = b.subarray(i + 1, len - 1).toString('latin1');
      const k = rec.indexOf('=');
      if (k === -1) return result;
      result[rec.slice(0, k)] = rec.slice(k + 1);
      b = b.subarray(len);
    }
    return result;
  };
  patched = true;
}

/** A name or link target as tar-stream gave it (latin1, see above) → lossless. */
export function tarName(latin1: string | null | undefined): string {
  return fromLatin1(latin1 ?? '');
}
