import { promises as fs } from 'node:fs';
import { sha256Hex } from '../cache/digest';
import * as path from 'node:path';
import { ArgRulesMerge } from '../analysis/link/arg-rules-merge';
import { openedByHashes, resolveProgram, ProgramObject, ProgramResolution } from '../analysis/link/link';
import { nameHash } from '../analysis/summary/name-hashes';
import type { ObjectSummary } from '../analysis/summary/object-summary';
import { formatUnresolvedSite, UnresolvedSites } from '../analysis/link/unresolved-sites';
import { readGoSyscalls } from '../analysis/seed-graph/go-syscalls';
import { ConfineError } from '../pipeline/errors';
import type { Stage, StageContext } from '../pipeline/stage';
import type { CfgsArtifact, ElfScanArtifact, ResolveArtifact, SymbolsArtifact } from '../schemas/types';
import { syscallName } from '../analysis/syscalls/table';
import type { RunConfig } from './config';
import type { ImageEntry } from '../formats/image-list';
import { memoScan } from './scan-memo';
import { seedGraphSyscalls } from './seed-graphs';
import { loadOrder as loadOrderOf, type LoadGraph } from '../system/extract/load-order';

type ScannedFile = SymbolsArtifact['files'][number] & { scan: ElfScanArtifact };

