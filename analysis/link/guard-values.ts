import { isCallEdge, V_CALL } from './edge-list';
import type { GuardInfo } from './guards';
import type { ProgramGraph } from './program-graph';
import { bareName } from '../elf';
import { fnName } from './program-objects';
import { type AbsValue, consts, describeKept, join, locKey, NONE, paramKey, sameValue, satisfiable, unknown, type ValueLoc } from './value-domain';
import { VALUE_MODELS, type ValueModel, zerosFor } from './value-models';

/**
 * The value layer's decision (issue 26): can a guard hold for some value its function
 * can be entered with, given what the walk has reached so far? The value of (function,
 * location) is the join, over every way the walk lets the function be entered, of:
 * - a direct call from a reached local caller (an edge the walk followed): the caller's
 *   `gv` for (function, param) — its constants, and through `from` the caller's own
 *   entry value (recursively); no `gv` entry: UNKNOWN;
 * - a bound import call from a reached function of an importer: its `ia` for the
 *   import and param; none: UNKNOWN;
 * - any other entry (ROOT: entry, constructor, a module's export; an indirect-call
 *   target once INDIRECT is open; an export looked up by name; the whole-program rule's
 *   targets): UNKNOWN.
 * A word at [param + off] has values only from a library value model (value-models.ts):
 * a modelled export's word is the model's fact (UNKNOWN once an enabler is reached),
 * passed on to callees through `from`; constants say nothing about memory (UNKNOWN).
 *
 * Values only grow as the walk reaches more, so a guard that cannot hold is re-checked
 * each time the walk's queue runs dry, and one that can is followed for good.
 */

/** How a node was entered other than by a direct or import call (Walker's `free` marks). */
export const FREE_ROOT = 1;
export const FREE_INDIRECT = 2;
export const FREE_BY_NAME = 3;

/** What the decision needs of a walk in progress. */
export interface GuardWalkState {
  seen: Uint8Array;
  /** Per node: 0, or how it was entered other than by a call (FREE_*). */
  free: Uint8Array;
  /** Per guard: whether its edges are followed. */
  open: Uint8Array;
}

interface Solved {
  value: AbsValue;
  node: number;
  loc: ValueLoc;
}

export class GuardValues {
  /** Call-like in-edges per function node (CSR over edge ids), built on first use. */
  private inStart?: Int32Array;
  private inEdges?: Int32Array;
  private readonly models = new Map<number, ValueModel[]>();
  /** Per model: the nodes of its enablers in every loaded object. */
  private readonly enablers = new Map<ValueModel, number[]>();
  private readonly importIdx = new Map<number, Map<string, number[]>>();

  constructor(private readonly g: ProgramGraph) {
    g.objects.forEach((ob, o) => {
      for (const m of VALUE_MODELS) {
        const names = new Set(m.enablers);
        for (const e of ob.summary.exports) if (names.has(bareName(e.name))) this.enablersOf(m).push(g.ids.fnNode(o, e.fn));
        if (!m.applies(ob)) continue;
        const fns = new Set(m.exports);
        for (const e of ob.summary.exports) {
          if (!fns.has(bareName(e.name))) continue;
          const n = g.ids.fnNode(o, e.fn);
          const l = this.models.get(n) ?? [];
          if (!l.includes(m)) l.push(m);
          this.models.set(n, l);
        }
      }
    });
  }

  private enablersOf(m: ValueModel): number[] {
    let l = this.enablers.get(m);
    if (!l) this.enablers.set(m, (l = []));
    return l;
  }

  /**
   * Of the guards `ids` (whose functions are reached and edges pending), those that can
   * hold now, each with the explanation `confine explain` shows.
   */
  satisfiable(ids: number[], st: GuardWalkState): Map<number, string> {
    const guards = this.g.guards.list;
    const solved = this.solve(ids.map((id) => ({ node: guards[id].node, loc: guards[id].loc })), st);
    const out = new Map<number, string>();
    for (const id of ids) {
      const gd = guards[id];
      const val = solved.get(key(gd.node, gd.loc))!.value;
      if (satisfiable(gd.cond, gd.loc, val)) out.set(id, this.explain(gd, val));
    }
    return out;
  }

  private explain(gd: GuardInfo, val: AbsValue): string {
    const what = gd.loc.off === undefined ? paramKey(gd.loc.p) : `[${paramKey(gd.loc.p)}+${gd.loc.off}]`;
    return describeKept(gd.cond, gd.loc, val, what);
  }

  /** The values of the given (node, location) pairs and of those they depend on, to a fixpoint. */
  private solve(roots: { node: number; loc: ValueLoc }[], st: GuardWalkState): Map<string, Solved> {
    const vals = new Map<string, Solved>();
    const users = new Map<string, Set<string>>();
    const work: string[] = [];
    const need = (node: number, loc: ValueLoc): string => {
      const k = key(node, loc);
      if (!vals.has(k)) {
        vals.set(k, { value: NONE, node, loc });
        work.push(k);
      }
      return k;
    };
    for (const r of roots) need(r.node, r.loc);
    while (work.length) {
      const k = work.pop()!;
      const cur = vals.get(k)!;
      const get = (node: number, loc: ValueLoc): AbsValue => {
        const d = need(node, loc);
        let u = users.get(d);
        if (!u) users.set(d, (u = new Set()));
        u.add(k);
        return vals.get(d)!.value;
      };
      const next = join(cur.value, this.entryValue(cur.node, cur.loc, st, get));
      if (!sameValue(next, cur.value)) {
        cur.value = next;
        for (const u of users.get(k) ?? []) work.push(u);
      } else cur.value = next;
    }
    return vals;
  }

