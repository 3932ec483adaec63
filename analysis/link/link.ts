import { nameHash } from '../summary/name-hashes';
import { argRules, type ArgRule } from './arg-rules';
import { argView } from './arg-walk-view';
import { GuardValues } from './guard-values';
import { adjacency, distinctEdges, distinctTargets, E_WHOLE_AT } from './edge-list';
import { lateRoots } from './late-roots';
import { bothGates, heldForGood, nssLookupGate, svcCleanupGate } from './library-models';
import { INDIRECT } from './node-ids';
import { buildProgramGraph, type ProgramGraph } from './program-graph';
import { Chains } from './provenance';
import type { ProgramInput, Provenance, UnresolvedImport, UnresolvedSiteReport } from './types';
import { reach, type WalkGraph } from './walk';
import { namesReachedCode, perObjectFigures, reachedUnresolvedSites, syscallsOf } from './walk-figures';

export type { ChainStep, ProgramInput, ProgramObject, Provenance, UnresolvedSiteReport } from './types';
export { exportIndex, matchExport, type ExportIndex } from './bind-exports';

/**
 * Whole-program syscall resolution: one graph over the executable, its libraries
 * (load order), the dynamic loader and any dlopen'd modules, walked from the program's
 * entry points.
 *
 * Indirect calls: a function is an indirect-call target only when something that runs
 * can hold its address (the refinement of sysfilter's rule used by Nibbler and temporal
 * specialization): an instruction of a *reached* function materialises it (lea, mov
 * imm), or a pointer cell in a *live* data region holds it. A region is live when
 * reached code refers into it, when a live region points into it (vtables, method
 * tables, callback structs, `_IO_file_jumps`), or always (TLS images, init/fini arrays,
 * personality pointers). Once any reached function makes an indirect call or jump
 * (node INDIRECT), every such target is reached; the walk runs to a fixpoint. Exported
 * functions become targets only through such references in some loaded object, or by
 * name: when a dlsym is reached, every export whose name is a string in a reached
 * object's data is a root (and the loader's own by-name lookups always are).
 *
 * Three figures per program: `withoutIndirectRule` (direct edges only), `syscalls`
 * (the rule above), and `wholeProgramAT` (sysfilter's original rule: every
 * address-taken function of every object, reached or not). The value layer (issue 26:
 * guards.ts marks the edges a function takes only under a condition on an entry value,
 * guard-values.ts decides when one can hold, value-models.ts and library-models.ts hold
 * the library facts it uses) applies unless ProgramInput.valueLayer is false;
 * resolveWithLayerFigure adds the set without it, for `confine analyze`.
 *
 * The pieces, in the order resolveProgram runs them: program-graph.ts numbers the nodes
 * (node-ids.ts) and adds the edges (edge-list.ts), binding imports to exports as ld.so
 * does (bind-exports.ts); late-roots.ts gathers the by-name lookups; walk.ts walks to a
 * fixpoint under each rule; provenance.ts reads the chains back; walk-figures.ts and
 * arg-walk-view.ts turn the walk into the figures and argument rules below.
 *
 * Not modelled (documented limits): names passed to dlsym that are built at run time,
 * code outside `.text`, pointers formed by arithmetic across data objects (see
 * analysis/summary/data-regions.ts for the one corner of region boundaries in stripped objects).
 */

export interface ProgramResolution {
  syscalls: Set<number>;
  /** Syscalls reached through direct edges only (INDIRECT cut): what the sound rule adds is the difference. */
  withoutIndirectRule: Set<number>;
  /** Syscalls under sysfilter's original rule (every address-taken function of every object is a target). */
  wholeProgramAT: Set<number>;
  /** Indirect-call targets: how many the reachable rule kept, of how many the whole-program rule has. */
  targets: { reachable: number; wholeProgram: number };
  /** Whether some reached function makes an indirect call, so the address-taken roots apply. */
  indirectRuleFired: boolean;
  perObject: { path: string; functions: number; reachedFunctions: number; syscalls: number[] }[];
  /** Sites in reached functions whose number is unknown on some path: never dropped. */
  unresolvedSites: UnresolvedSiteReport[];
  /** Imports no loaded object defines (weak ones are normal: __gmon_start__, _ITM_*). */
  unresolvedImports: UnresolvedImport[];
  /** For each syscall, one shortest chain from an entry point. */
  provenance: Map<number, Provenance>;
  graph: { nodes: number; edges: number };
  /** Tracked syscalls (socket families, analysis/link/arg-rules.ts): the argument values reached sites use, or the site that forced no condition. */
  argRules: Map<number, ArgRule>;
  /**
   * Hashes (analysis/summary/name-hashes.ts) of the names and paths reached *code* refers to
   * (lea/mov of the string's address): what it can pass to an exec by a constant path.
   * Live data's strings are left out here: a stripped library's data regions are coarse
   * (glibc's strtol reaches a region that also points at "/bin/sh"), so counting them
   * would make every program a shell's caller; a path held only in a data table is the
   * documented limit (docs/limits.md).
   */
  reachedNames: Set<number>;
}

