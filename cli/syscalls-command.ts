import { buildCallGraph } from '../analysis/seed-graph/graph';
import { FunctionSyscalls, functionsToSyscalls, readFunctionList } from '../analysis/seed-graph/functions-to-syscalls';
import type { CallGraph } from '../analysis/seed-graph/graph';
import { DockerProfile, planProfile, ProfilePlan, EmitOptions } from '../formats/profile/docker-profile';
import { readSeedCallgraph, SeedCallgraph } from '../analysis/seed-graph/seed-format';
import { ConfineError } from '../pipeline/errors';
import { defaultProfile, readProfile } from '../formats/profile/read-profile';
import { existingPath, parse, UsageError } from './args';

export const SYSCALLS_HELP = `confine syscalls — the syscalls a list of functions reaches through a call graph
(what the seed's extractSysCalls did)

Usage: confine syscalls -f FUNCS -c CALLGRAPH [-c CALLGRAPH...] [--list | --profile] [-p BASE]

  -f, --functions FILE   one function name per line (versions like @GLIBC_2.2.5 are ignored)
  -c, --callgraph FILE   a call graph in the seed's format (caller->callee or caller : callee); repeatable
      --list             print one syscall name per line (the default)
      --profile          print a Docker seccomp profile allowing exactly those syscalls
  -p, --default-profile FILE   the profile --profile narrows (default: Docker's default)
  -h, --help

Functions the graph does not know and syscall sites whose number the graph does not
give are reported on stderr: their syscalls are unknown, not none.`;

export async function syscallsCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    functions: { type: 'string', short: 'f' },
    callgraph: { type: 'string', short: 'c', multiple: true },
    list: { type: 'boolean' },
    profile: { type: 'boolean' },
    'default-profile': { type: 'string', short: 'p' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(SYSCALLS_HELP + '\n');
    return 0;
  }
  if (!values.functions) throw new UsageError('-f FUNCS is required');
  if (!values.callgraph?.length) throw new UsageError('-c CALLGRAPH is required');
  if (values.list && values.profile) throw new UsageError('--list and --profile cannot be used together');
  const fnFile = existingPath('-f', values.functions, 'file')!;
  const graphFiles = values.callgraph.map((c) => existingPath('-c', c, 'file')!);
  const baseFile = existingPath('-p', values['default-profile'], 'file');

  const fns = readFunctionList(fnFile);
  if (!fns.ok) throw fns.error;
  for (const e of fns.value.errors) process.stderr.write(`confine syscalls: ${e.file}:${e.line}: expected ${e.expected}, found '${e.text}'\n`);
  const graphs: SeedCallgraph[] = [];
  for (const f of graphFiles) {
    const g = await readSeedCallgraph(f);
    if (!g.ok) throw g.error;
    for (const e of g.value.errors.slice(0, 3)) process.stderr.write(`confine syscalls: ${e.file}:${e.line}: expected ${e.expected}, found '${e.text}'\n`);
    if (g.value.errors.length > 3) process.stderr.write(`confine syscalls: ${f}: ${g.value.errors.length - 3} more malformed lines skipped\n`);
    graphs.push(g.value);
  }
  const graph = buildCallGraph(graphs);

  let reached;
  if (values.profile) {
    const base = baseFile ? readProfile(baseFile) : { ok: true as const, value: defaultProfile() };
    if (!base.ok) throw new ConfineError('bad-input', `-p ${baseFile}: ${base.error.message}`);
    const out = functionsToProfile(graph, fns.value.functions, base.value.profile);
    reached = out.reached;
    process.stdout.write(JSON.stringify(out.plan.profile, null, 2) + '\n');
  } else {
    reached = functionsToSyscalls(graph, fns.value.functions);
    process.stdout.write(reached.syscalls.map((s) => s.name).join('\n') + (reached.syscalls.length ? '\n' : ''));
  }
  if (reached.unknownFunctions.length) {
    process.stderr.write(`confine syscalls: ${reached.unknownFunctions.length} function(s) not in the call graph: ${reached.unknownFunctions.slice(0, 20).join(', ')}${reached.unknownFunctions.length > 20 ? ', …' : ''}\n`);
  }
  if (reached.unresolvedSites.length) {
    process.stderr.write(`confine syscalls: ${reached.unresolvedSites.length} reached function(s) make syscalls whose number the graph does not give: ${reached.unresolvedSites.slice(0, 10).join(', ')}\n`);
  }
  if (reached.unnamed.length) process.stderr.write(`confine syscalls: numbers with no x86-64 name: ${reached.unnamed.join(', ')}\n`);
  return 0;
}

/** The functions' reached syscalls as a Docker profile narrowed from `base` (see emitProfile). */
export function functionsToProfile(
  graph: CallGraph,
  functions: string[],
  base: DockerProfile,
  opts: EmitOptions & { extraSyscalls?: string[] } = {},
): { plan: ProfilePlan; reached: FunctionSyscalls } {
  const reached = functionsToSyscalls(graph, functions);
  const allowed = new Set([...reached.syscalls.map((s) => s.name), ...(opts.extraSyscalls ?? [])]);
  return { plan: planProfile(base, allowed, opts), reached };
}
