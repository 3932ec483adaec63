type State = { s: 'waiting' } | { s: 'running'; worker?: string; stage?: string } | { s: 'done' } | { s: 'failed' };

/**
 * The submitter's view of a queued batch: images done, failed and running (and where),
 * workers connected, and an ETA from the rate so far. Emits a line when something
 * changed, at most every two seconds, so a thousand-image batch does not flood a log.
 */
export class BatchProgress {
  private states = new Map<string, State>();
  private workerCount?: number;
  private readonly t0: number;
  private lastLine = '';
  private lastAt = 0;
  private pending?: NodeJS.Timeout;
  private closed = false;

  constructor(
    units: string[],
    private readonly emit: (line: string) => void,
    private readonly minGapMs = 2000,
    private readonly now: () => number = Date.now,
  ) {
    this.t0 = now();
    for (const u of units) this.states.set(u, { s: 'waiting' });
  }

  running(unit: string, worker?: string, stage?: string): void {
    const cur = this.states.get(unit);
    if (!cur || cur.s === 'done' || cur.s === 'failed') return;
    this.states.set(unit, { s: 'running', worker: worker ?? (cur.s === 'running' ? cur.worker : undefined), stage });
    this.changed();
  }

  finished(unit: string, how: 'done' | 'failed'): void {
    if (!this.states.has(unit)) return;
    this.states.set(unit, { s: how });
    this.changed();
  }

  retrying(unit: string, reason: string): void {
    const cur = this.states.get(unit);
    if (cur?.s === 'running') this.states.set(unit, { s: 'waiting' });
    this.note(`${unit}: a try failed (${reason.slice(0, 200)})`);
  }

  stalled(unit: string): void {
    this.states.set(unit, { s: 'waiting' });
    this.note(`${unit}: its worker stopped answering; the image goes back to the queue`);
  }

  workers(n: number): void {
    if (n === this.workerCount) return;
    this.workerCount = n;
    this.changed();
  }

  /** The current summary line. */
  line(): string {
    const c = { waiting: 0, running: 0, done: 0, failed: 0 };
    const byWorker = new Map<string, string[]>();
    for (const [unit, st] of this.states) {
      c[st.s]++;
      if (st.s === 'running') {
        const w = st.worker ?? '?';
        byWorker.set(w, [...(byWorker.get(w) ?? []), st.stage ? `${unit} (${st.stage})` : unit]);
      }
    }
    const total = this.states.size;
    const finished = c.done + c.failed;
    const elapsed = this.now() - this.t0;
    const eta = finished > 0 && finished < total ? ` · ETA ${formatEta(((total - finished) * elapsed) / finished)}` : '';
    const workers = this.workerCount === undefined ? '' : ` · ${this.workerCount} worker(s)${this.workerCount === 0 ? ' connected — start one with confine worker --queue …' : ''}`;
    const where = [...byWorker].sort().map(([w, us]) => ` [${w}: ${us.join(', ')}]`).join('');
    return `queue: ${finished}/${total} finished (${c.done} done, ${c.failed} failed), ${c.running} running, ${c.waiting} waiting${workers}${eta}${where}`;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pending) clearTimeout(this.pending);
    this.flush();
  }

  private note(text: string): void {
    if (!this.closed) this.emit(`queue: ${text}`);
    this.changed();
  }

  private changed(): void {
    if (this.closed || this.pending) return;
    const wait = this.lastAt + this.minGapMs - this.now();
    if (wait <= 0) return this.flush();
    this.pending = setTimeout(() => this.flush(), wait);
    this.pending.unref();
  }

  private flush(): void {
    this.pending = undefined;
    const l = this.line();
    if (l === this.lastLine) return;
    this.lastLine = l;
    this.lastAt = this.now();
    this.emit(l);
  }
}

function formatEta(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