export function resolveProgram(input: ProgramInput): ProgramResolution {
  return walkProgram(input).resolution;
}

/** resolveProgram's walks, and the graph they walked (resolveWithLayerFigure walks it once more). */
function walkProgram(input: ProgramInput): { resolution: ProgramResolution; g: ProgramGraph; graph: WalkGraph; late: ReturnType<typeof lateRoots> } {
  const g = buildProgramGraph(input);
  const late = lateRoots(g);
  const nodes = g.ids.count;
  const adj = adjacency(g.edges, nodes);
  const graph = { edges: g.edges, adj, nodes };
  // The value layer applies to the direct and the reachable walks (so one stays within
  // the other); sysfilter's whole-program figure stays the rule it reproduces.
  const layer = input.valueLayer !== false;
  const values = layer && g.guards.count > 0 ? new GuardValues(g) : undefined;
  // Library models' held edges (library-models.ts): ld.so's chain-load execve, held in all
  // three walks; nss's module-table TAKES edges, which only the reachable rule follows;
  // and the RPC cleanup's call, held in both walks the layer applies to.
  const cutGate = layer && g.layerCuts.length ? heldForGood(g.layerCuts) : undefined;
  const nssGate = layer ? nssLookupGate(g) : undefined;
  const svcGate = layer ? svcCleanupGate(g) : undefined;
  const direct = reach(graph, 'direct', false, late, values, g.guards.count, bothGates(cutGate, svcGate?.()));
  const whole = reach(graph, 'whole', false, late, undefined, 0, cutGate);
  const full = reach(graph, 'reachable', true, late, values, g.guards.count, bothGates(cutGate, bothGates(nssGate?.(), svcGate?.())));
  const chains = new Chains(g, full);
  const syscalls = syscallsOf(full, g.ids);
  const resolution: ProgramResolution = {
    syscalls,
    withoutIndirectRule: syscallsOf(direct, g.ids),
    wholeProgramAT: syscallsOf(whole, g.ids),
    targets: { reachable: full.targets, wholeProgram: distinctTargets(g.edges, adj, nodes, INDIRECT, E_WHOLE_AT) },
    indirectRuleFired: full.seen[INDIRECT] === 1,
    perObject: perObjectFigures(g, full),
    unresolvedSites: reachedUnresolvedSites(g, full),
    unresolvedImports: g.imports.unresolved,
    provenance: chains.provenance(),
    graph: { nodes, edges: distinctEdges(g.edges, adj, nodes) },
    argRules: argRules(argView(g, full, late, (o, f) => chains.chainTo(o, f)), syscalls),
    reachedNames: namesReachedCode(full, g.ids, late.namesOf),
  };
  return { resolution, g, graph, late };
}

/** confine analyze's answer: the walk, and `syscalls` with the value layer off (what the layer removes is the difference). */
export interface ProgramAnalysis extends ProgramResolution {
  withoutValueLayer: Set<number>;
}

/**
 * resolveProgram plus the set without the value layer: one more reachable walk of the same
 * graph, with no guard values and none of the library models' held edges (only `confine
 * analyze` prints it; the pipeline's walks, resolveProgram, do not pay for it).
 */
export function resolveWithLayerFigure(input: ProgramInput): ProgramAnalysis {
  const { resolution, g, graph, late } = walkProgram(input);
  if (input.valueLayer === false) return { ...resolution, withoutValueLayer: new Set(resolution.syscalls) };
  return { ...resolution, withoutValueLayer: syscallsOf(reach(graph, 'reachable', false, late), g.ids) };
}

/**
 * The names under which a dlopen finds a library (ProgramObject.openedBy): the strings
 * that led to it, its path and file name, and its soname.
 */
export function openedByHashes(filePath: string, soname: string | undefined, names: Iterable<string>): number[] {
  const all = new Set<string>([...names, filePath, filePath.slice(filePath.lastIndexOf('/') + 1)]);
  if (soname) all.add(soname);
  return [...new Set([...all].map(nameHash))].sort((a, b) => a - b);
}
