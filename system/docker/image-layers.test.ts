import { FakeEngine } from '../extract/fake-engine';
import { inspectLayers, layerChainDigest } from './image-layers';

const L1 = 'sha256:' + '1'.repeat(64);
const L2 = 'sha256:' + '2'.repeat(64);

describe('layerChainDigest', () => {
  it('is the same for the same ordered layers and differs with order, content or count', () => {
    const d = layerChainDigest({ Type: 'layers', Layers: [L1, L2] });
    expect(d).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(layerChainDigest({ Type: 'layers', Layers: [L1, L2] })).toBe(d);
    expect(layerChainDigest({ Type: 'layers', Layers: [L2, L1] })).not.toBe(d);
    expect(layerChainDigest({ Type: 'layers', Layers: [L1] })).not.toBe(d);
    expect(layerChainDigest({ Type: 'layers', Layers: [] })).not.toBe(layerChainDigest({ Type: 'layers', Layers: [L1] }));
  });
});

describe('inspectLayers', () => {
  it('reads chain and env in one inspect; two image IDs over the same layers get the same chain', async () => {
    const eng = new FakeEngine({
      'sha256:a': { layers: [L1, L2], env: ['PATH=/bin'], files: [] },
      'sha256:b': { layers: [L1, L2], files: [] },
      'sha256:c': { layers: [L1], files: [] },
    });
    const a = await inspectLayers(eng.docker, 'sha256:a');
    const b = await inspectLayers(eng.docker, 'sha256:b');
    const c = await inspectLayers(eng.docker, 'sha256:c');
    expect(a).toEqual({ imageId: 'sha256:a', layerChain: b.layerChain, env: ['PATH=/bin'] });
    expect(b.env).toEqual([]);
    expect(c.layerChain).not.toBe(a.layerChain);
    expect(eng.calls.inspect).toBe(3);
    await expect(inspectLayers(eng.docker, 'sha256:none')).rejects.toMatchObject({ kind: 'image-not-found' });
  });
});
