// One image's hunt: list its ELF programs, run each with --version and --help under
// strace in throwaway containers, analyse every program image that ran with
// `confine analyze --root`, and report each syscall seen but not allowed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { analyzedObjects, analyzePrograms, Analysis, CONFINE_BIN } from './analyze';
import { compareRun, FalseNegative, frameObject, median, parseStacks } from './compare';
import { exportRootfs, listPrograms, Program, resolveInRoot } from './rootfs';
import { ParsedTrace, parseStrace } from './strace-parse';
import { modesOf, RunRequest, traceRuns } from './trace-runs';

export interface HuntOptions {
  image: string;
  /** Where rootfs exports, traces and the analysis cache go. */
  workDir: string;
  /** A rootfs with strace to mount when the image has none. */
  toolsRoot?: string;
  /** Only programs whose path or one of whose names is listed. */
  only?: string[];
  /**
   * Runs with real arguments besides --version/--help (issue 22: what a server's
   * programs do beyond start-up): each whose path is one of the image's programs
   * (its path or a name: a busybox applet's link) runs once as mode 'run'; the
   * others are listed in HuntResult.runsSkipped.
   */
  runs?: CommandRun[];
  seconds?: number;
  parallel?: number;
  log?: (m: string) => void;
  /**
   * Replaces a program's analysed set before the comparison: the negative control
   * of the CI test (a set known to miss a syscall must come out as a false negative).
   */
  tamper?: (program: string, allowed: Set<string>) => Set<string>;
}

/** PATH run with ARGS (PATH as executed: argv[0] selects a busybox applet). */
export interface CommandRun {
  path: string;
  args: string[];
}

export interface ProgramResult {
  path: string;
  names: string[];
  sha256: string;
  /** command: the run's path and arguments, for mode 'run'. */
  runs: { mode: string; rc: string; started: boolean; command?: string }[];
  /** Syscalls the program itself made (children's are checked against their own programs). */
  seen: string[];
  allowed?: number;
  unresolvedSites?: number;
  analysisError?: string;
  falseNegatives: string[];
}

export interface HuntResult {
  image: string;
  programsTried: number;
  /** Programs analysed without error and run at least once. */
  programsAnalysed: number;
  medianAllowed?: number;
  falseNegatives: FalseNegative[];
  /**
   * Syscalls missed in programs whose analysis reports an unresolved site: their profile
   * keeps the base by default, so these are no outage unless --narrow-past-unknown-sites.
   */
  behindUnresolved: FalseNegative[];
  /** Numbers strace saw that are no x86-64 syscall (see compare.ts): for review, not counted. */
  unnamed: FalseNegative[];
  unchecked: { program: string; mode: string; exe: string; reason: string; syscalls: string[] }[];
  programs: ProgramResult[];
  /** HuntOptions.runs whose path is none of the image's programs (not run). */
  runsSkipped: string[];
}

export const commandOf = (r: CommandRun): string => [r.path, ...r.args].join(' ');

/** The image's CMD/ENTRYPOINT program, when it is outside the program directories (/tinyhttpd). */
function entrypointPrograms(image: string): string[] {
  const cfg = JSON.parse(execFileSync('docker', ['image', 'inspect', '-f', '{{json .Config}}', image], { encoding: 'utf8' })) as {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
  };
  const first = (cfg.Entrypoint && cfg.Entrypoint[0]) || (cfg.Cmd && cfg.Cmd[0]);
  return first && first.startsWith('/') ? [first] : [];
}

function readHead(file: string, n: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } catch {
    return Buffer.alloc(0);
  } finally {
    closeSync(fd);
  }
}

/** The ELF file (inside ROOT) an execve of EXE runs: symlinks resolved, #! followed. */
export function programOfExe(root: string, exe: string): string | undefined {
  let cur = exe;
  for (let depth = 0; depth < 4; depth++) {
    if (!cur.startsWith('/')) return undefined;
    const real = resolveInRoot(root, cur);
    if (!real) return undefined;
    let head: Buffer;
    try {
      head = readHead(path.join(root, real), 256);
    } catch {
      return undefined;
    }
    if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return real;
    if (head.subarray(0, 2).toString() !== '#!') return undefined;
    const interp = head.toString('latin1').slice(2).split('\n')[0].trim().split(/\s+/)[0];
    if (!interp) return undefined;
    cur = interp;
  }
  return undefined;
}

/** One analysis cache per confine build measured: two builds never read each other's entries. */
function analyzeCacheDir(workDir: string): string {
  const h = createHash('sha256').update(CONFINE_BIN).digest('hex').slice(0, 8);
  return path.join(workDir, `analyze-cache-${h}`);
}

const safeId = (i: number) => `p${String(i).padStart(4, '0')}`;

