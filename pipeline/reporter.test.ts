import { TtyReporter } from './reporter';

/** A terminal that keeps what is written and applies the two escapes the reporter uses. */
class Screen {
  lines: string[] = [];
  columns = 120;
  isTTY = true;
  write(text: string): boolean {
    const parts = text.split(/(\x1b\[\d+A\x1b\[0J)/);
    for (const p of parts) {
      const up = /^\x1b\[(\d+)A\x1b\[0J$/.exec(p);
      if (up) this.lines.splice(this.lines.length - Number(up[1]));
      else if (p) this.lines.push(...p.replace(/\n$/, '').split('\n'));
    }
    return true;
  }
}

describe('TtyReporter', () => {
  it('draws the batch line above the per-image lines, and the total at the end', () => {
    const screen = new Screen();
    const r = new TtyReporter(screen as unknown as NodeJS.WriteStream);
    r.batch(3);
    r.stage({ unit: 'redis', stage: 'run-and-trace', status: 'running' });
    r.progress('nginx', 'run-and-trace', 'pulling nginx: 1/3 layers');
    r.stage({ unit: 'nginx', stage: 'run-and-trace', status: 'running' });
    expect(screen.lines).toEqual([
      expect.stringMatching(/^images: 0 done, 0 failed, 2 running of 3 · \d+ ms elapsed$/),
      '  ⋯ redis: run-and-trace…',
      '  ⋯ nginx: run-and-trace…',
    ]);
    r.stage({ unit: 'redis', stage: 'run-and-trace', status: 'failed', ms: 5, detail: 'boom' });
    r.unitDone('redis', 'failed');
    expect(screen.lines).toEqual([
      '[redis] run-and-trace: failed (5 ms) — boom',
      expect.stringMatching(/^images: 0 done, 1 failed, 1 running of 3 · \d+ ms elapsed · ETA /),
      '  ⋯ nginx: run-and-trace…',
    ]);
    r.close();
    r.close();
    expect(screen.lines).toEqual(['[redis] run-and-trace: failed (5 ms) — boom', expect.stringMatching(/^3 images in \d+ ms: 0 done, 1 failed, 2 not finished$/)]);
  });
});
