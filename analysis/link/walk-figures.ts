import type { NodeIds } from './node-ids';
import { INDIRECT } from './node-ids';
import type { ProgramGraph } from './program-graph';
import { fnName } from './program-objects';
import type { UnresolvedSiteReport } from './types';
import type { Walk } from './walk';

/** What a finished walk reached, as the figures ProgramResolution reports. */

/** The syscall numbers a walk reached. */
export function syscallsOf(w: Walk, ids: NodeIds): Set<number> {
  const out = new Set<number>();
  for (let k = 0; k < w.visitedCount; k++) {
    const v = w.visited[k];
    if (ids.isSyscall(v)) out.add(ids.nrOf(v));
  }
  return out;
}

/** The pending unresolved sites whose function the walk reached, each once, in the order they were found. */
export function reachedUnresolvedSites(g: ProgramGraph, full: Walk): UnresolvedSiteReport[] {
  const out: UnresolvedSiteReport[] = [];
  const seenSite = new Set<string>();
  const indirectReached = full.seen[INDIRECT] === 1;
  for (const u of g.pendingUnresolved) {
    const reached = u.o === -1 ? indirectReached : full.seen[g.ids.fnBase[u.o] + u.f] === 1;
    if (!reached) continue;
    const key = `${u.siteObject}:${u.site}:${u.reason}`;
    if (seenSite.has(key)) continue;
    seenSite.add(key);
    out.push({ object: g.objects[u.siteObject].path, site: u.site, function: u.o === -1 ? '(indirect)' : fnName(g.objects[u.o], u.f), reason: u.reason });
  }
  return out;
}

/** Per object: how many of its functions the walk reached, and the syscalls they make. */
export function perObjectFigures(g: ProgramGraph, full: Walk): { path: string; functions: number; reachedFunctions: number; syscalls: number[] }[] {
  return g.objects.map((ob, o) => {
    let reached = 0;
    const nrs = new Set<number>();
    const base = g.ids.fnBase[o];
    ob.summary.functions.forEach((fn, f) => {
      if (!full.seen[base + f]) return;
      reached++;
      for (const st of fn.s ?? []) st.nr.forEach((n) => nrs.add(n));
    });
    for (const x of ob.summary.importArgs) for (const u of x.uses) if (full.seen[base + u.fn]) u.nr.forEach((n) => nrs.add(n));
    return { path: ob.path, functions: ob.summary.functions.length, reachedFunctions: reached, syscalls: [...nrs].sort((x, y) => x - y) };
  });
}

/** The name hashes reached *code* refers to (ProgramResolution.reachedNames: live data's are left out). */
export function namesReachedCode(full: Walk, ids: NodeIds, namesOf: Map<number, number[]>): Set<number> {
  const out = new Set<number>();
  for (let k = 0; k < full.visitedCount; k++) {
    const v = full.visited[k];
    if (v < ids.fnNodes) for (const h of namesOf.get(v) ?? []) out.add(h);
  }
  return out;
}
