import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../cache/digest';
import { readSeedCallgraph, SeedCallgraph } from '../analysis/seed-graph/seed-format';
import type { MemoRequest, Stage, StageContext } from '../pipeline/stage';
import type { CallgraphArtifact, CfgsArtifact } from '../schemas/types';
import type { RunConfig } from './config';

type Role = CfgsArtifact['graphs'][number]['role'];
const MAX_REPORTED_ERRORS = 50;

/**
 * Loads the seed's call graphs once per run (-l glibc, -m musl, -c other libraries),
 * each parsed once per file content and cached as a callgraph artifact. Malformed
 * lines are reported by file and line and skipped; the graph still loads.
 */
export function loadCfgsStage(): Stage<{}, CfgsArtifact, RunConfig> {
  return {
    name: 'load-cfgs',
    version: 1,
    schema: 'confine/cfgs/v1',
    scope: 'before',
    needs: [],
    resource: 'cpu',
    configSlice: () => null,
    // The files' contents, not their paths, decide the output.
    externalInputs: async (_u, config) => Object.fromEntries((await graphFiles(config)).map((g) => [`${g.role}:${g.file}`, g.digest])),
    run: async (_deps, ctx, _unit, config) => {
      const graphs: CfgsArtifact['graphs'] = [];
      for (const g of await graphFiles(config)) {
        const { key, value: parsed } = await ctx.memo<CallgraphArtifact>(
          callgraphRequest(g.digest),
          async () => toArtifact(await loadOrThrow(g.file), g.file),
        );
        const calls = Object.values(parsed.calls);
        graphs.push({
          role: g.role, source: g.file, digest: g.digest, graphKey: key,
          functions: Object.keys(parsed.calls).length,
          edges: calls.reduce((n, c) => n + c.length, 0),
          syscallFunctions: Object.keys(parsed.syscalls).length,
          errorCount: parsed.errorCount,
          errors: parsed.errors,
        });
        report(ctx, g.file, parsed);
      }
      return { graphs };
    },
  };
}

async function loadOrThrow(file: string): Promise<SeedCallgraph> {
  const r = await readSeedCallgraph(file);
  if (!r.ok) throw r.error;
  return r.value;
}

function report(ctx: StageContext, file: string, g: CallgraphArtifact): void {
  for (const e of g.errors.slice(0, 5)) ctx.log(`${e.file}:${e.line}: expected ${e.expected}, found '${e.text.slice(0, 80)}'`);
  if (g.errorCount > 5) ctx.log(`${file}: ${g.errorCount - 5} more malformed lines skipped`);
}

/** The parsed seed graph as a cacheable artifact (also read back by seed-graphs.ts). */
export function toArtifact(g: SeedCallgraph, source: string): CallgraphArtifact {
  const calls: Record<string, string[]> = {};
  for (const name of g.functions) calls[name] = [];
  for (const [caller, callee] of g.edges) (calls[caller] ??= []).push(callee);
  const syscalls: Record<string, number[]> = {};
  for (const [fn, nrs] of g.syscallLeaves) syscalls[fn] = [...nrs].sort((a, b) => a - b);
  const unresolvedSyscalls: Record<string, number> = {};
  for (const s of g.unresolvedSyscalls) unresolvedSyscalls[s.caller] = (unresolvedSyscalls[s.caller] ?? 0) + 1;
  return {
    source, calls, syscalls, unresolvedSyscalls, indirectCallers: [...g.indirectCallers].sort(),
    errorCount: g.errors.length, errors: g.errors.slice(0, MAX_REPORTED_ERRORS),
  };
}

interface GraphFile {
  role: Role;
  file: string;
  digest: string;
}

async function graphFiles(config: RunConfig): Promise<GraphFile[]> {
  const files: { role: Role; file: string }[] = [];
  if (config.glibcCallgraph) files.push({ role: 'glibc', file: config.glibcCallgraph });
  if (config.muslCallgraph) files.push({ role: 'musl', file: config.muslCallgraph });
  if (config.otherCallgraphsDir) {
    for (const f of (await fs.readdir(config.otherCallgraphsDir)).sort()) {
      const full = path.join(config.otherCallgraphsDir, f);
      if ((await fs.stat(full)).isFile()) files.push({ role: 'other', file: full });
    }
  }
  return Promise.all(files.map(async (f) => ({ ...f, digest: `sha256:${sha256Hex(await fs.readFile(f.file))}` })));
}

/** How a parsed graph is keyed in the store: by its file's content. */
export function callgraphRequest(digest: string): MemoRequest {
  return { name: 'callgraph', version: 1, schema: 'confine/callgraph/v1', inputs: { file: digest } };
}
