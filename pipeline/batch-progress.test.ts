import { BatchProgress, formatDuration } from './batch-progress';

describe('BatchProgress', () => {
  it('counts done, failed and running units of N, with elapsed time and an ETA from the pace so far', () => {
    let now = 1_000_000;
    const b = new BatchProgress(4, () => now);
    expect(b.line()).toBe('images: 0 done, 0 failed, 0 running of 4 · 0 ms elapsed');
    b.touch('a');
    b.touch('b');
    now += 30_000;
    b.end('a', 'done');
    b.touch('a'); // a late event for a finished unit does not make it run again
    expect(b.counts()).toEqual({ done: 1, failed: 0, running: 1, finished: 1 });
    // 30 s for one unit, three to go.
    expect(b.line()).toBe('images: 1 done, 0 failed, 1 running of 4 · 30.0 s elapsed · ETA 1 min 30 s');
    now += 30_000;
    b.end('b', 'failed');
    b.touch('c');
    b.end('c', 'interrupted');
    expect(b.counts()).toEqual({ done: 1, failed: 2, running: 0, finished: 3 });
    expect(b.finalLine()).toBe('4 images in 1 min 0 s: 1 done, 2 failed, 1 not finished');
    b.end('d', 'done');
    expect(b.etaMs()).toBeUndefined();
    expect(b.finalLine()).toBe('4 images in 1 min 0 s: 2 done, 2 failed');
  });

  it('formats durations for people', () => {
    expect(formatDuration(640)).toBe('640 ms');
    expect(formatDuration(12_340)).toBe('12.3 s');
    expect(formatDuration(638_000)).toBe('10 min 38 s');
    expect(formatDuration(2 * 3600_000 + 5 * 60_000)).toBe('2 h 5 min');
  });
});
