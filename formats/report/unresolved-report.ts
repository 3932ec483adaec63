import Papa from 'papaparse';
import type { UnresolvedSite } from '../../analysis/link/unresolved-sites';

/** One image's reached syscall sites with an unknown number, and whether it kept the base profile (not hardened) or was narrowed anyway (--narrow-past-unknown-sites). */
export interface ImageUnresolved {
  image: string;
  sites: UnresolvedSite[];
  /** The reason the profile is the base profile whole, when it is. */
  fallback?: string;
}

export const UNRESOLVED_CSV = 'unresolved.sites.csv';

/** One line per (image, site): nothing summarised away. */
export function unresolvedCsv(list: ImageUnresolved[]): string {
  const data = list.flatMap((i) =>
    i.sites.map((u) => [i.image, u.object, `0x${u.site.toString(16)}`, u.function, u.reasons.join(' | '), u.binaries.join(' '), i.fallback ? 'not hardened (base profile)' : 'narrowed anyway']),
  );
  return Papa.unparse({ fields: ['Image', 'Object', 'Site', 'Function', 'Reasons', 'Reached From', 'Profile'], data }, { delimiter: ';', newline: '\n' }) + '\n';
}

/**
 * The per-image lists from a run-summary.json (for `confine stats` on report files):
 * its rows carry `unresolvedSites` and `profileFallback`. A file without them gives [].
 */
export function unresolvedFromRunSummary(json: unknown): ImageUnresolved[] {
  const rows = (json as { rows?: unknown })?.rows;
  if (!Array.isArray(rows)) return [];
  const out: ImageUnresolved[] = [];
  for (const r of rows as { image?: unknown; unresolvedSites?: unknown; profileFallback?: unknown }[]) {
    if (typeof r?.image !== 'string' || !Array.isArray(r.unresolvedSites)) continue;
    const sites = (r.unresolvedSites as UnresolvedSite[]).filter((u) => u && typeof u.object === 'string' && Number.isInteger(u.site) && Array.isArray(u.reasons) && Array.isArray(u.binaries));
    if (!sites.length && typeof r.profileFallback !== 'string') continue;
    out.push({ image: r.image, sites, ...(typeof r.profileFallback === 'string' ? { fallback: r.profileFallback } : {}) });
  }
  return out;
}