/** execve and execveat: a program reaching one may run another by a path it holds. */
const EXEC_SYSCALLS = [59, 322];

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
    version: 13, // 13: the symbol scope is system/extract/load-order.ts's walk: a name a loaded object's soname answers to is not looked up again (history: CHANGELOG.md)
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
      const byName = indexByName(files);
      const programs = files.filter((f) => (config.allBinaries ? f.role === 'all' || f.role === 'executed' || f.role === 'exec-candidate' : f.role === 'executed' || f.role === 'script-interpreter'));
      const dlopened = files.filter((f) => f.role === 'mapped' && f.scan.analysis && f.scan.dynamic?.type === 'dyn');

      const perBinary: ResolveArtifact['perBinary'] = [];
      const all = new Set<number>();
      const directOnly = new Set<number>();
      const reachableAT = new Set<number>();
      const wholeProgramAT = new Set<number>();
      const unresolved = new UnresolvedSites();
      const provenance: ResolveArtifact['provenance'] = {};
      const argRules = new ArgRulesMerge();
      // Executed 32-bit programs (i386, x32): not analysed, so profile-emit keeps the base profile whole.
      const compatPrograms: { path: string; abi: 'i386' | 'x32' }[] = [];
      const compatProgram = (f: ScannedFile, how: string): boolean => {
        const abi = compatAbiOfElf(f.scan.dynamic);
        if (!abi) return false;
        compatPrograms.push({ path: f.path, abi });
        ctx.log(`${f.path}: ${abi} program (${how}); its 32-bit code is not analysed, so the image keeps the base profile with the ${abi} ABI`);
        return true;
      };
      // What dlopen'd modules add to a process: each module (every export a root) and its own DT_NEEDED closure.
      // Then libraries a loaded object names for dlopen, never seen mapped: candidates the
      // walk opens only when reached code passes the name (each with its closure).
      const candidates = files.filter((f) => f.role === 'dlopen' && f.scan.analysis);
      const moduleObjects: ProgramObject[] = [
        ...dlopened.flatMap((m) => [{ path: m.path, summary: m.scan.analysis!, exportsAreRoots: true }, ...loadOrder(m, byName)]),
        ...candidates.flatMap((c) => {
          // The name that found it is its path as asked (`libnuma.so` → /usr/lib/…/libnuma.so), its file name or soname.
          const openedBy = openedByHashes(c.path, c.scan.dynamic?.soname, []);
          return [{ path: c.path, summary: c.scan.analysis!, openedBy }, ...loadOrder(c, byName).map((d) => ({ ...d, openedBy }))];
        }),
      ];
      // The names and paths reached code of a program that reaches an exec refers to: what
      // it may run by a constant path (role 'exec-candidate').
      const runnable = new Set<number>();
      // While the --exec-too programs are walked (last): the one whose walk, or whose run
      // candidates' walks, is under way; and which of them made each name runnable.
      let execRoot: string | undefined;
      const runnableRoot = new Map<number, string>();
      const walk = (root: ScannedFile, summary: ObjectSummary, label: string, withModules: boolean): ProgramResolution => {
        const libs = loadOrder(root, byName);
        const loader = root.scan.dynamic?.interp ? byName.get(root.scan.dynamic.interp) ?? byName.get(path.posix.basename(root.scan.dynamic.interp)) : undefined;
        const res = resolveProgram({
          executable: { path: root.path, summary },
          // After the program's own closure, as ld.so's global scope has them; a module's
          // local scope (its closure) is searched after the global one.
          libraries: withModules ? [...libs, ...moduleObjects] : libs,
          ...(loader?.scan.analysis ? { loader: { path: loader.path, summary: loader.scan.analysis } } : {}),
        });
        for (const nr of res.syscalls) { all.add(nr); reachableAT.add(nr); }
        for (const nr of res.withoutIndirectRule) directOnly.add(nr);
        for (const nr of res.wholeProgramAT) wholeProgramAT.add(nr);
        for (const [nr, p] of res.provenance) {
          const name = syscallName(nr) ?? `syscall_${nr}`;
          // Keep the shortest chain over all programs: the clearest answer to "why".
          if (!provenance[name] || provenance[name].steps.length > p.steps.length) {
            provenance[name] = { binary: label, steps: p.steps.map((st) => ({ object: st.object, function: st.function, ...(st.via ? { via: st.via } : {}), ...(st.takenBy ? { takenBy: st.takenBy } : {}) })), site: p.site, siteObject: p.siteObject };
          }
        }
        unresolved.add(label, res.unresolvedSites);
        argRules.addWalk(label, res);
        perBinary.push({ path: label, syscalls: names(res.syscalls), unresolvedSites: res.unresolvedSites.length });
        if (EXEC_SYSCALLS.some((nr) => res.syscalls.has(nr))) {
          for (const h of res.reachedNames) {
            if (execRoot !== undefined && !runnable.has(h)) runnableRoot.set(h, execRoot);
            runnable.add(h);
          }
        }
        return res;
      };

      // Every object the container loads must be analysed: one left out is syscalls the profile blocks.
      const unanalysed = files.filter((f) => f.format === 'malformed' && (f.role === 'executed' || f.role === 'exec-too' || f.role === 'script-interpreter' || f.role === 'interpreter' || f.role === 'needed' || f.role === 'mapped'));
      if (unanalysed.length) {
        throw new ConfineError('analysis-failed', `${unanalysed.length} file(s) the container runs or loads could not be analysed: ${unanalysed.slice(0, 5).map((f) => `${f.path} (${f.role}): ${f.scan.error}`).join('; ')}${unanalysed.length > 5 ? `; and ${unanalysed.length - 5} more` : ''}`);
      }
      // Each walk is synchronous work: between walks the event loop runs, so a signal is heard.
      const breathe = async () => {
        await new Promise((r) => setImmediate(r));
        if (ctx.signal.aborted) throw new ConfineError('interrupted', 'interrupted while resolving syscalls');
      };
      let modulesWalked = false;
      /** One program as the image runs it: its walk (with the mapped modules when dynamic), and the seed graph's additions; returns what it reaches. */
      const walkProgram = async (p: ScannedFile, summary: ObjectSummary, label: string): Promise<Set<number>> => {
        const dynamic = !!p.scan.dynamic?.interp;
        if (dynamic) modulesWalked = true;
        const reached = new Set(walk(p, summary, label, dynamic).syscalls);
        // The seed's -l/-m graph for this program's libc can only add syscalls.
        const libcObj = loadOrder(p, byName).find((l) => /^libc\.so\.6$|^libc\.musl-|^ld-musl-/.test(path.posix.basename(l.path)));
        const libcFile = libcObj && files.find((f) => f.path === libcObj.path);
        const seed = await seedGraphSyscalls(deps['load-cfgs'], ctx, { imports: summary.imports, libcDigest: libcFile?.digest, libc: !libcObj ? undefined : /musl/.test(libcObj.path) ? 'musl' : 'glibc' }, config);
        for (const nr of seed.syscalls) { all.add(nr); reached.add(nr); }
        argRules.addOpaque(seed.syscalls, p.path, `seed graph ${seed.used.join(', ')}: no argument facts`);
        if (seed.used.length) ctx.log(`${p.path}: ${seed.syscalls.size} syscalls from seed graph ${seed.used.join(', ')}`);
        return reached;
      };
      for (const p of programs) {
        await breathe();
        if (p.format !== 'elf') {
          ctx.log(`${p.path}: ${p.format === 'not-elf' ? 'not an ELF file (a script? its interpreter is analysed)' : p.scan.error}`);
          continue;
        }
        if (!p.scan.analysis && compatProgram(p, p.role === 'all' ? 'in the image, --allbinaries' : 'executed')) continue;
        if (!p.scan.analysis) {
          // Sound, not silent: an executed program we cannot analyse makes the profile unknowable.
          throw new ConfineError('analysis-failed', `${p.path} was executed but could not be analysed: ${p.scan.error ?? 'no code found'}`);
        }
        await walkProgram(p, p.scan.analysis, p.path);
      }
      // Modules mapped with no dynamic program to join (an unusual image): walked on their own.
      if (!modulesWalked) {
        for (const m of dlopened) {
          await breathe();
          // dlsym can hand out any export: every exported function is an entry point.
          const s = m.scan.analysis!;
          walk(m, { ...s, inits: [...new Set([...s.inits, ...s.exports.map((e) => e.fn)])] }, `${m.path} (dlopen'd)`, false);
        }
      }
      // Programs a walked program may run by a constant path it refers to (`/bin/sh` from
      // glibc's system() and popen()), never seen running: walked like the executed ones
      // once one that reaches execve refers to any name of theirs, to a fixpoint (each may
      // run others by theirs).
      // An --exec-too program the container's own code may run by its path is such a
      // candidate too: then it costs nothing extra.
      const namesOf = (f: ScannedFile) => f.activatedBy ?? (f.role === 'exec-candidate' && f.neededBy !== undefined ? [f.neededBy] : []);
      const pending = config.allBinaries ? [] : files.filter((f) => (f.role === 'exec-candidate' || f.role === 'exec-too') && f.format !== 'not-elf' && namesOf(f).length);
      const walked = new Set<ScannedFile>();
      /** Walks each pending candidate some walked program may run, to a fixpoint; `reachedBy` hears what each walk reached. */
      const activateCandidates = async (reachedBy?: (root: string, reached: Set<number>) => void) => {
        for (let more = true; more; ) {
          more = false;
          for (const c of [...pending]) {
            const by = namesOf(c).find((n) => runnable.has(nameHash(n)));
            if (by === undefined) continue;
            pending.splice(pending.indexOf(c), 1);
            more = true;
            await breathe();
            if (!c.scan.analysis && compatProgram(c, `may be run: reached code of a program that execs refers to "${by}"`)) continue;
            if (!c.scan.analysis) {
              throw new ConfineError('analysis-failed', `${c.path} may be run (reached code of a program that execs refers to "${by}") but could not be analysed: ${c.scan.error ?? 'no code found'}`);
            }
            const root = runnableRoot.get(nameHash(by));
            execRoot = root;
            walked.add(c);
            const reached = await walkProgram(c, c.scan.analysis, `${c.path} (may be run by the path "${by}"${root !== undefined ? `, from --exec-too ${root}` : ''})`);
            if (root !== undefined) reachedBy?.(root, reached);
            ctx.log(`${c.path}: analysed too, a program that reaches execve refers to "${by}"`);
          }
        }
        execRoot = undefined;
      };
      await activateCandidates();

      // Programs an operator may run with `docker exec` (--exec-too), walked last like
      // executed ones (with what they may run in turn), so what they add to the
      // container's own set is known and named.
      const before = new Set(all);
      const execReached = new Map<string, Set<number>>();
      const heard = (root: string, reached: Set<number>) => {
        const s = execReached.get(root) ?? new Set<number>();
        for (const nr of reached) s.add(nr);
        execReached.set(root, s);
      };
      for (const p of files.filter((f) => f.role === 'exec-too' && !walked.has(f))) {
        await breathe();
        if (p.format !== 'elf') continue; // a script: its interpreter is an exec-too program too
        if (!p.scan.analysis) throw new ConfineError('analysis-failed', `${p.path} (--exec-too) could not be analysed: ${p.scan.error ?? 'no code found'}`);
        // Walked here: no longer a candidate waiting for a name.
        if (pending.includes(p)) pending.splice(pending.indexOf(p), 1);
        execRoot = p.path;
        heard(p.path, await walkProgram(p, p.scan.analysis, `${p.path} (--exec-too)`));
        execRoot = undefined;
      }
      await activateCandidates(heard);

      const overrides = await goOverrides(config, image);
      for (const nr of overrides) all.add(nr);
      argRules.addOpaque(overrides, goListFile(config, image) ?? '(overrides)', 'listed by -g: no argument facts');
      if (overrides.length) ctx.log(`${overrides.length} syscalls added from ${goListFile(config, image)}`);
      const execToo = symbols.execToo
        ? {
            ...symbols.execToo,
            added: [...all]
              .filter((nr) => !before.has(nr) && !overrides.includes(nr))
              .map((nr) => ({ syscall: syscallName(nr) ?? `syscall_${nr}`, programs: [...execReached].filter(([, s]) => s.has(nr)).map(([root]) => root).sort() }))
              .sort((a, b) => a.syscall.localeCompare(b.syscall)),
          }
        : undefined;
      if (execToo) ctx.log(`--exec-too ${execToo.asked.join(',')}: ${execToo.added.length} syscalls beyond what the container itself reaches${execToo.added.length ? ` (${execToo.added.map((a) => a.syscall).join(' ')})` : ''}`);
      const sites = unresolved.list();
      ctx.log(`${all.size} syscalls reachable from ${perBinary.length} programs; ${sites.length} reached syscall sites with a number not recovered`);
      // Never silent: a syscall made at one of these may be missing from the profile.
      for (const u of sites) ctx.log(`unresolved syscall site ${formatUnresolvedSite(u)} (reached from ${u.binaries.join(', ')})`);
      return {
        ...(execToo ? { execToo } : {}),
        method: 'static-analysis',
        syscalls: names(all),
        perBinary,
        overrides: names(new Set(overrides)),
        unresolvedSites: sites.length,
        unresolved: sites,
        provenance,
        argRules: argRules.result(all),
        byRule: { directOnly: names(directOnly), reachableAT: names(reachableAT), wholeProgramAT: names(wholeProgramAT) },
        ...(compatPrograms.length ? { compatPrograms } : {}),
      };
    },
  };
}

