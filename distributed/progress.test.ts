import { BatchProgress } from './progress';

describe('BatchProgress', () => {
  it('counts images by state, groups the running ones by worker and gives an ETA from the rate', () => {
    let t = 0;
    const lines: string[] = [];
    const p = new BatchProgress(['a', 'b', 'c', 'd'], (l) => lines.push(l), 0, () => t);
    p.workers(2);
    p.running('a', 'h1:1', 'run-and-trace');
    p.running('b', 'h2:7', 'symbol-scan');
    expect(p.line()).toBe('queue: 0/4 finished (0 done, 0 failed), 2 running, 2 waiting · 2 worker(s) [h1:1: a (run-and-trace)] [h2:7: b (symbol-scan)]');
    t = 60_000;
    p.finished('a', 'done');
    p.finished('b', 'failed');
    expect(p.line()).toMatch(/^queue: 2\/4 finished \(1 done, 1 failed\), 0 running, 2 waiting · 2 worker\(s\) · ETA 1 min 0 s$/);
    p.stalled('c');
    expect(lines.some((l) => /c: its worker stopped answering/.test(l))).toBe(true);
    p.finished('b', 'done'); // a late event for a finished image changes the state it reports
    p.running('b', 'h1:1'); // but a finished image is not running again
    expect(p.line()).toMatch(/2 done, 0 failed\), 0 running/);
  });

  it('says when no worker is connected, and emits only changes', () => {
    const lines: string[] = [];
    const p = new BatchProgress(['a'], (l) => lines.push(l), 0);
    p.workers(0);
    p.workers(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/0 worker\(s\) connected — start one/);
    p.close();
  });
});
