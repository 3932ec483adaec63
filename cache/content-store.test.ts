import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canonicalJson } from './canonical-json';
import { ContentStore, canonicalEntryText } from './content-store';
import { sha256Hex } from './digest';
import type { Fingerprint } from './fingerprint';

const fp: Fingerprint = { stage: 's', version: 1, schema: 'test/v1', config: { b: 1, a: [2] }, inputs: { z: '1', a: '2' } };
const ok = () => undefined;

async function store(): Promise<ContentStore> {
  return new ContentStore(await fs.mkdtemp(path.join(os.tmpdir(), 'confine-store-')), ok);
}

describe('ContentStore', () => {
  it('writes exactly the canonical JSON of the entry, and a hit carries the artifact digest', async () => {
    const s = await store();
    const artifact = { z: 'x', a: [{ q: 1, b: 'quote " and ,"artifactSha256":"' }] };
    const { key, digest } = await s.write(fp, artifact, ['line']);
    expect(digest).toBe(sha256Hex(canonicalJson(artifact)));
    const text = await fs.readFile(s.entryPath(key), 'utf8');
    expect(text).toBe(canonicalJson({ fingerprint: fp, artifactSha256: digest, artifact, log: ['line'] }));
    expect(canonicalEntryText(canonicalJson(artifact), digest, fp, ['line'])).toBe(text);
    const got = await s.read(key);
    expect(got).toMatchObject({ status: 'hit', artifact, digest, log: ['line'] });
  });

  it('accepts a hand-reformatted entry whose artifact still hashes right, and discards an edited one', async () => {
    const s = await store();
    const { key } = await s.write(fp, { v: 'a' });
    const entry = JSON.parse(await fs.readFile(s.entryPath(key), 'utf8'));
    await fs.writeFile(s.entryPath(key), JSON.stringify(entry, null, 2)); // pretty-printed: no slice to hash
    expect((await s.read(key)).status).toBe('hit');
    entry.artifact.v = 'b';
    await fs.writeFile(s.entryPath(key), canonicalJson(entry));
    expect(await s.read(key)).toEqual({ status: 'corrupt', reason: 'artifact hash mismatch' });
    expect((await s.read(key)).status).toBe('miss'); // discarded
  });
});
