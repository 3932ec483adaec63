import { adjacency, E_TAKES, E_WHOLE_AT, EdgeList, V_ENTRY, V_INDIRECT } from './edge-list';
import type { LateRoots } from './late-roots';
import { INDIRECT, ROOT } from './node-ids';
import { reach, type Rule } from './walk';

/*
 * The walk on its own, on a hand-made graph: what each rule follows, the order an
 * indirect-call target is reached in (taken before or after INDIRECT is expanded),
 * and the by-name step at the fixpoint. The link tests cover it through resolveProgram.
 */

// ROOT=0, INDIRECT=1, then main, cb, late, unused, sysA, named.
const MAIN = 2;
const CB = 3;
const LATE = 4;
const UNUSED = 5;
const SYS_A = 6;
const NAMED = 7;
const NODES = 8;

function graph() {
  const edges = new EdgeList();
  edges.add(ROOT, MAIN, V_ENTRY, NaN);
  edges.add(MAIN, INDIRECT, V_INDIRECT, NaN);
  edges.add(MAIN, CB, V_INDIRECT, 0x10, E_TAKES); // taken before INDIRECT is expanded
  edges.add(CB, SYS_A, 0, 0x20);
  edges.add(CB, LATE, V_INDIRECT, 0x30, E_TAKES); // taken after INDIRECT is expanded
  edges.add(INDIRECT, CB, V_INDIRECT, NaN, E_WHOLE_AT);
  edges.add(INDIRECT, UNUSED, V_INDIRECT, NaN, E_WHOLE_AT);
  return { edges, adj: adjacency(edges, NODES), nodes: NODES };
}

const noNames: LateRoots = { dlsymNodes: [], namesOf: new Map(), isLoaderNode: () => false, exportsByHash: new Map(), dlopenNodes: [], candidatesByHash: new Map() };
const seenBy = (rule: Rule, late = noNames) => {
  const w = reach(graph(), rule, true, late);
  return [...w.visited.slice(0, w.visitedCount)];
};

test("'direct' reaches INDIRECT but neither expands it nor counts it as seen", () => {
  expect(seenBy('direct')).toEqual([ROOT, MAIN]);
});

test("'reachable' reaches each taken target once INDIRECT is, whether taken before or after", () => {
  const w = reach(graph(), 'reachable', true, noNames);
  expect([...w.visited.slice(0, w.visitedCount)]).toEqual([ROOT, MAIN, INDIRECT, CB, SYS_A, LATE]);
  expect(w.targets).toBe(2);
  expect(w.parent[CB]).toBe(INDIRECT);
  expect(w.parent[LATE]).toBe(INDIRECT);
  expect(w.parent[SYS_A]).toBe(CB);
  // The TAKES edge that made each a target, for provenance's "takenBy".
  expect(w.takenEdge[CB]).toBe(2);
  expect(w.takenEdge[LATE]).toBe(4);
});

test("'whole' follows INDIRECT to every address-taken function and ignores TAKES", () => {
  expect(seenBy('whole')).toEqual([ROOT, MAIN, INDIRECT, CB, UNUSED, SYS_A]);
});

test('at the fixpoint, a name held by reached code roots its export once a dlsym is reached', () => {
  const late: LateRoots = { ...noNames, dlsymNodes: [SYS_A], namesOf: new Map([[MAIN, [77]]]), exportsByHash: new Map([[77, [NAMED]]]) };
  const w = reach(graph(), 'reachable', true, late);
  expect([...w.visited.slice(0, w.visitedCount)]).toContain(NAMED);
  // Found by the dlsym, through no edge.
  expect(w.parent[NAMED]).toBe(SYS_A);
  expect(w.parentEdge[NAMED]).toBe(-1);
  // Without a dlsym reached, the name opens nothing.
  expect(seenBy('reachable', { ...late, dlsymNodes: [UNUSED] })).not.toContain(NAMED);
});
