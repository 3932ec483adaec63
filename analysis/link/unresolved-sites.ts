import type { UnresolvedSiteReport } from './types';

/** One reached syscall site whose number is unknown on some path, over every program of an image. */
export interface UnresolvedSite {
  object: string;
  site: number;
  function: string;
  reasons: string[];
  binaries: string[];
}

/**
 * Gathers the unresolved sites of several whole-program walks (one image): the same
 * site reached from several programs (libc's, typically) is listed once, with every
 * reason and every program that reaches it, so none is dropped and none is counted twice.
 */
export class UnresolvedSites {
  private readonly bySite = new Map<string, { object: string; site: number; function: string; reasons: Set<string>; binaries: Set<string> }>();

  add(binary: string, sites: readonly UnresolvedSiteReport[]): void {
    for (const u of sites) {
      const key = `${u.object}\u0000${u.site}`;
      let e = this.bySite.get(key);
      if (!e) this.bySite.set(key, (e = { object: u.object, site: u.site, function: u.function, reasons: new Set(), binaries: new Set() }));
      e.reasons.add(u.reason);
      e.binaries.add(binary);
    }
  }

  get size(): number {
    return this.bySite.size;
  }

  /** By object, then address; reasons and programs sorted. */
  list(): UnresolvedSite[] {
    return [...this.bySite.values()]
      .map((e) => ({ object: e.object, site: e.site, function: e.function, reasons: [...e.reasons].sort(), binaries: [...e.binaries].sort() }))
      .sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : a.site - b.site));
  }
}

/** Longest reason text a one-line form shows (the artifacts keep every reason). */
const MAX_REASON_CHARS = 240;

/** `object@0xSITE in FUNCTION: reason; reason` — one line per site for tables and logs, its reasons cut to a readable length. */
export function formatUnresolvedSite(u: Pick<UnresolvedSite, 'object' | 'site' | 'function' | 'reasons'>): string {
  const parts = u.reasons.flatMap((r) => r.split('; '));
  let text = '';
  let shown = 0;
  for (const p of parts) {
    if (shown && text.length + p.length + 2 > MAX_REASON_CHARS) break;
    text += (shown ? '; ' : '') + p;
    shown++;
  }
  if (shown < parts.length) text += `; … (${parts.length - shown} more)`;
  return `${u.object}@0x${u.site.toString(16)} in ${u.function}: ${text}`;
}
