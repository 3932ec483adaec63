/**
 * Mutation fuzzer for the ELF reader (parseElf) and symbol-scan (scanFile).
 *
 *   npx tsx tools/fuzz/elf-fuzz.ts [--cases N] [--seed S] [--workers W] [--hang-ms MS]
 *                            [--heap-mb MB] [--large] [--save DIR] [--json]
 *   npx tsx tools/fuzz/elf-fuzz.ts --replay I [--seed S] [--large]   # rerun one case in-process
 *
 * Cases run in worker threads so the three failures a single process cannot catch
 * are caught: a hang (the watchdog terminates a worker whose case runs past
 * --hang-ms), unbounded memory (each worker has a --heap-mb old-space limit; a
 * worker that dies of it is reported with its case), and a crash (anything thrown
 * that is not a ConfineError). Every case is a function of (seed, index), so a
 * finding is replayed with --replay. Exit status 0 only when nothing was found.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { buildCorpus, Seed } from './corpus';
import { caseInput, CaseResult, prepare, runCase } from './run-case';

interface Options {
  cases: number;
  seed: number;
  workers: number;
  hangMs: number;
  heapMb: number;
  large: boolean;
  save?: string;
  json: boolean;
  replay?: number;
  /** Harness self-check: case 0 hangs, allocates without bound, or throws a TypeError. */
  selfTest?: 'hang' | 'memory' | 'crash';
}

export interface Finding {
  i: number;
  seed: string;
  kind: 'crash' | 'schema-invalid' | 'hang' | 'memory' | 'worker-died';
  ops: string[];
  detail: string;
}

