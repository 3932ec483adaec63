import type { ChainStep } from './types';

/** Edge labels (`via`), as small integers: 0 none, then the fixed ones, then `import NAME` by interned name. */
const VIA_FIXED: (ChainStep['via'] | undefined)[] = [undefined, 'call', 'indirect', 'entry', 'init', 'syscall()', 'dlsym'];
export const V_NONE = 0;
export const V_CALL = 1;
export const V_INDIRECT = 2;
export const V_ENTRY = 3;
export const V_INIT = 4;
export const V_SYSCALL_FN = 5;
export const V_DLSYM = 6;
/** Labels from here on are `import NAME`: a bound import call. */
export const V_FIRST_IMPORT = VIA_FIXED.length;

/** The `import NAME` labels, interned: an edge stores a small integer, a chain step the text. */
export class ViaLabels {
  private readonly names: string[] = [];
  private readonly ids = new Map<string, number>();

  importVia(name: string): number {
    let v = this.ids.get(name);
    if (v === undefined) {
      v = VIA_FIXED.length + this.names.length;
      this.names.push(name);
      this.ids.set(name, v);
    }
    return v;
  }

  /** The import name of an `import NAME` label (v >= V_FIRST_IMPORT). */
  importName(v: number): string {
    return this.names[v - VIA_FIXED.length];
  }

  viaOf(v: number): ChainStep['via'] | undefined {
    return v < VIA_FIXED.length ? VIA_FIXED[v] : `import ${this.names[v - VIA_FIXED.length]}`;
  }
}

/**
 * How the walk treats an edge. NORMAL: its target is reached. TAKES: its target becomes
 * an indirect-call target (reached once INDIRECT is). WHOLE_AT: INDIRECT → every
 * address-taken function, followed only for the whole-program figure.
 */
export const E_NORMAL = 0;
export const E_TAKES = 1;
export const E_WHOLE_AT = 2;

/**
 * Edges in insertion order as parallel typed arrays; the walk then reads them per
 * source node (CSR, stable), so a node's successors keep the order they were added in.
 * Duplicate edges are kept: the walk looks at a successor's first edge only, which is
 * the one a deduplicating graph would have kept (first insertion wins).
 */
export class EdgeList {
  n = 0;
  src = new Int32Array(1 << 12);
  dst = new Int32Array(1 << 12);
  via = new Int32Array(1 << 12);
  kind = new Uint8Array(1 << 12);
  /** The address of the instruction or data word the edge comes from (NaN: none, -1: a wrapper's number). */
  site = new Float64Array(1 << 12);
  /** The value layer's guard on the edge (analysis/link/guards.ts): 0 none, else guard id + 1. */
  guard = new Int32Array(1 << 12);

  add(a: number, b: number, via: number, site: number, kind = E_NORMAL, guard = 0): void {
    if (this.n === this.src.length) this.grow();
    const i = this.n++;
    this.src[i] = a;
    this.dst[i] = b;
    this.via[i] = via;
    this.site[i] = site;
    this.kind[i] = kind;
    this.guard[i] = guard;
  }

  private grow(): void {
    const cap = this.src.length * 2;
    const grown = <T extends Int32Array | Float64Array | Uint8Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(cap);
      b.set(a);
      return b;
    };
    this.src = grown(this.src, Int32Array);
    this.dst = grown(this.dst, Int32Array);
    this.via = grown(this.via, Int32Array);
    this.site = grown(this.site, Float64Array);
    this.kind = grown(this.kind, Uint8Array);
    this.guard = grown(this.guard, Int32Array);
  }
}

/**
 * Whether edge e enters its target as a call: a direct call or a bound import call, the
 * two ways whose argument facts (the summary's gv, ia) say what is passed. The value
 * layer's walk treats any other way in as "entered with any value" (walk.ts markFree),
 * and its decision reads only these in-edges (guard-values.ts).
 */
export function isCallEdge(edges: EdgeList, e: number): boolean {
  return edges.kind[e] === E_NORMAL && (edges.via[e] === V_CALL || edges.via[e] >= V_FIRST_IMPORT);
}

/** Compressed adjacency: the successors of node v are edges order[start[v]] .. order[start[v+1]-1]. */
export interface Adjacency {
  start: Int32Array;
  order: Int32Array;
}

export function adjacency(edges: EdgeList, nodes: number): Adjacency {
  const start = new Int32Array(nodes + 1);
  for (let e = 0; e < edges.n; e++) start[edges.src[e] + 1]++;
  for (let v = 0; v < nodes; v++) start[v + 1] += start[v];
  const fill = start.slice(0, nodes);
  const order = new Int32Array(edges.n);
  for (let e = 0; e < edges.n; e++) order[fill[edges.src[e]]++] = e;
  return { start, order };
}

/** Distinct (source, target) pairs of call-graph edges: what a graph without parallel edges would count. */
export function distinctEdges(edges: EdgeList, adj: Adjacency, nodes: number): number {
  const stamp = new Int32Array(nodes).fill(-1);
  let count = 0;
  for (let v = 0; v < nodes; v++) {
    for (let k = adj.start[v]; k < adj.start[v + 1]; k++) {
      const e = adj.order[k];
      if (edges.kind[e] === E_WHOLE_AT) continue;
      const d = edges.dst[e];
      if (stamp[d] !== v) {
        stamp[d] = v;
        count++;
      }
    }
  }
  return count;
}

/** The distinct targets of one node's edges of one kind (INDIRECT's WHOLE_AT edges: the whole-program rule's targets). */
export function distinctTargets(edges: EdgeList, adj: Adjacency, nodes: number, from: number, kind: number): number {
  const stamp = new Uint8Array(nodes);
  let count = 0;
  for (let k = adj.start[from]; k < adj.start[from + 1]; k++) {
    const e = adj.order[k];
    if (edges.kind[e] === kind && !stamp[edges.dst[e]]) {
      stamp[edges.dst[e]] = 1;
      count++;
    }
  }
  return count;
}
