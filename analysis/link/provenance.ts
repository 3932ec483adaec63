import { INDIRECT, ROOT, SPECIAL_KEYS } from './node-ids';
import type { ProgramGraph } from './program-graph';
import { fnName } from './program-objects';
import type { ChainStep, Provenance } from './types';
import type { Walk } from './walk';

/**
 * Chains for `confine analyze -v` and argument rules: for each node the walk reached,
 * one shortest chain from an entry point, read back along the first edge into each
 * node (Walk.parent), and for an indirect-call target what holds its address.
 */
export class Chains {
  constructor(
    private readonly g: ProgramGraph,
    private readonly full: Walk,
  ) {}

  /** For each syscall the walk reached, its chain and the site that makes it. */
  provenance(): Map<number, Provenance> {
    const { g, full } = this;
    const { ids, edges } = g;
    const provenance = new Map<number, Provenance>();
    for (let k = 0; k < full.parentedCount; k++) {
      const v = full.parented[k];
      if (!ids.isSyscall(v)) continue;
      const steps = this.stepsTo(v);
      const pe = full.parentEdge[v];
      const site = pe >= 0 ? edges.site[pe] : NaN;
      const from = full.parent[v];
      const kept = this.keptBy(pe);
      provenance.set(ids.nrOf(v), {
        steps,
        site: Number.isNaN(site) ? -1 : site,
        siteObject: ids.isFunction(from) ? g.objects[ids.objectOf(from)].path : '',
        ...(kept ? { kept } : {}),
      });
    }
    return provenance;
  }

  /** A shortest chain from an entry point to object o's function f, ending with it. */
  chainTo(o: number, f: number): ChainStep[] {
    const { full, g } = this;
    const v = g.ids.fnBase[o] + f;
    const pe = full.parentEdge[v];
    const via = pe >= 0 ? g.via.viaOf(g.edges.via[pe]) : undefined;
    const kept = this.keptBy(pe);
    return [...this.stepsTo(v), { ...this.label(v), ...(via ? { via } : {}), ...(kept ? { kept } : {}) }];
  }

  /** One shortest chain from an entry point to the parent of node v (v itself excluded). */
  private stepsTo(v: number): ChainStep[] {
    const { full, g } = this;
    const chain: number[] = [];
    for (let p = full.parent[v]; p >= 0 && p !== ROOT; p = full.parent[p]) chain.push(p);
    chain.reverse();
    // INDIRECT is not a step: the step after it is entered `via: 'indirect'` from the one before.
    const steps: ChainStep[] = [];
    for (const n of chain) {
      if (n === INDIRECT || g.ids.isRegion(n)) continue;
      const pe = full.parentEdge[n];
      const via = full.parent[n] === INDIRECT ? 'indirect' : pe >= 0 ? g.via.viaOf(g.edges.via[pe]) : 'dlsym';
      const tb = via === 'indirect' ? this.takenBy(n) : undefined;
      const kept = this.keptBy(pe);
      steps.push({ ...this.label(n), ...(via ? { via } : {}), ...(tb ? { takenBy: tb } : {}), ...(kept ? { kept } : {}) });
    }
    return steps;
  }

  /** For an edge the value layer followed only once its guard could hold: which value kept it, and from which function. */
  private keptBy(e: number): string | undefined {
    if (e < 0) return undefined;
    const gid = this.g.edges.guard[e];
    const why = gid ? this.full.guardKept[gid - 1] : undefined;
    if (!why) return undefined;
    const from = this.label(this.g.edges.src[e]);
    return `${from.object.slice(from.object.lastIndexOf('/') + 1)}:${from.function}: ${why}`;
  }

  private label(v: number): { object: string; function: string } {
    const { ids, objects } = this.g;
    if (ids.isFunction(v)) {
      const o = ids.objectOf(v);
      return { object: objects[o].path, function: fnName(objects[o], v - ids.fnBase[o]) };
    }
    if (ids.isRegion(v)) {
      const o = ids.objectOf(v);
      return { object: objects[o].path, function: `data@0x${objects[o].summary.regions![v - ids.regionBase[o]].a.toString(16)}` };
    }
    return { object: '', function: v < SPECIAL_KEYS.length ? SPECIAL_KEYS[v] : `#${ids.nrOf(v)}` };
  }

  /** Why a function is an indirect-call target: the code or data word holding its address, and what made that live. */
  private takenBy(v: number): string | undefined {
    const { full, g } = this;
    const { ids, edges } = g;
    const e = full.takenEdge[v];
    if (e < 0) return undefined;
    const src = edges.src[e];
    if (src === ROOT) return 'a target whatever runs (a personality routine the unwinder calls, or a summary without data facts)';
    const l = this.label(src);
    if (src < ids.fnNodes) return `its address is materialised by ${l.object}:${l.function}`;
    const word = edges.site[e];
    let why = `its address is in the data word 0x${word.toString(16)} of ${l.object} (region ${l.function.slice(5)})`;
    // Which reached code (or always-live root) made that region live.
    let r = src;
    for (let hops = 0; hops < 16 && ids.isRegion(r); hops++) r = full.parent[r];
    if (r === ROOT) why += ', live whatever runs';
    else if (ids.isFunction(r)) {
      const f = this.label(r);
      why += `, referred to by ${f.object}:${f.function}`;
    }
    return why;
  }
}