export interface FuzzSummary {
  cases: number;
  seed: number;
  outcomes: Record<string, number>;
  bySeed: Record<string, number>;
  findings: Finding[];
  totalMs: number;
  maxCaseMs: number;
  p99CaseMs: number;
  slowest?: { i: number; seed: string; ms: number; ops: string[] };
  maxWorkerHeapMb: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { cases: 2000, seed: 1, workers: 2, hangMs: 10000, heapMb: 512, large: false, json: false };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const num = () => {
      const v = Number(argv[++k]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} expects a number`);
      return v;
    };
    if (a === '--cases') o.cases = num();
    else if (a === '--seed') o.seed = num();
    else if (a === '--workers') o.workers = Math.max(1, num());
    else if (a === '--hang-ms') o.hangMs = num();
    else if (a === '--heap-mb') o.heapMb = num();
    else if (a === '--large') o.large = true;
    else if (a === '--save') o.save = argv[++k];
    else if (a === '--json') o.json = true;
    else if (a === '--replay') o.replay = num();
    else if (a === '--self-test') o.selfTest = argv[++k] as Options['selfTest'];
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

type FromWorker = { type: 'start'; i: number } | { type: 'done'; r: CaseResult; heapMb: number };

function workerMain(): void {
  const { seeds, seed, indices, selfTest } = workerData as { seeds: Seed[]; seed: number; indices: number[]; selfTest?: Options['selfTest'] };
  const p = prepare(seeds.map((s) => ({ ...s, bytes: Buffer.from(s.bytes) })));
  // Warm up outside the watchdog: the first scan compiles iced-x86's wasm and the schemas.
  runCase(p, seed, -1);
  for (const i of indices) {
    parentPort!.postMessage({ type: 'start', i } satisfies FromWorker);
    const r = runCase(p, seed, i, i === 0 ? selfTest : undefined);
    const m = process.memoryUsage();
    parentPort!.postMessage({ type: 'done', r, heapMb: Math.round((m.heapUsed + m.arrayBuffers) / 2 ** 20) } satisfies FromWorker);
  }
}

export async function fuzz(o: Options, seeds: Seed[]): Promise<FuzzSummary> {
  const p = prepare(seeds);
  const t0 = Date.now();
  const outcomes: Record<string, number> = {};
  const bySeed: Record<string, number> = {};
  const findings: Finding[] = [];
  const times: number[] = [];
  let slowest: FuzzSummary['slowest'];
  let maxHeap = 0;
  const record = (f: Finding) => {
    findings.push(f);
    if (o.save) {
      mkdirSync(o.save, { recursive: true });
      if (f.i >= 0) writeFileSync(path.join(o.save, `case-${o.seed}-${f.i}-${f.kind}.elf`), caseInput(p, o.seed, f.i).mutant.bytes);
    }
  };
  const describeCase = (i: number) => {
    try {
      const { seedIndex, mutant } = caseInput(p, o.seed, i);
      return { seed: seeds[seedIndex].name, ops: mutant.ops };
    } catch (e) {
      return { seed: '?', ops: [`mutator failed: ${(e as Error).message}`] };
    }
  };

  // Indices still to run, split round-robin so a restarted worker resumes its share.
  const queues: number[][] = Array.from({ length: o.workers }, () => []);
  for (let i = 0; i < o.cases; i++) queues[i % o.workers].push(i);

  const runWorker = (w: number): Promise<void> =>
    new Promise((resolve) => {
      const queue = queues[w];
      if (!queue.length) return resolve();
      // The worker loads this same file through tsx's CommonJS hook (the parent's loader is not inherited).
      const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(__filename)});`, {
        eval: true,
        workerData: { seeds, seed: o.seed, indices: queue.slice(), selfTest: o.selfTest },
        resourceLimits: { maxOldGenerationSizeMb: o.heapMb, maxYoungGenerationSizeMb: 64 },
      });
      let current: { i: number; at: number } | undefined;
      let settled = false;
      const restart = () => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        resolve(runWorker(w));
      };
      const watchdog = setInterval(() => {
        if (current && Date.now() - current.at > o.hangMs) {
          const i = current.i;
          record({ i, kind: 'hang', ...describeCase(i), detail: `still running after ${o.hangMs} ms; worker terminated` });
          outcomes.hang = (outcomes.hang ?? 0) + 1;
          queue.splice(0, queue.indexOf(i) + 1);
          current = undefined;
          void worker.terminate().then(restart);
        }
      }, 50);
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'start') current = { i: m.i, at: Date.now() };
        else {
          current = undefined;
          const r = m.r;
          queue.splice(0, queue.indexOf(r.i) + 1);
          outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
          bySeed[r.seed] = (bySeed[r.seed] ?? 0) + 1;
          times.push(r.ms);
          if (!slowest || r.ms > slowest.ms) slowest = { i: r.i, seed: r.seed, ms: r.ms, ops: r.ops };
          maxHeap = Math.max(maxHeap, m.heapMb);
          if (r.outcome === 'crash' || r.outcome === 'schema-invalid') record({ i: r.i, seed: r.seed, kind: r.outcome, ops: r.ops, detail: r.detail ?? '' });
        }
      });
      worker.on('error', (e) => {
        // ERR_WORKER_OUT_OF_MEMORY: the case in flight needed more than --heap-mb.
        if (current) {
          const i = current.i;
          const oom = /out of memory|heap/i.test(String((e as NodeJS.ErrnoException).code ?? '') + e.message);
          record({ i, kind: oom ? 'memory' : 'worker-died', ...describeCase(i), detail: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` });
          outcomes[oom ? 'memory' : 'worker-died'] = (outcomes[oom ? 'memory' : 'worker-died'] ?? 0) + 1;
          queue.splice(0, queue.indexOf(i) + 1);
          current = undefined;
        } else {
          // died outside a case (failed to load): a broken harness must not look like a clean run
          record({ i: -1, kind: "worker-died", seed: "-", ops: [], detail: `${(e as NodeJS.ErrnoException).code ?? ""} ${e.message}` });
          queue.length = 0;
        }
      });
      worker.on('exit', restart);
    });

  await Promise.all(queues.map((_, w) => runWorker(w)));
  times.sort((a, b) => a - b);
  return {
    cases: times.length + (outcomes.hang ?? 0) + (outcomes.memory ?? 0) + (outcomes['worker-died'] ?? 0),
    seed: o.seed,
    outcomes,
    bySeed,
    findings,
    totalMs: Date.now() - t0,
    maxCaseMs: times[times.length - 1] ?? 0,
    p99CaseMs: times[Math.floor(times.length * 0.99)] ?? 0,
    slowest,
    maxWorkerHeapMb: maxHeap,
  };
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const corpus = buildCorpus({ large: o.large });
  try {
    if (o.replay !== undefined) {
      const r = runCase(prepare(corpus.seeds), o.seed, o.replay);
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return r.outcome === 'crash' || r.outcome === 'schema-invalid' ? 1 : 0;
    }
    const s = await fuzz(o, corpus.seeds);
    if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
    else {
      process.stdout.write(`${s.cases} cases (seed ${s.seed}) in ${(s.totalMs / 1000).toFixed(1)} s: ${JSON.stringify(s.outcomes)}\n`);
      process.stdout.write(`per case: p99 ${s.p99CaseMs} ms, max ${s.maxCaseMs} ms (${s.slowest?.seed} #${s.slowest?.i}); worker heap+buffers max ${s.maxWorkerHeapMb} MB\n`);
      for (const f of s.findings) process.stdout.write(`FINDING ${f.kind} case ${f.i} (${f.seed}; ${f.ops.join(', ')}): ${f.detail}\n`);
      if (s.findings.length) process.stdout.write(`replay one with: npx tsx tools/fuzz/elf-fuzz.ts --seed ${s.seed}${o.large ? ' --large' : ''} --replay I\n`);
    }
    return s.findings.length ? 1 : 0;
  } finally {
    corpus.cleanup();
  }
}

if (isMainThread) {
  if (require.main === module) main().then((c) => process.exit(c), (e) => { process.stderr.write(`elf-fuzz: ${(e as Error).stack}\n`); process.exit(2); });
} else workerMain();
