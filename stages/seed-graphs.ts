import { promises as fs } from 'node:fs';
import { sha256Hex } from '../cache/digest';
import { buildCallGraph, CallGraph, reachableSyscalls } from '../analysis/seed-graph/graph';
import { readSeedCallgraph, SeedCallgraph } from '../analysis/seed-graph/seed-format';
import type { StageContext } from '../pipeline/stage';
import type { CallgraphArtifact, CfgsArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import { callgraphRequest, toArtifact } from './load-cfgs';

/**
 * The seed's -l / -m call graphs taking part in resolution: the syscalls a program's
 * imported libc functions reach in the seed's graph for the image's libc. The caller
 * unions them into what our analysis found, so a seed graph can only add syscalls.
 */

export interface SeedGraphProgram {
  /** The program's imports, `name` or `name@VERSION`. */
  imports: string[];
  /** Content digest of the image's libc (`sha256:…` or bare hex). */
  libcDigest?: string;
  libc: 'glibc' | 'musl' | undefined;
}

/** One graphology graph per parsed-graph cache key, for the whole run. */
const graphs = new Map<string, CallGraph>();

export async function seedGraphSyscalls(
  cfgs: CfgsArtifact,
  ctx: StageContext,
  program: SeedGraphProgram,
  config: RunConfig,
): Promise<{ syscalls: Set<number>; used: string[] }> {
  const syscalls = new Set<number>();
  const used: string[] = [];
  if (!program.libc) return { syscalls, used };
  const object = program.libc === 'glibc' ? config.glibcObject : config.muslObject;
  // -f / -n name the exact library the graph describes: any other build is not it.
  if (object) {
    if (!program.libcDigest) return { syscalls, used };
    const want = sha256Hex(await fs.readFile(object));
    if (bare(program.libcDigest) !== want) return { syscalls, used };
  }
  const names = [...new Set(program.imports.map((i) => i.split('@')[0]).filter((n) => n))];
  for (const g of cfgs.graphs) {
    if (g.role !== program.libc) continue;
    const graph = await graphFor(g, ctx);
    const r = reachableSyscalls(graph, names);
    for (const nr of r.syscalls) syscalls.add(nr);
    used.push(g.source);
  }
  return { syscalls, used };
}

function bare(d: string): string {
  return d.startsWith('sha256:') ? d.slice(7) : d;
}

async function graphFor(g: CfgsArtifact['graphs'][number], ctx: StageContext): Promise<CallGraph> {
  const hit = graphs.get(g.graphKey);
  if (hit) return hit;
  const { value } = await ctx.memo<CallgraphArtifact>(
    callgraphRequest(g.digest),
    async () => {
      const r = await readSeedCallgraph(g.source);
      if (!r.ok) throw r.error;
      return toArtifact(r.value, g.source);
    },
  );
  const graph = buildCallGraph(fromArtifact(value));
  graphs.set(g.graphKey, graph);
  return graph;
}

/** The same artifact load-cfgs stores for this file (its cache entry may have been evicted). */
/** Back to the parser's shape, which buildCallGraph takes. */
export function fromArtifact(a: CallgraphArtifact): SeedCallgraph {
  const edges: [string, string][] = [];
  for (const [caller, callees] of Object.entries(a.calls)) for (const c of callees) edges.push([caller, c]);
  return {
    edges,
    syscallLeaves: new Map(Object.entries(a.syscalls).map(([f, nrs]) => [f, new Set(nrs)])),
    errors: a.errors,
    functions: new Set(Object.keys(a.calls)),
    unresolvedSyscalls: Object.entries(a.unresolvedSyscalls).flatMap(([caller, n]) => Array.from({ length: n }, () => ({ caller, file: a.source, line: 0, text: '' }))),
    indirectCallers: new Set(a.indirectCallers),
    skipped: { blank: 0, comment: 0, 'no-callee': 0, 'no-caller': 0, 'llvm-intrinsic': 0, 'local-label': 0, 'source-file': 0, 'inline-asm': 0 },
    lines: 0,
  };
}
