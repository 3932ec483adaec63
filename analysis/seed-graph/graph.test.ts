import * as fc from 'fast-check';
import * as path from 'node:path';
import { SEED_DIR } from '../../test/test-data';
import { buildCallGraph, reachableSyscalls, shortestChain, syscallNodeKey } from './graph';
import { parseSeedCallgraphText, readSeedCallgraphSync } from './seed-format';

const fixture = parseSeedCallgraphText(
  ['main->a', 'main->b', 'a->c', 'b->c', 'c->syscall(1)', 'a->syscall(0)', 'b->d', 'd->e', 'e->syscall(60)', 'lone->syscall(39)', 'w->syscall(%3)', 'main->w', 'x->%5'].join('\n'),
  'fixture',
);
const graph = buildCallGraph(fixture);

describe('buildCallGraph', () => {
  it('has function and syscall nodes', () => {
    expect(graph.getNodeAttributes('main')).toEqual({ kind: 'function' });
    expect(graph.getNodeAttributes(syscallNodeKey(60))).toEqual({ kind: 'syscall', nr: 60 });
    expect(graph.getNodeAttributes('w')).toEqual({ kind: 'function', unresolvedSyscalls: 1 });
    expect(graph.getNodeAttributes('x')).toEqual({ kind: 'function', indirectCalls: true });
  });

  it('merges several graphs, joining on function names', () => {
    const lib = parseSeedCallgraphText('e->f\nf->syscall(231)', 'lib');
    const merged = buildCallGraph([fixture, lib]);
    expect([...reachableSyscalls(merged, ['main']).syscalls].sort((x, y) => x - y)).toEqual([0, 1, 60, 231]);
  });
});

describe('reachableSyscalls', () => {
  it('unions what every root reaches and names unknown roots', () => {
    const r = reachableSyscalls(graph, ['a', 'main', 'nosuch', 'lone']);
    expect([...r.syscalls].sort((x, y) => x - y)).toEqual([0, 1, 39, 60]);
    expect(r.unknownRoots).toEqual(['nosuch']);
    expect(r.unresolvedSites).toEqual(['w']);
  });

  it('a syscall node is not a root', () => {
    expect(reachableSyscalls(graph, [syscallNodeKey(1)]).unknownRoots).toEqual(['syscall(1)']);
  });

  it('agrees with a naive fixpoint on random graphs', () => {
    const edge = fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }));
    const leaf = fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 5 }));
    fc.assert(
      fc.property(fc.array(edge), fc.array(leaf), fc.array(fc.integer({ min: 0, max: 14 }), { maxLength: 4 }), (edges, leaves, roots) => {
        const text = [...edges.map(([a, b]) => `f${a}->f${b}`), ...leaves.map(([a, n]) => `f${a}->syscall(${n})`)].join('\n');
        const g = buildCallGraph(parseSeedCallgraphText(text));
        const rootNames = roots.map((r) => `f${r}`);
        // naive: grow the reached set until nothing changes
        const reached = new Set(rootNames.filter((r) => g.hasNode(r)));
        for (let changed = true; changed; ) {
          changed = false;
          for (const [a, b] of edges) if (reached.has(`f${a}`) && !reached.has(`f${b}`)) (reached.add(`f${b}`), (changed = true));
        }
        const expected = new Set(leaves.filter(([a]) => reached.has(`f${a}`)).map(([, n]) => n));
        const got = reachableSyscalls(g, rootNames);
        expect(got.syscalls).toEqual(expected);
        expect(got.unknownRoots).toEqual(rootNames.filter((r) => !g.hasNode(r)));
      }),
    );
  });
});

describe('shortestChain', () => {
  it('returns a shortest call chain ending at the syscall node', () => {
    expect(shortestChain(graph, 'main', 1)).toEqual(['main', 'a', 'c', 'syscall(1)']);
    expect(shortestChain(graph, 'main', 60)).toEqual(['main', 'b', 'd', 'e', 'syscall(60)']);
    expect(shortestChain(graph, 'a', 60)).toBeUndefined();
    expect(shortestChain(graph, 'nosuch', 1)).toBeUndefined();
    expect(shortestChain(graph, 'main', 999)).toBeUndefined();
  });
});

describe('on the seed glibc graph', () => {
  const r = readSeedCallgraphSync(path.join(SEED_DIR, 'libc-callgraphs', 'glibc.2.31.callgraph'));
  if (!r.ok) throw r.error;
  const g = buildCallGraph(r.value);

  it('printf reaches write, and the chain shows how', () => {
    const reach = reachableSyscalls(g, ['printf']);
    expect(reach.syscalls.has(1)).toBe(true);
    const chain = shortestChain(g, 'printf', 1)!;
    expect(chain[0]).toBe('printf');
    expect(chain[chain.length - 1]).toBe('syscall(1)');
    for (let i = 0; i + 1 < chain.length; i++) expect(g.hasDirectedEdge(chain[i], chain[i + 1])).toBe(true);
  });

  it('__libc_read reaches read and is a subset of what read-heavy callers reach', () => {
    const read = reachableSyscalls(g, ['__libc_read']).syscalls;
    expect(read.has(0)).toBe(true);
    const both = reachableSyscalls(g, ['__libc_read', 'printf']).syscalls;
    for (const n of read) expect(both.has(n)).toBe(true);
  });
});
