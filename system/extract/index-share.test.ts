import { ImageIndex } from '../image/image-index';
import { IndexShare, type IndexedImage } from './index-share';

function indexed(entries: number): IndexedImage {
  const index = new ImageIndex();
  for (let i = 1; i < entries; i++) index.add(`/f${i}`, { type: 'file', size: 0, mode: 0o644 });
  return { index, kept: new Map(), infos: new Map(), indexMillis: 1 };
}

describe('IndexShare', () => {
  it('gives concurrent and later callers of one key the same pass', async () => {
    const share = new IndexShare();
    let computes = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const compute = async () => {
      computes++;
      await gate;
      return indexed(3);
    };
    const a = share.get('k', compute);
    const b = share.get('k', compute);
    release();
    const [ra, rb] = await Promise.all([a, b]);
    const rc = await share.get('k', compute);
    expect(computes).toBe(1);
    expect(share.passes).toBe(1);
    expect([ra.shared, rb.shared, rc.shared]).toEqual([false, true, true]);
    expect(rb.value).toBe(ra.value);
    expect(rc.value).toBe(ra.value);
    await share.get('other', compute);
    expect(computes).toBe(2);
  });

  it('does not remember a failed pass', async () => {
    const share = new IndexShare();
    await expect(share.get('k', async () => Promise.reject(new Error('export broke')))).rejects.toThrow('export broke');
    const r = await share.get('k', async () => indexed(2));
    expect(r.shared).toBe(false);
    expect(share.passes).toBe(2);
  });

  it('a caller that joined a pass which failed makes its own', async () => {
    const share = new IndexShare();
    let fail!: (e: Error) => void;
    const first = share.get('k', () => new Promise<IndexedImage>((_res, rej) => (fail = rej)));
    const second = share.get('k', async () => indexed(2));
    fail(new Error('helper removed'));
    await expect(first).rejects.toThrow('helper removed');
    await expect(second).resolves.toMatchObject({ shared: false });
    expect(share.passes).toBe(2);
  });

  it('drops the least recently used index past its entry budget, never one bigger than the budget', async () => {
    const share = new IndexShare(10);
    await share.get('a', async () => indexed(4));
    await share.get('b', async () => indexed(4));
    await share.get('a', async () => indexed(4)); // a is now the most recent
    await share.get('c', async () => indexed(4)); // 12 > 10: b goes
    expect((await share.get('a', async () => indexed(4))).shared).toBe(true);
    expect((await share.get('b', async () => indexed(4))).shared).toBe(false);
    await share.get('huge', async () => indexed(11));
    expect((await share.get('huge', async () => indexed(11))).shared).toBe(false);
  });
});
