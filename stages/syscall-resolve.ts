import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../cache/digest';
import { formatUnresolvedSite } from '../analysis/link/unresolved-sites';
import { readGoSyscalls } from '../analysis/seed-graph/go-syscalls';
import { syscallName } from '../analysis/syscalls/table';
import type { ImageEntry } from '../formats/image-list';
import { ConfineError } from '../pipeline/errors';
import type { Stage, StageContext } from '../pipeline/stage';
import type { CfgsArtifact, ResolveArtifact, SymbolsArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import { assertLoadedObjectsAnalysed, loadScans } from './resolve-objects';
import { names, ResolveTotals } from './resolve-totals';
import { ImageWalks } from './resolve-walks';

export { compatAbiOfElf } from './resolve-objects';

/**
 * The syscalls the image can reach: for every program it ran (or every executable,
 * with --allbinaries), a whole-program walk from its entry points through the
 * libraries it loads and the dynamic loader down to syscall sites. Objects the
 * image's processes dlopen'd join every dynamic program's walk with all their exports
 * as roots: they share the process with it, so callbacks cross both ways and an
 * indirect call on either side can reach targets on the other. The union, plus
 * -g DIR/NAME.syscalls.
 */
export function syscallResolveStage(): Stage<{ 'symbol-scan': SymbolsArtifact; 'load-cfgs': CfgsArtifact }, ResolveArtifact, RunConfig> {
  return {
    name: 'syscall-resolve',
    version: 15, // 15: glibc's RPC cleanup waits for svc_register (issue 26, row F; history: CHANGELOG.md)
    schema: 'confine/resolve/v3',
    scope: 'image',
    needs: ['symbol-scan', 'load-cfgs'],
    resource: 'cpu',
    configSlice: (c) => ({ allBinaries: c.allBinaries }),
    externalInputs: async (unit, config) => {
      const file = goListFile(config, unit.data as ImageEntry);
      // -f/-n decide whether a seed graph applies to this image's libc: their content is an input.
      const digestOf = async (f?: string) => (f ? sha256Hex(await fs.readFile(f)) : '(none)');
      return {
        goList: file ? await fs.readFile(file, 'utf8').then((t) => t, () => '(none)') : '(none)',
        glibcObject: await digestOf(config.glibcObject),
        muslObject: await digestOf(config.muslObject),
      };
    },
    run: async (deps, ctx, unit, config) => {
      const image = unit.data as ImageEntry;
      const symbols = deps['symbol-scan'];
      const files = await loadScans(symbols, ctx, config);
      const totals = new ResolveTotals();
      const walks = new ImageWalks(files, totals, { ctx, cfgs: deps['load-cfgs'], config });
      assertLoadedObjectsAnalysed(files);
      await walks.walkPrograms();
      await walks.walkLoneModules();
      await walks.walkRunCandidates();
      // What the container reaches on its own: --exec-too programs, walked last, are named for what they add.
      const before = new Set(totals.all);
      await walks.walkExecToo();
      const overrides = await addGoOverrides(totals, ctx, config, image);
      const execToo = symbols.execToo ? execTooAdded(symbols.execToo, totals.all, before, overrides, walks.execReached) : undefined;
      if (execToo) ctx.log(`--exec-too ${execToo.asked.join(',')}: ${execToo.added.length} syscalls beyond what the container itself reaches${execToo.added.length ? ` (${execToo.added.map((a) => a.syscall).join(' ')})` : ''}`);
      return assembleArtifact(totals, overrides, execToo, ctx);
    },
  };
}

/** The -g DIR/NAME.syscalls list for the image, added whole: it has no call chains or argument facts. */
async function addGoOverrides(totals: ResolveTotals, ctx: StageContext, config: RunConfig, image: ImageEntry): Promise<number[]> {
  const overrides = await goOverrides(config, image);
  totals.addOpaque(overrides, goListFile(config, image) ?? '(overrides)', 'listed by -g: no argument facts');
  if (overrides.length) ctx.log(`${overrides.length} syscalls added from ${goListFile(config, image)}`);
  return overrides;
}

type ExecToo = NonNullable<ResolveArtifact['execToo']>;

/** What --exec-too programs add beyond the container's own set (`before` they were walked), each named with the programs that reach it. */
function execTooAdded(asked: NonNullable<SymbolsArtifact['execToo']>, all: Set<number>, before: Set<number>, overrides: number[], execReached: Map<string, Set<number>>): ExecToo {
  return {
    ...asked,
    added: [...all]
      .filter((nr) => !before.has(nr) && !overrides.includes(nr))
      .map((nr) => ({ syscall: syscallName(nr) ?? `syscall_${nr}`, programs: [...execReached].filter(([, s]) => s.has(nr)).map(([root]) => root).sort() }))
      .sort((a, b) => a.syscall.localeCompare(b.syscall)),
  };
}

/** The artifact from the totals; unresolved sites are logged, never silent: a syscall made at one may be missing from the profile. */
function assembleArtifact(totals: ResolveTotals, overrides: number[], execToo: ExecToo | undefined, ctx: StageContext): ResolveArtifact {
  const { all, perBinary, compatPrograms } = totals;
  const sites = totals.unresolved.list();
  ctx.log(`${all.size} syscalls reachable from ${perBinary.length} programs; ${sites.length} reached syscall sites with a number not recovered`);
  for (const u of sites) ctx.log(`unresolved syscall site ${formatUnresolvedSite(u)} (reached from ${u.binaries.join(', ')})`);
  return {
    ...(execToo ? { execToo } : {}),
    method: 'static-analysis',
    syscalls: names(all),
    perBinary,
    overrides: names(new Set(overrides)),
    unresolvedSites: sites.length,
    unresolved: sites,
    provenance: totals.provenance,
    argRules: totals.argRules.result(all),
    byRule: { directOnly: names(totals.directOnly), reachableAT: names(totals.reachableAT), wholeProgramAT: names(totals.wholeProgramAT) },
    ...(compatPrograms.length ? { compatPrograms } : {}),
  };
}

function goListFile(config: RunConfig, image: ImageEntry): string | undefined {
  return config.goSyscallsDir ? path.join(config.goSyscallsDir, `${image.name}.syscalls`) : undefined;
}

/** The seed's -g files: DIR/NAME.syscalls, one number per line; a bad line fails this image only. */
async function goOverrides(config: RunConfig, image: ImageEntry): Promise<number[]> {
  const file = goListFile(config, image);
  if (!file) return [];
  try {
    await fs.access(file);
  } catch {
    return [];
  }
  const r = readGoSyscalls(file);
  if (!r.ok) throw r.error;
  if (r.value.errors.length) {
    const e = r.value.errors[0];
    throw new ConfineError('bad-input', `expected ${e.expected}, found '${e.text}'${r.value.errors.length > 1 ? ` (and ${r.value.errors.length - 1} more bad lines)` : ''}`, { file: e.file, line: e.line });
  }
  return [...r.value.syscalls];
}