export async function huntImage(opts: HuntOptions): Promise<HuntResult> {
  const log = opts.log ?? (() => {});
  const root = exportRootfs(opts.image, path.join(opts.workDir, 'rootfs'));
  const all = listPrograms(root, entrypointPrograms(opts.image));
  let programs = all;
  if (opts.only) {
    const want = new Set(opts.only);
    programs = programs.filter((p) => want.has(p.path) || p.names.some((n) => want.has(n)));
  }
  const runs: { run: CommandRun; program: Program }[] = [];
  const runsSkipped: string[] = [];
  for (const run of opts.runs ?? []) {
    const program = all.find((p) => p.path === run.path || p.names.includes(run.path));
    if (!program) {
      runsSkipped.push(commandOf(run));
      continue;
    }
    runs.push({ run, program });
    if (!programs.includes(program)) programs = [...programs, program];
  }
  log(`${opts.image}: ${programs.length} ELF programs (deduplicated by content)`);
  // One directory per hunt: hunts of the same image may run side by side. The traces
  // are deleted at the end (results.json keeps what they showed) unless FN_HUNT_KEEP_TRACES=1.
  const traceDir = path.join(opts.workDir, 'traces', `${opts.image.replace(/[^\w.-]+/g, '_')}.${process.pid}.${Date.now()}`);
  try {
    return await hunt(opts, root, programs, runs, runsSkipped, traceDir, log);
  } finally {
    if (process.env.FN_HUNT_KEEP_TRACES !== '1') rmSync(traceDir, { recursive: true, force: true });
    else log(`traces kept in ${traceDir}`);
  }
}

async function hunt(
  opts: HuntOptions,
  root: string,
  programs: Program[],
  commandRuns: { run: CommandRun; program: Program }[],
  runsSkipped: string[],
  traceDir: string,
  log: (m: string) => void,
): Promise<HuntResult> {
  // Each request runs one program: --version/--help (p…), or a command run (r…).
  const requests: { req: RunRequest; program: Program; command?: string }[] = [
    ...programs.map((p, i) => ({ req: { id: safeId(i), path: p.path }, program: p })),
    ...commandRuns.map(({ run, program }, i) => ({ req: { id: `r${String(i).padStart(4, '0')}`, path: run.path, args: run.args }, program, command: commandOf(run) })),
  ];
  const byId = new Map(requests.map((r) => [r.req.id, r]));
  const runOpts = { image: opts.image, toolsRoot: opts.toolsRoot, seconds: opts.seconds ?? 5, parallel: opts.parallel ?? 2, log };
  const t0 = Date.now();
  const runs = await traceRuns({ ...runOpts, outDir: path.join(traceDir, 'runs') }, requests.map((r) => r.req));
  log(`${opts.image}: ${runs.length} traced runs in ${Math.round((Date.now() - t0) / 1000)} s`);

  const parsed = runs.map((r) => {
    const { program, command } = byId.get(r.id)!;
    return { ...r, program, command, parsed: r.trace ? parseStrace(r.trace, program.path) : undefined };
  });
  const exeMap = new Map<string, string | undefined>();
  const toAnalyse = new Set<string>(programs.map((p) => p.path));
  for (const r of parsed) {
    for (const exe of r.parsed?.byExe.keys() ?? []) {
      if (!exeMap.has(exe)) exeMap.set(exe, programOfExe(root, exe));
      const real = exeMap.get(exe);
      if (real) toAnalyse.add(real);
    }
  }
  const t1 = Date.now();
  const analyses = await analyzePrograms(root, analyzeCacheDir(opts.workDir), [...toAnalyse].sort(), { log });
  log(`${opts.image}: ${toAnalyse.size} programs analysed in ${Math.round((Date.now() - t1) / 1000)} s`);
  const allowedOf = (p: string): Set<string> | undefined => {
    const a: Analysis | undefined = analyses.get(p);
    if (!a || !('syscalls' in a)) return undefined;
    return opts.tamper ? opts.tamper(p, a.syscalls) : a.syscalls;
  };

  const falseNegatives: FalseNegative[] = [];
  /** The request whose run showed each false negative: the stack pass reruns it. */
  const requestOf = new Map<FalseNegative, RunRequest>();
  const unnamed: FalseNegative[] = [];
  const unchecked: HuntResult['unchecked'] = [];
  const perProgram = new Map<string, ProgramResult>();
  for (const p of programs) {
    const a = analyses.get(p.path);
    perProgram.set(p.path, {
      path: p.path,
      names: p.names,
      sha256: p.sha256,
      runs: [],
      seen: [],
      ...(a && 'syscalls' in a ? { allowed: a.syscalls.size, unresolvedSites: a.unresolvedSites } : { analysisError: a ? a.error : 'not analysed' }),
      falseNegatives: [],
    });
  }
  for (const r of parsed) {
    const pr = perProgram.get(r.program.path)!;
    pr.runs.push({ mode: r.mode, rc: r.rc, started: !!r.parsed?.started, ...(r.command ? { command: r.command } : {}) });
    if (!r.parsed) continue;
    const own = r.parsed.byExe.get(r.program.path);
    pr.seen = [...new Set([...pr.seen, ...(own ?? [])])].sort();
    const c = compareRun({ program: r.program.path, mode: r.mode, trace: r.parsed, exeToAnalysed: (e) => exeMap.get(e) ?? (e === r.program.path ? e : undefined), allowed: allowedOf });
    for (const fn of c.falseNegatives) {
      if (r.command) fn.command = r.command;
      requestOf.set(fn, byId.get(r.id)!.req);
    }
    falseNegatives.push(...c.falseNegatives);
    unnamed.push(...c.unnamed);
    for (const u of c.unchecked) unchecked.push({ program: r.program.path, mode: r.mode, ...u });
  }
  // A program whose analysis left a reached site's number unknown never gets a narrowed
  // profile by default (formats/profile/choose-profile.ts): a syscall missed there is no outage
  // under the default, so it is not counted, but it is listed (behindUnresolved), never hidden.
  const unresolvedOf = (exe: string): number => {
    const a = analyses.get(exeMap.get(exe) ?? exe);
    return a && 'syscalls' in a ? a.unresolvedSites : 0;
  };
  const behindUnresolved = falseNegatives.filter((f) => unresolvedOf(f.exe) > 0);
  falseNegatives.splice(0, falseNegatives.length, ...falseNegatives.filter((f) => unresolvedOf(f.exe) === 0));
  for (const fn of falseNegatives) {
    const pr = perProgram.get(fn.program)!;
    if (!pr.falseNegatives.includes(fn.syscall)) pr.falseNegatives.push(fn.syscall);
  }

  await addStacks([...falseNegatives, ...behindUnresolved], requestOf, { ...runOpts, outDir: path.join(traceDir, 'stacks') });
  await addUnanalysedObjects([...falseNegatives, ...behindUnresolved], root, analyzeCacheDir(opts.workDir));

  const results = [...perProgram.values()];
  const ok = results.filter((p) => p.allowed !== undefined && p.runs.some((r) => r.started));
  return {
    image: opts.image,
    programsTried: programs.length,
    programsAnalysed: ok.length,
    medianAllowed: median(ok.map((p) => p.allowed!)),
    falseNegatives,
    behindUnresolved,
    unnamed,
    unchecked,
    programs: results,
    runsSkipped,
  };
}

