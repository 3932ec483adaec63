/**
 * What an image's `--exec-too` programs cost its profile, as the run table, the stats
 * stage, `confine stats` and run-summary.json show it: `126 → 131 with shell`.
 */
import type { ProfileArtifact } from '../../schemas/types';

export type ExecToo = NonNullable<ProfileArtifact['execToo']>;

/** The figures run-summary.json keeps per image (read back by `confine stats`). */
export interface ExecCost {
  /** The list as asked (`shell`, names, paths). */
  asked: string[];
  allowedWithout: number;
  allowedWith: number;
  /** Programs found, as `name (path)`. */
  programs: string[];
  /** Common tools of `shell` the image does not have. */
  missingTools: string[];
  /** Each added syscall and what needs it. */
  added: { syscall: string; by: string[] }[];
}

export function execCostOf(p: Pick<ProfileArtifact, 'allowedCount' | 'execToo'>): ExecCost | undefined {
  const e = p.execToo;
  if (!e) return undefined;
  return {
    asked: e.asked,
    allowedWithout: e.allowedWithout,
    allowedWith: p.allowedCount,
    programs: e.programs.map((x) => (x.path.endsWith(`/${x.name}`) ? x.path : `${x.name} (${x.path})`)),
    missingTools: e.missingTools,
    added: e.added,
  };
}

/** `126 → 131 with shell` */
export function formatExecCount(c: Pick<ExecCost, 'asked' | 'allowedWithout' | 'allowedWith'>): string {
  return `${c.allowedWithout} → ${c.allowedWith} with ${c.asked.join(',')}`;
}

/** One line per image: the counts, which programs were found (and which tools not), what each added syscall is for. */
export function formatExecCostLine(image: string, c: ExecCost): string {
  const added = c.added.length ? `; adds ${c.added.map((a) => `${a.syscall} (${a.by.join(', ')})`).join(', ')}` : '; adds nothing';
  const missing = c.missingTools.length ? `; not in the image: ${c.missingTools.join(', ')}` : '';
  return `${image} ${formatExecCount(c)}: ${c.programs.join(', ')}${missing}${added}`;
}

/** The per-image exec costs a run-summary.json holds (rows' `execToo`), for `confine stats`. */
export function execCostsFromRunSummary(json: unknown): { image: string; cost: ExecCost }[] {
  const rows = (json as { rows?: { image?: unknown; execToo?: ExecCost }[] })?.rows;
  if (!Array.isArray(rows)) return [];
  return rows.filter((r) => typeof r.image === 'string' && r.execToo && typeof r.execToo.allowedWithout === 'number').map((r) => ({ image: r.image as string, cost: r.execToo! }));
}
