import { type Adjacency, E_NORMAL, E_TAKES, type EdgeList, isCallEdge, V_ENTRY } from './edge-list';
import { FREE_BY_NAME, FREE_INDIRECT, FREE_ROOT, type GuardValues } from './guard-values';
import { type LateRoots, LateRootScan, type WalkFrontier } from './late-roots';
import type { EdgeGate } from './library-models';
import { INDIRECT, ROOT } from './node-ids';

/**
 * The walk: breadth-first from ROOT over the program graph, to a fixpoint. Three rules:
 * 'direct' follows direct edges only (INDIRECT is reached but not expanded, and not
 * counted as seen); 'reachable' expands INDIRECT to each indirect-call target (TAKES
 * edge) as it is taken; 'whole' expands it to every address-taken function (WHOLE_AT).
 *
 * The unit has two parts: what following an edge does (Walker.expand, the place a
 * new kind of edge goes), and the fixpoint (reach): drain the queue, then ROOT's other
 * roots, then the by-name roots (late-roots.ts), then the guards (below), until a
 * round enqueues nothing.
 *
 * With the value layer (issue 26, `values`), an edge marked with a guard
 * (EdgeList.guard, guards.ts) is not followed when its function is expanded: it waits
 * in its guard's list. When the queue runs dry, each waiting guard is decided on what
 * the walk has reached (guard-values.ts); one that can hold releases its edges, one
 * that cannot waits for the next dry queue. Value sets only grow, so this is monotone.
 */

export type Rule = 'direct' | 'reachable' | 'whole';

/** The graph a walk runs on: edges, their per-node adjacency, and how many nodes there are. */
export interface WalkGraph {
  edges: EdgeList;
  adj: Adjacency;
  nodes: number;
}

export interface Walk {
  /** Nodes in the order the breadth-first walk expanded them (ROOT first). */
  visited: Int32Array;
  visitedCount: number;
  seen: Uint8Array;
  /** The node that first named each node, and through which edge (-1: none). */
  parent: Int32Array;
  parentEdge: Int32Array;
  /** Nodes in the order they got their parent. */
  parented: Int32Array;
  parentedCount: number;
  /** For indirect-call targets: the TAKES edge that first made them one (-1: none). */
  takenEdge: Int32Array;
  targets: number;
  /** With the value layer: per guard id, why its edges were followed (undefined: never). */
  guardKept: (string | undefined)[];
}

/** Which of a node's edges expand() follows: ROOT's entry edges go first. */
const ALL_EDGES = 0;
const ENTRIES_ONLY = 1;
const ALL_BUT_ENTRIES = 2;

/**
 * A node's parent is the first expanded node with an edge to it (so chains are
 * shortest). The program's entries are expanded first: chains then start where the
 * program does, and the other roots (constructors, IFUNC resolvers, by-name lookups)
 * only parent what the entries do not reach. What is reached is the same either way.
 */
export function reach(graph: WalkGraph, rule: Rule, withParents: boolean, late: LateRoots, values?: GuardValues, guardCount = 0, edgeGate?: EdgeGate): Walk {
  const w = new Walker(graph, rule, withParents, values, guardCount, edgeGate);
  const byName = new LateRootScan(late);
  w.enqueue(ROOT, -1, -1);
  let rootDone = false;
  for (;;) {
    w.drain();
    if (!rootDone) {
      rootDone = true;
      w.expand(ROOT, ALL_BUT_ENTRIES);
      continue;
    }
    // The queue ran dry: do the names reached so far name more roots?
    byName.widen(w);
    if (w.idle()) w.releaseGuards();
    if (w.idle()) break;
  }
  return w.result();
}