/** Reruns each request with a false negative, tracing only the missed syscalls with stacks (strace -k). */
async function addStacks(fns: FalseNegative[], requestOf: Map<FalseNegative, RunRequest>, opts: Parameters<typeof traceRuns>[0]): Promise<void> {
  if (fns.length === 0) return;
  const want = new Map<string, { req: RunRequest; syscalls: Set<string> }>();
  for (const fn of fns) {
    const req = requestOf.get(fn)!;
    const w = want.get(req.id) ?? { req, syscalls: new Set<string>() };
    w.syscalls.add(fn.syscall);
    want.set(req.id, w);
  }
  const reqs: RunRequest[] = [...want.values()].map(({ req, syscalls }) => ({ ...req, stackFor: [...syscalls] }));
  const runs = await traceRuns(opts, reqs);
  const stacks = new Map<string, Map<string, string[]>>();
  for (const r of runs) if (r.trace) stacks.set(`${r.id}.${r.mode}`, parseStacks(r.trace));
  for (const fn of fns) {
    const req = requestOf.get(fn)!;
    fn.stack = stacks.get(`${req.id}.${fn.mode}`)?.get(fn.syscall) ?? modesOf(req).map((m) => stacks.get(`${req.id}.${m}`)?.get(fn.syscall)).find(Boolean);
  }
}

async function addUnanalysedObjects(fns: FalseNegative[], root: string, cacheDir: string): Promise<void> {
  const withStack = fns.filter((f) => f.stack?.length);
  const loaded = await analyzedObjects(root, cacheDir, [...new Set(withStack.map((f) => f.exe))]);
  for (const fn of withStack) {
    const objs = loaded.get(fn.exe);
    if (!objs) continue;
    const missing = new Set<string>();
    for (const frame of fn.stack!) {
      const obj = frameObject(frame);
      if (obj === 'unexpected_backtracing_error') continue;
      if (!obj.startsWith('/')) {
        missing.add(obj); // [vdso]
        continue;
      }
      const real = resolveInRoot(root, obj);
      if (!objs.has(path.basename(real ?? obj))) missing.add(obj);
    }
    fn.unanalysedObjects = [...missing];
  }
}

export type { ParsedTrace };
