/**
 * The call graph as a graphology DirectedGraph: one node per function, one node per
 * syscall number (keyed `syscall(N)`, the seed's spelling — no function name can
 * contain parentheses, so the keys never collide with the libc function `syscall`).
 * Several seed files merge into one graph, as the seed merged libc with `-c` graphs.
 */
import { DirectedGraph } from 'graphology';
import { bfsFromNode } from 'graphology-traversal';
import type { SeedCallgraph } from './seed-format';

export type CallNode =
  | { kind: 'function'; unresolvedSyscalls?: number; indirectCalls?: boolean }
  | { kind: 'syscall'; nr: number };

export type CallGraph = DirectedGraph<CallNode>;

export const syscallNodeKey = (nr: number): string => `syscall(${nr})`;

export function buildCallGraph(sources: SeedCallgraph | SeedCallgraph[]): CallGraph {
  const graph: CallGraph = new DirectedGraph<CallNode>();
  const fn = (name: string) => {
    if (!graph.hasNode(name)) graph.addNode(name, { kind: 'function' });
  };
  for (const src of Array.isArray(sources) ? sources : [sources]) {
    for (const name of src.functions) fn(name);
    for (const [caller, callee] of src.edges) {
      fn(caller);
      fn(callee);
      graph.mergeEdge(caller, callee);
    }
    for (const [caller, nrs] of src.syscallLeaves) {
      fn(caller);
      for (const nr of nrs) {
        const key = syscallNodeKey(nr);
        if (!graph.hasNode(key)) graph.addNode(key, { kind: 'syscall', nr });
        graph.mergeEdge(caller, key);
      }
    }
    for (const site of src.unresolvedSyscalls) {
      fn(site.caller);
      graph.updateNodeAttributes(site.caller, (a) =>
        a.kind === 'function' ? { ...a, unresolvedSyscalls: (a.unresolvedSyscalls ?? 0) + 1 } : a,
      );
    }
    for (const caller of src.indirectCallers) {
      fn(caller);
      graph.mergeNodeAttributes(caller, { indirectCalls: true });
    }
  }
  return graph;
}

export interface Reachable {
  syscalls: Set<number>;
  /** Roots that name no function in the graph (their syscalls are unknown, not none). */
  unknownRoots: string[];
  /** Reached functions with syscall sites whose number the graph does not give. */
  unresolvedSites: string[];
  /** Reached functions that make indirect calls the graph cannot follow. */
  indirectCallers: string[];
}

/**
 * Everything the roots can reach. One traversal per root, sharing the visited set:
 * a node another root already explored is not explored again.
 */
export function reachableSyscalls(graph: CallGraph, roots: string[]): Reachable {
  const seen = new Set<string>();
  const syscalls = new Set<number>();
  const unknownRoots: string[] = [];
  const unresolvedSites: string[] = [];
  const indirectCallers: string[] = [];
  for (const root of roots) {
    if (!graph.hasNode(root) || graph.getNodeAttributes(root).kind !== 'function') {
      unknownRoots.push(root);
      continue;
    }
    bfsFromNode(
      graph,
      root,
      (node, attrs) => {
        if (seen.has(node)) return true;
        seen.add(node);
        if (attrs.kind === 'syscall') syscalls.add(attrs.nr);
        else {
          if (attrs.unresolvedSyscalls) unresolvedSites.push(node);
          if (attrs.indirectCalls) indirectCallers.push(node);
        }
        return false;
      },
      { mode: 'outbound' },
    );
  }
  return { syscalls, unknownRoots, unresolvedSites, indirectCallers };
}

/**
 * A shortest call chain from root to the syscall, as node keys
 * (`[root, f, g, 'syscall(202)']`), or undefined if the root cannot reach it.
 */
export function shortestChain(graph: CallGraph, root: string, syscall: number): string[] | undefined {
  const target = syscallNodeKey(syscall);
  if (!graph.hasNode(root) || !graph.hasNode(target)) return undefined;
  const parent = new Map<string, string | null>([[root, null]]);
  let frontier = [root];
  while (frontier.length) {
    const next: string[] = [];
    for (const node of frontier) {
      for (const out of graph.outNeighbors(node)) {
        if (parent.has(out)) continue;
        parent.set(out, node);
        if (out === target) {
          const chain = [out];
          for (let p = parent.get(out); p != null; p = parent.get(p)) chain.push(p);
          return chain.reverse();
        }
        next.push(out);
      }
    }
    frontier = next;
  }
  return undefined;
}
