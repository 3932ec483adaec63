import { BatchProgress, type UnitEnd } from './batch-progress';
import type { StageStatus } from './ledger';
import { fieldSafe, terminalSafe } from './terminal-text';

export interface StageEvent {
  unit: string;
  stage: string;
  status: StageStatus;
  ms?: number;
  detail?: string;
}

/** Where the runner tells people what happens: a live display on a TTY, plain lines otherwise. */
export interface Reporter {
  stage(e: StageEvent): void;
  progress(unit: string, stage: string, message: string): void;
  log(unit: string, stage: string, line: string, replayed: boolean): void;
  /** The batch starts with this many units (images); called once, before any stage. */
  batch?(total: number): void;
  /** A unit's per-image stages are over: done, failed (a stage failed or was skipped) or interrupted. */
  unitDone?(unit: string, how: UnitEnd): void;
  close(): void;
}

export class PlainReporter implements Reporter {
  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
    private readonly debug = false,
  ) {}

  stage(e: StageEvent): void {
    if (e.status === 'running' || e.status === 'pending') {
      if (this.debug) this.write(`[${e.unit}] ${e.stage}: started`);
      return;
    }
    const ms = e.ms !== undefined ? ` (${formatMs(e.ms)})` : '';
    this.write(`[${e.unit}] ${e.stage}: ${e.status}${ms}${e.detail ? ' — ' + fieldSafe(e.detail) : ''}`);
  }

  progress(unit: string, stage: string, message: string): void {
    if (this.debug) this.write(`[${unit}] ${stage}: ${fieldSafe(message)}`);
  }

  log(unit: string, stage: string, line: string, replayed: boolean): void {
    if (this.debug) this.write(`[${unit}] ${stage}${replayed ? ' (cached)' : ''}: ${fieldSafe(line)}`);
  }

  close(): void {}
}

/**
 * Redraws one line per image in flight (its current stage and last progress message)
 * below the finished lines. Finished stages still print as plain lines above.
 */
export class TtyReporter implements Reporter {
  private active = new Map<string, string>();
  private progressOfBatch?: BatchProgress;
  private closed = false;
  private drawn = 0;
  private timer: NodeJS.Timeout;
  private readonly plain: PlainReporter;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    debug = false,
  ) {
    this.plain = new PlainReporter((l) => this.above(l), debug);
    this.timer = setInterval(() => this.redraw(), 250);
    this.timer.unref();
  }

  batch(total: number): void {
    this.progressOfBatch = new BatchProgress(total);
  }

  unitDone(unit: string, how: UnitEnd): void {
    this.progressOfBatch?.end(unit, how);
    this.redraw();
  }

  stage(e: StageEvent): void {
    if (e.unit !== '*') this.progressOfBatch?.touch(e.unit);
    if (e.status === 'running') this.active.set(e.unit, `${e.stage}…`);
    else this.active.delete(e.unit);
    this.plain.stage(e);
    this.redraw();
  }

  progress(unit: string, stage: string, message: string): void {
    this.active.set(unit, `${stage}: ${message}`);
  }

  log(unit: string, stage: string, line: string, replayed: boolean): void {
    this.plain.log(unit, stage, line, replayed);
  }

  close(): void {
    clearInterval(this.timer);
    this.clear();
    if (this.closed) return;
    this.closed = true;
    if (this.progressOfBatch) this.out.write(this.progressOfBatch.finalLine() + '\n');
  }

  private above(line: string): void {
    this.clear();
    // `out` may be the raw terminal (it must pass our own cursor codes): escape image text here.
    this.out.write(terminalSafe(line) + '\n');
    this.redraw();
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private redraw(): void {
    if (this.closed) return;
    this.clear();
    // A pty with no size set reports 0 columns: draw as for a common terminal then.
    const width = Math.max(20, (this.out.columns || 100) - 1);
    const lines = [...this.active].slice(0, 20).map(([u, s]) => terminalSafe(`  ⋯ ${u}: ${s}`, false).slice(0, width));
    if (this.progressOfBatch) lines.unshift(terminalSafe(this.progressOfBatch.line(), false).slice(0, width));
    if (lines.length) this.out.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
