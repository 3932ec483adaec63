import type { RunResult, UnitOutcome } from '../pipeline/runner';

export interface SummaryRow {
  image: string;
  done: number;
  reused: number;
  failed: number;
  skipped: number;
  interrupted: number;
  error?: string;
}

export function summarise(result: RunResult): SummaryRow[] {
  const row = (u: UnitOutcome, label = u.unit): SummaryRow => {
    const count = (s: string) => u.stages.filter((o) => o.status === s).length;
    const firstError = u.stages.find((o) => o.error)?.error;
    return {
      image: label, done: count('done'), reused: count('reused'), failed: count('failed'),
      skipped: count('skipped'), interrupted: count('interrupted'),
      ...(firstError ? { error: firstError.describe() } : {}),
    };
  };
  const rows = result.units.map((u) => row(u));
  if (result.before.stages.length) rows.unshift(row(result.before, '(before all images)'));
  if (result.after.stages.length) rows.push(row(result.after, '(after all images)'));
  return rows;
}

/** A fixed-width table for the terminal; the error column is last so it can run long. */
export function formatSummary(rows: SummaryRow[]): string {
  const head = ['image', 'done', 'reused', 'failed', 'skipped', 'error'];
  const cells = rows.map((r) => [r.image, String(r.done), String(r.reused), String(r.failed + r.interrupted), String(r.skipped), r.error ?? '']);
  const widths = head.slice(0, 5).map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) => c.map((v, i) => (i < 5 ? v.padEnd(widths[i]) : v)).join('  ').trimEnd();
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w)).concat('-----')), ...cells.map(fmt)].join('\n');
}