  /** The join of what every entry the walk has followed into `node` brings to `loc`. */
  private entryValue(node: number, loc: ValueLoc, st: GuardWalkState, get: (node: number, loc: ValueLoc) => AbsValue): AbsValue {
    const { g } = this;
    const name = () => label(g, node);
    if (loc.off !== undefined) {
      // A model's fact holds of the object whoever enters the function.
      for (const m of this.models.get(node) ?? []) {
        const z = zerosFor(m, loc);
        if (z === undefined) continue;
        const on = this.enablersOf(m).find((n) => st.seen[n]);
        if (on !== undefined) return unknown(() => `${m.subject} is unknown because ${label(g, on)} is reached`);
        return { kind: 'zeros', z, why: () => `${m.subject} (${name()}'s ${locKey(loc)}) has only bits 0x${z.toString(16)} known clear (no enabler such as ${m.enablers[0]} is reached)` };
      }
    }
    const free = st.free[node];
    if (free) return unknown(() => `${name()} ${free === FREE_INDIRECT ? 'is an indirect-call target' : free === FREE_BY_NAME ? 'is looked up by name' : 'is an entry point, constructor or module export'}, entered with any value`);
    const { edges } = g;
    this.buildIn();
    const start = this.inStart!;
    const list = this.inEdges!;
    let val: AbsValue = NONE;
    const p = paramKey(loc.p);
    for (let k = start[node]; k < start[node + 1]; k++) {
      const e = list[k];
      const src = edges.src[e];
      if (!st.seen[src]) continue;
      const gid = edges.guard[e];
      if (gid !== 0 && !st.open[gid - 1]) continue;
      const so = g.ids.objectOf(src);
      const fn = g.objects[so].summary.functions[src - g.ids.fnBase[so]];
      const caller = () => label(g, src);
      let found = false;
      if (edges.via[e] === V_CALL) {
        const f = node - g.ids.fnBase[so];
        for (const x of fn.gv ?? []) {
          if (x.f !== f || paramKey(x.p) !== p) continue;
          found = true;
          if (!x.v?.length && x.from === undefined) return unknown(() => `${caller()} calls it with ${p} not known`);
          if (x.v?.length) val = join(val, loc.off !== undefined ? unknown(() => `${caller()} passes a constant pointer in ${p}`) : consts(x.v, caller));
          if (x.from !== undefined) val = join(val, get(src, { ...loc, p: x.from }));
        }
        if (!found) return unknown(() => `${caller()} calls it with ${p} not known`);
      } else {
        const idx = this.importIndexes(so, g.via.importName(edges.via[e]));
        for (const x of fn.ia ?? []) {
          if (!idx.includes(x.i) || paramKey(x.p) !== p) continue;
          found = true;
          val = join(val, loc.off !== undefined ? unknown(() => `${caller()} passes a constant pointer in ${p}`) : consts(x.v, caller));
        }
        if (!found) return unknown(() => `${caller()} calls it through an import with ${p} not known`);
      }
      if (val.kind === 'unknown') return val;
    }
    return val;
  }

  private importIndexes(o: number, name: string): number[] {
    let m = this.importIdx.get(o);
    if (!m) {
      m = new Map();
      this.g.objects[o].summary.imports.forEach((k, i) => {
        const l = m!.get(k) ?? [];
        l.push(i);
        m!.set(k, l);
      });
      this.importIdx.set(o, m);
    }
    return m.get(name) ?? [];
  }

  /** In-edges that are direct calls (V_CALL) or bound import calls, per target node. */
  private buildIn(): void {
    if (this.inStart) return;
    const { edges, ids } = this.g;
    const nodes = ids.count;
    const start = new Int32Array(nodes + 1);
    const callLike = (e: number) => isCallEdge(edges, e) && ids.isFunction(edges.src[e]) && ids.isFunction(edges.dst[e]);
    for (let e = 0; e < edges.n; e++) if (callLike(e)) start[edges.dst[e] + 1]++;
    for (let v = 0; v < nodes; v++) start[v + 1] += start[v];
    const fill = start.slice(0, nodes);
    const list = new Int32Array(start[nodes]);
    for (let e = 0; e < edges.n; e++) if (callLike(e)) list[fill[edges.dst[e]]++] = e;
    this.inStart = start;
    this.inEdges = list;
  }
}

const key = (node: number, loc: ValueLoc) => `${node}:${locKey(loc)}`;

function label(g: ProgramGraph, node: number): string {
  const o = g.ids.objectOf(node);
  const ob = g.objects[o];
  return `${ob.path.slice(ob.path.lastIndexOf('/') + 1)}:${fnName(ob, node - g.ids.fnBase[o])}`;
}
