import * as path from 'node:path';
import { sourceDigest } from '../../cache/code-digest';
import type { Fingerprint } from '../../cache/fingerprint';
import type { ChainStep, ProgramAnalysis } from '../../analysis/link/link';
import { SCAN_SOURCES } from '../../analysis/scan/scan-file';
import type { AnalyzeChainStep, AnalyzeProgramArtifact, ElfScanArtifact } from '../../schemas/types';
import type { PlannedObject, ProgramPlan } from './program-plan';
import type { SummarySource } from './summary-source';

/**
 * One program's answer from `confine analyze`, and how it is cached: the key it is stored
 * under (its inputs' contents and the code that computes it) and its JSON form, which
 * schemas/analyze-program.schema.json describes and the content store checks on every
 * write and read (an entry that fails is discarded and the answer recomputed).
 */
export interface AnalyzedBinary {
  path: string;
  resolution?: ProgramAnalysis;
  error?: string;
  missing: string[];
  /** For Go binaries: version, functions, sites resolved/unresolved (analysis/golang/). */
  go?: ElfScanArtifact['go'];
}

/**
 * The digest of all the code that computes a program's answer: the scan's sources
 * (analysis/: ELF, x86, Go, summaries, the walk in analysis/link/link.ts) and this
 * folder (planning, the walk's driver, the stored form). The library search behind
 * host-resolver.ts need not be in it: the load order it finds is in the key itself. The
 * CLI's help and table are left out: they do not change an answer.
 */
export const ANALYSIS_SOURCES: readonly string[] = [...SCAN_SOURCES, 'system/host'];
export const analysisCodeDigest = () => sourceDigest(path.join(__dirname, '..', '..'), ANALYSIS_SOURCES);

/** Bump when the stored form of a program's result changes (with the schema's id). */
const RESOLUTION_VERSION = 5; // 5: the graph figure counts ld.so's held execve edge (history: CHANGELOG.md)
export const RESOLUTION_SCHEMA = 'confine/analyze-program/v3';

/**
 * The key of one program's whole result: the program's and every loaded object's path
 * and content digest, in load order, the libraries not found, and the digest of all the
 * code that computes the answer (analysisCodeDigest), so a code change never hides
 * behind a stale entry.
 */
export function resolutionFingerprint(plan: ProgramPlan, source: Pick<SummarySource, 'objectDigest'>): Fingerprint {
  const order = plan.order!;
  const obj = (o: PlannedObject) => [o.rootPath, source.objectDigest(o)];
  return {
    stage: 'analyze-program',
    version: RESOLUTION_VERSION,
    schema: RESOLUTION_SCHEMA,
    config: { code: analysisCodeDigest() },
    inputs: {
      program: JSON.stringify(obj(plan)),
      libraries: JSON.stringify(order.libraries.map(obj)),
      loader: order.loader ? JSON.stringify(obj(order.loader)) : '',
      missing: JSON.stringify(order.missing),
      candidates: JSON.stringify(order.candidates.map((c) => [obj(c.object), c.names])),
    },
  };
}

/** A program's result as JSON (schemas/analyze-program.schema.json): Sets and Maps as arrays, in their iteration order. */
export type StoredAnalysis = AnalyzeProgramArtifact;

/*
 * Both directions name every field, so the compiler checks the schema's type against
 * ProgramAnalysis each way, and nothing the schema does not know (a field added to the
 * walk's result at run time) reaches the store; stored-analysis.test.ts checks that a
 * result read back equals the one written.
 */

const storedStep = (s: ChainStep): AnalyzeChainStep => ({
  object: s.object,
  function: s.function,
  ...(s.via !== undefined ? { via: s.via } : {}),
  ...(s.takenBy !== undefined ? { takenBy: s.takenBy } : {}),
  ...(s.kept !== undefined ? { kept: s.kept } : {}),
});

const site = (u: { object: string; site: number; function: string; reason: string }) => ({ object: u.object, site: u.site, function: u.function, reason: u.reason });

/** Requires a result (`r.resolution`): only resolved programs are stored. */
export function toStored(r: AnalyzedBinary): StoredAnalysis {
  const res = r.resolution!;
  return {
    path: r.path,
    missing: r.missing,
    ...(r.go ? { go: r.go } : {}),
    resolution: {
      syscalls: [...res.syscalls],
      withoutIndirectRule: [...res.withoutIndirectRule],
      wholeProgramAT: [...res.wholeProgramAT],
      withoutValueLayer: [...res.withoutValueLayer],
      targets: { reachable: res.targets.reachable, wholeProgram: res.targets.wholeProgram },
      indirectRuleFired: res.indirectRuleFired,
      perObject: res.perObject.map((o) => ({ path: o.path, functions: o.functions, reachedFunctions: o.reachedFunctions, syscalls: o.syscalls })),
      unresolvedSites: res.unresolvedSites.map(site),
      unresolvedImports: res.unresolvedImports.map((u) => ({ object: u.object, import: u.import })),
      provenance: [...res.provenance].map(([syscall, p]) => ({ syscall, steps: p.steps.map(storedStep), site: p.site, siteObject: p.siteObject, ...(p.kept !== undefined ? { kept: p.kept } : {}) })),
      graph: { nodes: res.graph.nodes, edges: res.graph.edges },
      argRules: [...res.argRules].map(([syscall, a]) => ({
        syscall,
        arg: a.arg,
        values: a.values,
        origins: [...a.origins].map(([value, o]) => ({ value, object: o.object, function: o.function, steps: o.steps.map(storedStep) })),
        ...(a.unconditional ? { unconditional: site(a.unconditional) } : {}),
      })),
      reachedNames: [...res.reachedNames],
    },
  };
}

// The schema's pattern admits exactly ChainStep's `via` values, and the store validates every entry it reads.
const chain = (steps: AnalyzeChainStep[]) => steps as ChainStep[];

/** A stored result back as the walk returned it; `s` must have passed the schema (the content store checks it on read). */
export function fromStored(s: StoredAnalysis): AnalyzedBinary {
  const res = s.resolution;
  return {
    path: s.path,
    missing: s.missing,
    ...(s.go ? { go: s.go } : {}),
    resolution: {
      syscalls: new Set(res.syscalls),
      withoutIndirectRule: new Set(res.withoutIndirectRule),
      wholeProgramAT: new Set(res.wholeProgramAT),
      withoutValueLayer: new Set(res.withoutValueLayer),
      targets: res.targets,
      indirectRuleFired: res.indirectRuleFired,
      perObject: res.perObject,
      unresolvedSites: res.unresolvedSites,
      unresolvedImports: res.unresolvedImports,
      provenance: new Map(res.provenance.map(({ syscall, steps, site, siteObject, kept }) => [syscall, { steps: chain(steps), site, siteObject, ...(kept !== undefined ? { kept } : {}) }])),
      graph: res.graph,
      argRules: new Map(
        res.argRules.map(({ syscall, origins, ...a }) => [
          syscall,
          { ...a, origins: new Map(origins.map(({ value, steps, ...o }) => [value, { ...o, steps: chain(steps) }])) },
        ]),
      ),
      reachedNames: new Set(res.reachedNames),
    },
  };
}
