import { nameHash } from '../summary/name-hashes';
import type { ArgWalkView } from './arg-rules';
import { E_NORMAL, V_DLSYM, V_ENTRY, V_INIT } from './edge-list';
import type { LateRoots } from './late-roots';
import { INDIRECT, ROOT } from './node-ids';
import type { ProgramGraph } from './program-graph';
import { bareName } from '../elf';
import type { ChainStep } from './types';
import type { Walk } from './walk';

/**
 * The walk as argument rules see it (analysis/link/arg-rules.ts). A function counts as
 * entered other than by direct calls when it is an indirect-call target of a walk that
 * makes indirect calls, when an entry, init or dlsym edge from a reached node leads to
 * it, or when reached code or data names one of its exports while lookups by name are
 * possible.
 */
export function argView(g: ProgramGraph, full: Walk, late: LateRoots, chain: (o: number, f: number) => ChainStep[]): ArgWalkView {
  const { objects, ids, edges } = g;
  const indirectReached = full.seen[INDIRECT] === 1;
  let rooted: Map<number, string> | undefined;
  let names: Set<number> | undefined;
  /** Functions a reached root, entry, init or dlsym edge leads to, and why (the first such edge). */
  const otherEdges = () => {
    if (rooted) return rooted;
    rooted = new Map();
    for (let e = 0; e < edges.n; e++) {
      if (edges.kind[e] !== E_NORMAL || !full.seen[edges.src[e]]) continue;
      const v = edges.via[e];
      const why = edges.src[e] === ROOT ? 'is a root of the walk' : v === V_ENTRY ? 'is an entry point' : v === V_INIT ? 'runs as a constructor' : v === V_DLSYM ? 'is found by dlsym' : undefined;
      if (why && !rooted.has(edges.dst[e])) rooted.set(edges.dst[e], why);
    }
    return rooted;
  };
  /** The names reached code and data can look up: the loader's always, everyone's once a dlsym is reached. */
  const namesSeen = () => {
    if (names) return names;
    names = new Set();
    const dlsym = late.dlsymNodes.some((n) => full.seen[n]);
    for (let k = 0; k < full.visitedCount; k++) {
      const v = full.visited[k];
      if (!dlsym && !late.isLoaderNode(v)) continue;
      for (const h of late.namesOf.get(v) ?? []) names.add(h);
    }
    return names;
  };
  return {
    objects,
    reached: (o: number, f: number) => full.seen[ids.fnBase[o] + f] === 1,
    enteredOtherwise: (o: number, f: number): string | undefined => {
      const v = ids.fnBase[o] + f;
      if (indirectReached && full.takenEdge[v] >= 0) return 'is an indirect-call target (its address is held by reached code or live data)';
      const why = otherEdges().get(v);
      if (why) return why;
      if (full.parent[v] >= 0 && full.parentEdge[v] < 0 && full.parent[v] !== INDIRECT) return 'is looked up by name';
      for (const e of objects[o].summary.exports) {
        if (e.fn !== f) continue;
        if (namesSeen().has(nameHash(bareName(e.name)))) return 'may be looked up by name (its name is in reached code or data)';
      }
      return undefined;
    },
    boundTo: (o: number, i: number) => (g.imports.functions[o].get(i) ?? []).map((b) => { const bo = ids.objectOf(b); return { o: bo, f: b - ids.fnBase[bo] }; }),
    chain,
  };
}