/** One walk's state: the queue, what is seen and taken, and (withParents) the first edge into each node. */
class Walker implements WalkFrontier {
  readonly queued: Uint8Array;
  readonly seen: Uint8Array;
  readonly visited: Int32Array;
  visitedCount = 0;
  private readonly queue: Int32Array;
  private head = 0;
  private tail = 0;
  /** Indirect-call targets taken so far (TAKES edges followed), in order. */
  private readonly taken: Uint8Array;
  private readonly takenList: number[] = [];
  /** Whether INDIRECT has been expanded: from then on, each new target is enqueued as it is taken. */
  private indirectOpen = false;
  private readonly parent: Int32Array;
  private readonly parentEdge: Int32Array;
  private readonly parented: Int32Array;
  private parentedCount = 0;
  private readonly takenEdge: Int32Array;
  private readonly edges: EdgeList;
  private readonly adj: Adjacency;
  /** The value layer's state (null/empty without it): each edge's guard mark (EdgeList.guard: 0 none, else guard id + 1), the guards whose edges are followed, the edges waiting per guard (a list through `waitNext`), and how each node was entered other than by a call. */
  private readonly guardOf: Int32Array | null;
  private readonly open: Uint8Array;
  private readonly waitHead: Int32Array;
  private readonly waitNext: Int32Array;
  private readonly free: Uint8Array;
  private readonly kept: (string | undefined)[] = [];

  /** edgeGate: a library model's held edges (library-models.ts), followed once the walk reaches what releases them. */
  constructor(
    graph: WalkGraph,
    private readonly rule: Rule,
    private readonly withParents: boolean,
    private readonly values?: GuardValues,
    guardCount = 0,
    private readonly edgeGate?: EdgeGate,
  ) {
    const nodes = graph.nodes;
    this.edges = graph.edges;
    this.adj = graph.adj;
    this.queued = new Uint8Array(nodes);
    this.seen = new Uint8Array(nodes);
    this.taken = new Uint8Array(nodes);
    this.queue = new Int32Array(nodes);
    this.visited = new Int32Array(nodes);
    this.parent = new Int32Array(withParents ? nodes : 0).fill(-1);
    this.parentEdge = new Int32Array(withParents ? nodes : 0).fill(-1);
    this.parented = new Int32Array(withParents ? nodes : 0);
    this.takenEdge = new Int32Array(withParents ? nodes : 0).fill(-1);
    const layer = values !== undefined && guardCount > 0;
    this.guardOf = layer ? graph.edges.guard : null;
    this.open = new Uint8Array(layer ? guardCount : 0);
    this.waitHead = new Int32Array(layer ? guardCount : 0).fill(-1);
    this.waitNext = new Int32Array(layer ? graph.edges.n : 0);
    this.free = new Uint8Array(layer ? nodes : 0);
  }

  /** Node d is named by node `from` through edge e: its parent if it has none, queued if it never was. */
  enqueue(d: number, from: number, e: number): void {
    if (this.guardOf !== null && !this.free[d]) this.markFree(d, from, e);
    if (this.withParents && this.parent[d] < 0 && d !== ROOT) {
      this.parent[d] = from;
      this.parentEdge[d] = e;
      this.parented[this.parentedCount++] = d;
    }
    if (!this.queued[d]) {
      this.queued[d] = 1;
      this.queue[this.tail++] = d;
    }
  }

  /** With the value layer: d entered through e other than by a direct or import call is entered with unknown values. */
  private markFree(d: number, from: number, e: number): void {
    const { kind, src } = this.edges;
    if (e >= 0 && src[e] !== ROOT && isCallEdge(this.edges, e)) return;
    this.free[d] = e < 0 ? (from === INDIRECT ? FREE_INDIRECT : FREE_BY_NAME) : kind[e] === E_NORMAL ? FREE_ROOT : FREE_INDIRECT;
  }

  /** d becomes an indirect-call target through TAKES edge e; it is reached once INDIRECT is. */
  private take(d: number, e: number): void {
    if (this.rule !== 'reachable' || this.taken[d]) return;
    this.taken[d] = 1;
    this.takenList.push(d);
    if (this.withParents) this.takenEdge[d] = e;
    if (this.indirectOpen) this.enqueue(d, INDIRECT, e);
  }

