import * as path from 'node:path';
import { resolveProgram, type ProgramObject, type ProgramResolution } from '../analysis/link/link';
import { nameHash } from '../analysis/summary/name-hashes';
import type { ObjectSummary } from '../analysis/summary/object-summary';
import { ConfineError } from '../pipeline/errors';
import type { StageContext } from '../pipeline/stage';
import type { CfgsArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import { compatAbiOfElf, dlopenedModules, indexByName, loadOrder, moduleObjects, type ScannedFile } from './resolve-objects';
import type { ResolveTotals } from './resolve-totals';
import { seedGraphSyscalls } from './seed-graphs';

/** execve and execveat: a program reaching one may run another by a path it holds. */
const EXEC_SYSCALLS = [59, 322];

/**
 * The whole-program walks of one image, in the order that matters: executed programs, then
 * mapped modules with no program to join, then the programs they may run by a constant
 * path, then --exec-too programs and what those may run. It also tracks which names reached
 * code of an exec-reaching program refers to (what may be run), and which --exec-too
 * program made each name runnable, so what they add is named.
 */
export class ImageWalks {
  /** Per --exec-too program: every syscall its walk, and its run candidates' walks, reached. */
  readonly execReached = new Map<string, Set<number>>();
  private readonly byName: Map<string, ScannedFile>;
  private readonly modules: ProgramObject[];
  /** Name hashes reached code of a program that reaches an exec refers to: what it may run. */
  private readonly runnable = new Set<number>();
  /** Which --exec-too program made each runnable name runnable. */
  private readonly runnableRoot = new Map<number, string>();
  /** While --exec-too programs are walked: the one whose walk, or whose candidates' walks, is under way. */
  private execRoot: string | undefined;
  private modulesWalked = false;
  /** Programs that may be run by a name, not walked yet; and the candidates walked. */
  private readonly pending: ScannedFile[];
  private readonly walked = new Set<ScannedFile>();

  constructor(
    private readonly files: ScannedFile[],
    private readonly totals: ResolveTotals,
    private readonly env: { ctx: StageContext; cfgs: CfgsArtifact; config: RunConfig },
  ) {
    this.byName = indexByName(files);
    this.modules = moduleObjects(files, this.byName);
    this.pending = env.config.allBinaries ? [] : files.filter((f) => (f.role === 'exec-candidate' || f.role === 'exec-too') && f.format !== 'not-elf' && runNames(f).length);
  }

  /** Every program the image ran (or, with --allbinaries, every executable); an unanalysable one fails the image. */
  async walkPrograms(): Promise<void> {
    const all = this.env.config.allBinaries;
    const programs = this.files.filter((f) => (all ? f.role === 'all' || f.role === 'executed' || f.role === 'exec-candidate' : f.role === 'executed' || f.role === 'script-interpreter'));
    for (const p of programs) {
      await this.breathe();
      if (p.format !== 'elf') {
        this.env.ctx.log(`${p.path}: ${p.format === 'not-elf' ? 'not an ELF file (a script? its interpreter is analysed)' : p.scan.error}`);
        continue;
      }
      if (!p.scan.analysis && this.compatProgram(p, p.role === 'all' ? 'in the image, --allbinaries' : 'executed')) continue;
      if (!p.scan.analysis) {
        // Sound, not silent: an executed program we cannot analyse makes the profile unknowable.
        throw new ConfineError('analysis-failed', `${p.path} was executed but could not be analysed: ${p.scan.error ?? 'no code found'}`);
      }
      await this.walkProgram(p, p.scan.analysis, p.path);
    }
  }

  /** Modules mapped with no dynamic program to join (an unusual image): walked on their own. */
  async walkLoneModules(): Promise<void> {
    if (this.modulesWalked) return;
    for (const m of dlopenedModules(this.files)) {
      await this.breathe();
      // dlsym can hand out any export: every exported function is an entry point.
      const s = m.scan.analysis!;
      this.walk(m, { ...s, inits: [...new Set([...s.inits, ...s.exports.map((e) => e.fn)])] }, `${m.path} (dlopen'd)`, false);
    }
  }

  /**
   * Programs a walked program may run by a constant path it refers to (`/bin/sh` from
   * glibc's system() and popen()), never seen running: walked like the executed ones once
   * one that reaches execve refers to any name of theirs, to a fixpoint (each may run others
   * by theirs). An --exec-too program the container's own code may run by its path is such
   * a candidate too: then it costs nothing extra. `forExecToo`: record what each walk reached
   * under the --exec-too program that made it runnable.
   */
  async walkRunCandidates(forExecToo = false): Promise<void> {
    for (let more = true; more; ) {
      more = false;
      for (const c of [...this.pending]) {
        const by = runNames(c).find((n) => this.runnable.has(nameHash(n)));
        if (by === undefined) continue;
        this.pending.splice(this.pending.indexOf(c), 1);
        more = true;
        await this.breathe();
        await this.walkRunCandidate(c, by, forExecToo);
      }
    }
    this.execRoot = undefined;
  }

  /**
   * Programs an operator may run with `docker exec` (--exec-too), walked last like executed
   * ones (with what they may run in turn), so what they add to the container's own set is
   * known and named.
   */
  async walkExecToo(): Promise<void> {
    for (const p of this.files.filter((f) => f.role === 'exec-too' && !this.walked.has(f))) {
      await this.breathe();
      if (p.format !== 'elf') continue; // a script: its interpreter is an exec-too program too
      if (!p.scan.analysis) throw new ConfineError('analysis-failed', `${p.path} (--exec-too) could not be analysed: ${p.scan.error ?? 'no code found'}`);
      // Walked here: no longer a candidate waiting for a name.
      if (this.pending.includes(p)) this.pending.splice(this.pending.indexOf(p), 1);
      this.execRoot = p.path;
      this.recordExecToo(p.path, await this.walkProgram(p, p.scan.analysis, `${p.path} (--exec-too)`));
      this.execRoot = undefined;
    }
    await this.walkRunCandidates(true);
  }

  /** One candidate some walked program may run by the name `by`. */
  private async walkRunCandidate(c: ScannedFile, by: string, forExecToo: boolean): Promise<void> {
    if (!c.scan.analysis && this.compatProgram(c, `may be run: reached code of a program that execs refers to "${by}"`)) return;
    if (!c.scan.analysis) {
      throw new ConfineError('analysis-failed', `${c.path} may be run (reached code of a program that execs refers to "${by}") but could not be analysed: ${c.scan.error ?? 'no code found'}`);
    }
    const root = this.runnableRoot.get(nameHash(by));
    this.execRoot = root;
    this.walked.add(c);
    const reached = await this.walkProgram(c, c.scan.analysis, `${c.path} (may be run by the path "${by}"${root !== undefined ? `, from --exec-too ${root}` : ''})`);
    if (root !== undefined && forExecToo) this.recordExecToo(root, reached);
    this.env.ctx.log(`${c.path}: analysed too, a program that reaches execve refers to "${by}"`);
  }

  /** One program as the image runs it: its walk (with the mapped modules when dynamic), and the seed graph's additions; returns what it reaches. */
  private async walkProgram(p: ScannedFile, summary: ObjectSummary, label: string): Promise<Set<number>> {
    const dynamic = !!p.scan.dynamic?.interp;
    if (dynamic) this.modulesWalked = true;
    const reached = new Set(this.walk(p, summary, label, dynamic).syscalls);
    // The seed's -l/-m graph for this program's libc can only add syscalls.
    const libcObj = loadOrder(p, this.byName).find((l) => /^libc\.so\.6$|^libc\.musl-|^ld-musl-/.test(path.posix.basename(l.path)));
    const libcFile = libcObj && this.files.find((f) => f.path === libcObj.path);
    const { ctx, cfgs, config } = this.env;
    const seed = await seedGraphSyscalls(cfgs, ctx, { imports: summary.imports, libcDigest: libcFile?.digest, libc: !libcObj ? undefined : /musl/.test(libcObj.path) ? 'musl' : 'glibc' }, config);
    this.totals.addOpaque(seed.syscalls, p.path, `seed graph ${seed.used.join(', ')}: no argument facts`);
    for (const nr of seed.syscalls) reached.add(nr);
    if (seed.used.length) ctx.log(`${p.path}: ${seed.syscalls.size} syscalls from seed graph ${seed.used.join(', ')}`);
    return reached;
  }

  /** The whole-program walk from `root`'s entry points through its libraries and the dynamic loader. */
  private walk(root: ScannedFile, summary: ObjectSummary, label: string, withModules: boolean): ProgramResolution {
    const libs = loadOrder(root, this.byName);
    const interp = root.scan.dynamic?.interp;
    const loader = interp ? this.byName.get(interp) ?? this.byName.get(path.posix.basename(interp)) : undefined;
    const res = resolveProgram({
      executable: { path: root.path, summary },
      // After the program's own closure, as ld.so's global scope has them; a module's
      // local scope (its closure) is searched after the global one.
      libraries: withModules ? [...libs, ...this.modules] : libs,
      ...(loader?.scan.analysis ? { loader: { path: loader.path, summary: loader.scan.analysis } } : {}),
    });
    this.totals.addWalk(label, res);
    this.noteRunnable(res);
    return res;
  }

  /** A walk that reaches an exec makes every name its reached code refers to runnable. */
  private noteRunnable(res: ProgramResolution): void {
    if (!EXEC_SYSCALLS.some((nr) => res.syscalls.has(nr))) return;
    for (const h of res.reachedNames) {
      if (this.execRoot !== undefined && !this.runnable.has(h)) this.runnableRoot.set(h, this.execRoot);
      this.runnable.add(h);
    }
  }

  private recordExecToo(root: string, reached: Set<number>): void {
    const s = this.execReached.get(root) ?? new Set<number>();
    for (const nr of reached) s.add(nr);
    this.execReached.set(root, s);
  }

  /** A 32-bit program is not analysed: noted so the image keeps the base profile with its ABI. */
  private compatProgram(f: ScannedFile, how: string): boolean {
    const abi = compatAbiOfElf(f.scan.dynamic);
    if (!abi) return false;
    this.totals.compatPrograms.push({ path: f.path, abi });
    this.env.ctx.log(`${f.path}: ${abi} program (${how}); its 32-bit code is not analysed, so the image keeps the base profile with the ${abi} ABI`);
    return true;
  }

  /** Each walk is synchronous work: between walks the event loop runs, so a signal is heard. */
  private async breathe(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.env.ctx.signal.aborted) throw new ConfineError('interrupted', 'interrupted while resolving syscalls');
  }
}

/** The names a program may be run by: the paths that activated it, or the object that refers to it. */
function runNames(f: ScannedFile): string[] {
  return f.activatedBy ?? (f.role === 'exec-candidate' && f.neededBy !== undefined ? [f.neededBy] : []);
}