const EM_386 = 3;
const EM_X86_64 = 62;

/** The compat ABI a 32-bit x86 ELF runs under: i386 (EM_386), x32 (ELFCLASS32 with EM_X86_64); undefined otherwise. */
export function compatAbiOfElf(d: { elfClass: number; machine: number } | undefined): 'i386' | 'x32' | undefined {
  if (d?.elfClass !== 32) return undefined;
  return d.machine === EM_386 ? 'i386' : d.machine === EM_X86_64 ? 'x32' : undefined;
}

function names(nrs: Set<number>): string[] {
  return [...nrs].map((n) => syscallName(n) ?? `syscall_${n}`).sort();
}

/** The per-file scans symbol-scan made (read back from memory or disk, recomputed if evicted). */
async function loadScans(symbols: SymbolsArtifact, ctx: StageContext, config: RunConfig): Promise<ScannedFile[]> {
  const out: ScannedFile[] = [];
  for (const f of symbols.files) {
    const { value } = await memoScan(ctx, config.outDir, f);
    out.push({ ...f, scan: value });
  }
  return out;
}

/** Libraries by the names DT_NEEDED uses: soname, file name, and path. */
function indexByName(files: ScannedFile[]): Map<string, ScannedFile> {
  const m = new Map<string, ScannedFile>();
  for (const f of files) {
    if (f.format !== 'elf') continue;
    for (const k of [f.scan.dynamic?.soname, path.posix.basename(f.path), f.path]) if (k && !m.has(k)) m.set(k, f);
  }
  return m;
}

/** The program's libraries in ld.so's load order (system/extract/load-order.ts): the order symbols are searched in. */
function loadOrder(root: ScannedFile, byName: Map<string, ScannedFile>): ProgramObject[] {
  const graph: LoadGraph<ScannedFile> = { key: (f) => f.digest, needed: (f) => f.scan.dynamic?.needed ?? [], soname: (f) => f.scan.dynamic?.soname };
  const loaded = loadOrderOf(root, graph, (_, name) => {
    const lib = byName.get(name);
    if (lib && !lib.scan.analysis && lib.scan.error && !/^no executable \.text section/.test(lib.scan.error)) {
      throw new ConfineError('analysis-failed', `${lib.path}, loaded by ${root.path}, could not be analysed: ${lib.scan.error}`);
    }
    return lib ? [lib] : [];
  });
  return loaded.flatMap((lib) => (lib.scan.analysis ? [{ path: lib.path, summary: lib.scan.analysis }] : []));
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