  /**
   * Edge addition: follows node v's edges (those `which` selects) under this walk's
   * rule. NORMAL reaches its target; TAKES makes it an indirect-call target; WHOLE_AT
   * reaches it under 'whole' only. A new kind of edge is decided here.
   */
  expand(v: number, which: number): void {
    const { start, order } = this.adj;
    const { dst, via, kind } = this.edges;
    const guardOf = this.guardOf;
    for (let k = start[v]; k < start[v + 1]; k++) {
      const e = order[k];
      // Marks (TAKES) reach nothing by themselves: they go with the entries.
      if (which !== ALL_EDGES && (via[e] === V_ENTRY || kind[e] === E_TAKES) !== (which === ENTRIES_ONLY)) continue;
      if (guardOf !== null && guardOf[e] !== 0 && !this.open[guardOf[e] - 1]) {
        // A guarded edge waits for its guard (releaseGuards).
        this.waitNext[e] = this.waitHead[guardOf[e] - 1];
        this.waitHead[guardOf[e] - 1] = e;
        continue;
      }
      const ek = kind[e];
      if (ek === E_NORMAL) {
        if (!this.edgeGate?.holds(e)) this.enqueue(dst[e], v, e);
      } else if (ek === E_TAKES) {
        if (!this.edgeGate?.holds(e)) this.take(dst[e], e);
      } else if (this.rule === 'whole') this.enqueue(dst[e], v, e);
    }
  }

  /** Expands every queued node until the queue is empty. */
  drain(): void {
    const { rule, queue, seen, visited } = this;
    let count = this.visitedCount;
    while (this.head < this.tail) {
      const v = queue[this.head++];
      if (v === INDIRECT && rule === 'direct') continue;
      seen[v] = 1;
      visited[count++] = v;
      if (this.edgeGate) for (const e of this.edgeGate.release(v)) this.follow(e);
      if (v === INDIRECT && rule === 'reachable') this.openIndirect();
      this.expand(v, v === ROOT ? ENTRIES_ONLY : ALL_EDGES);
    }
    this.visitedCount = count;
  }

  /** A held edge released by the gate: followed as expand would have. */
  private follow(e: number): void {
    const { kind, src, dst } = this.edges;
    if (kind[e] === E_NORMAL) this.enqueue(dst[e], src[e], e);
    else if (kind[e] === E_TAKES) this.take(dst[e], e);
  }

  /** INDIRECT is reached: every target taken so far is too. */
  private openIndirect(): void {
    this.indirectOpen = true;
    for (const t of this.takenList) this.enqueue(t, INDIRECT, this.takenEdge.length ? this.takenEdge[t] : -1);
  }

  /**
   * The queue ran dry: each guard with waiting edges that can now hold (on what is
   * reached so far) releases them, in the order they were added; the others wait.
   */
  releaseGuards(): void {
    if (this.guardOf === null) return;
    const waiting: number[] = [];
    for (let id = 0; id < this.waitHead.length; id++) if (this.waitHead[id] >= 0) waiting.push(id);
    if (!waiting.length) return;
    const can = this.values!.satisfiable(waiting, { seen: this.seen, free: this.free, open: this.open });
    const { src, dst } = this.edges;
    for (const [id, why] of can) {
      this.open[id] = 1;
      this.kept[id] = why;
      const list: number[] = [];
      for (let e = this.waitHead[id]; e >= 0; e = this.waitNext[e]) list.push(e);
      this.waitHead[id] = -1;
      for (let k = list.length - 1; k >= 0; k--) this.enqueue(dst[list[k]], src[list[k]], list[k]);
    }
  }

  /** Whether nothing is queued: after a by-name step, the fixpoint. */
  idle(): boolean {
    return this.head === this.tail;
  }

  result(): Walk {
    const { visited, visitedCount, seen, parent, parentEdge, parented, parentedCount, takenEdge } = this;
    return { visited, visitedCount, seen, parent, parentEdge, parented, parentedCount, takenEdge, targets: this.rule === 'reachable' ? this.takenList.length : 0, guardKept: this.kept };
  }
}
