import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { TailBuffer } from './log-tail';

describe('TailBuffer', () => {
  it('keeps exactly the last bytes, whatever the chunking', async () => {
    const text = Array.from({ length: 5000 }, (_, i) => `line ${i}\n`).join('');
    const tail = new TailBuffer(100);
    const chunks = text.match(/[\s\S]{1,37}/g)!.map((c) => Buffer.from(c));
    await pipeline(Readable.from(chunks), tail);
    expect(tail.text()).toBe(text.slice(-100));
    expect(tail.total).toBe(text.length);
  });

  it('stays bounded when fed far more than its limit, in chunks larger than the limit too', () => {
    const tail = new TailBuffer(4096);
    const big = Buffer.alloc(1 << 20, 'a');
    for (let i = 0; i < 64; i++) tail.add(big);
    tail.add(Buffer.from('END'));
    expect(tail.text()).toHaveLength(4096);
    expect(tail.text().endsWith('aaaEND')).toBe(true);
    expect(tail.total).toBe(64 * (1 << 20) + 3);
  });

  it('does not start with half a UTF-8 character', () => {
    const tail = new TailBuffer(4); // the last 4 bytes are the end of € (3 bytes) and 'ab'
    tail.add(Buffer.from('xé€ab'));
    expect(tail.text()).toBe('ab');
  });
});
