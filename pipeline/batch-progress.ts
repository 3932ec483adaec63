export type UnitEnd = 'done' | 'failed' | 'interrupted';

/**
 * Where the batch stands: how many units finished, failed or are in flight out of all,
 * how long it has run and, from the pace so far, how long it still needs.
 */
export class BatchProgress {
  private started = new Set<string>();
  private ended = new Map<string, UnitEnd>();
  private readonly t0: number;

  constructor(
    readonly total: number,
    private readonly now: () => number = Date.now,
  ) {
    this.t0 = now();
  }

  /** A stage of this unit started (or was reused): it is in flight until it ends. */
  touch(unit: string): void {
    if (!this.ended.has(unit)) this.started.add(unit);
  }

  end(unit: string, how: UnitEnd): void {
    this.started.delete(unit);
    this.ended.set(unit, how);
  }

  counts(): { done: number; failed: number; running: number; finished: number } {
    let done = 0;
    let failed = 0;
    for (const how of this.ended.values()) how === 'done' ? done++ : failed++;
    return { done, failed, running: this.started.size, finished: this.ended.size };
  }

  elapsedMs(): number {
    return this.now() - this.t0;
  }

  /** Remaining time at the pace of the units finished so far; unknown until one has. */
  etaMs(): number | undefined {
    const { finished } = this.counts();
    if (finished === 0 || finished >= this.total) return undefined;
    return (this.elapsedMs() / finished) * (this.total - finished);
  }

  /** `images: 3 done, 1 failed, 2 running of 11 · 1 min 12 s elapsed · ETA 2 min 40 s` */
  line(noun = 'images'): string {
    const c = this.counts();
    const eta = this.etaMs();
    return `${noun}: ${c.done} done, ${c.failed} failed, ${c.running} running of ${this.total} · ${formatDuration(this.elapsedMs())} elapsed${eta === undefined ? '' : ` · ETA ${formatDuration(eta)}`}`;
  }

  /** `11 images in 10 min 38 s: 10 done, 1 failed` */
  finalLine(noun = 'images'): string {
    const c = this.counts();
    const left = this.total - c.finished;
    return `${this.total} ${noun} in ${formatDuration(this.elapsedMs())}: ${c.done} done, ${c.failed} failed${left ? `, ${left} not finished` : ''}`;
  }
}

/** Seconds under a minute, then minutes and seconds, then hours and minutes. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
