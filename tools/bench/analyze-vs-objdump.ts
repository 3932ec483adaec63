/**
 * `confine analyze` with a cold cache (fresh --cache dir) on large ELF files versus
 * `objdump -d` over the same files (output to /dev/null), then a warm rerun with the
 * same --cache. Every measurement is taken RUNS times (default 3) and the median is
 * reported, with the machine it ran on (CPU model, cores, load before and after), so
 * figures from two machines can be compared.
 * Targets (issue #8): analyze cold <= 0.5x objdump; warm < 5% of cold.
 * Per-file rows analyse each file alone (so each includes its DT_NEEDED closure and
 * loader, which objdump does not look at); the TOTAL row is one invocation over all files.
 *
 * Usage: tools/bench/analyze-vs-objdump.sh [--runs N] [FILE...]
 */
import { existsSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { $ } from 'zx';

const repo = path.resolve(__dirname, '..', '..');
const confine = path.join(repo, 'bin', 'confine');
const work = mkdtempSync(path.join(os.tmpdir(), 'confine-bench-'));
$.quiet = true;

const args = process.argv.slice(2);
let runs = 3;
const runsAt = args.indexOf('--runs');
if (runsAt >= 0) {
  runs = Number(args[runsAt + 1]);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs expects a whole number ≥ 1, got '${args[runsAt + 1]}'`);
  args.splice(runsAt, 2);
}

const first = (...candidates: string[]) => candidates.find((f) => existsSync(f));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const fmtLoad = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** Wall seconds of a shell command (its stdout discarded unless kept); a failure stops the bench. */
async function timed(cmd: () => Promise<{ stdout: string }>): Promise<{ s: number; stdout: string }> {
  const t0 = performance.now();
  const out = await cmd();
  return { s: (performance.now() - t0) / 1000, stdout: out.stdout };
}

/** RUNS rounds of: objdump, cold analyze (fresh cache), warm analyze (same cache). Medians of each. */
async function measure(files: string[], label: string) {
  const o: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  let objects = 0;
  const phasesOf: string[] = [];
  for (let i = 0; i < runs; i++) {
    let od = 0;
    for (const f of files) od += (await timed(() => $`objdump -d ${f} >/dev/null`)).s;
    o.push(od);
    const cache = path.join(work, `cache-${label}-${i}`);
    const c = await timed(() => $({ env: { ...process.env, CONFINE_ANALYZE_TIMING: '1' } })`${confine} analyze ${files} --cache ${cache} >/dev/null`.then((p) => ({ stdout: p.stderr })));
    cold.push(c.s);
    phasesOf.push(c.stdout);
    const w = await timed(() => $`${confine} analyze ${files} --cache ${cache}`);
    warm.push(w.s);
    objects = w.stdout.split('\n').filter((l) => l.includes('objects (functions')).reduce((n, l) => n + l.split(',').length, 0);
    rmSync(cache, { recursive: true, force: true });
  }
  // The phases shown are those of the run whose time is the median.
  const phases = phasesOf[cold.indexOf(median(cold))];
  return { objdump: median(o), cold: median(cold), warm: median(warm), spread: { o, cold, warm }, objects, phases };
}

async function defaultFiles(): Promise<string[]> {
  const files = [
    first('/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'),
    first('/usr/lib/x86_64-linux-gnu/libcrypto.so.3', '/usr/lib/x86_64-linux-gnu/libcrypto.so.1.1'),
    first('/usr/lib/x86_64-linux-gnu/libstdc++.so.6'),
    first('/usr/bin/python3.11', '/usr/bin/python3'),
    first('/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0'),
  ].filter((f): f is string => !!f);
  let gobin = first('/usr/bin/containerd');
  if (!gobin && (await $`docker image inspect confine-sample/caddy`.nothrow()).exitCode === 0) {
    // No containerd here: copy the caddy binary out of the sample image instead.
    const cid = (await $`docker create confine-sample/caddy:latest`).stdout.trim();
    gobin = path.join(work, 'caddy');
    try {
      if ((await $`docker cp ${cid}:/usr/bin/caddy ${gobin}`.nothrow()).exitCode !== 0) await $`docker cp ${cid}:/usr/local/bin/caddy ${gobin}`;
    } finally {
      await $`docker rm ${cid}`;
    }
  }
  if (gobin) files.push(gobin);
  return files.map((f) => realpathSync(f));
}

async function main() {
  const files = args.length ? args : await defaultFiles();
  const cpus = os.cpus();
  console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${fmtLoad()} (1/5/15 min) at start`);
  console.log(`node ${process.version}; every figure is the median of ${runs} run(s)`);
  // bin/confine runs the compiled build only while it is current; through tsx every run
  // pays ~0.6 s of transpiling, which alone is more than a warm run should take.
  const said = await $({ env: { ...process.env, CONFINE_SAY_RUNTIME: '1' } })`${confine} --help`.nothrow();
  for (const l of said.stderr.split('\n')) if (l.startsWith('runtime:')) console.log(l);
  const starts: number[] = [];
  for (let i = 0; i < runs; i++) starts.push((await timed(() => $`${confine} analyze --help`)).s);
  const startup = median(starts);

  const row = (name: string, mb: string, objs: string, o: number, c: number, w: number) =>
    console.log(`${name.padEnd(44)} ${mb.padStart(8)} ${objs.padStart(6)} ${o.toFixed(2).padStart(9)} ${c.toFixed(2).padStart(9)} ${w.toFixed(2).padStart(9)} ${(c / o).toFixed(2).padStart(7)}x`);
  console.log(`${'file'.padEnd(44)} ${'MB'.padStart(8)} ${'objs'.padStart(6)} ${'objdump_s'.padStart(9)} ${'cold_s'.padStart(9)} ${'warm_s'.padStart(9)} ${'cold/obj'.padStart(8)}`);
  for (const f of files) {
    const m = await measure([f], path.basename(f));
    row(f, (statSync(f).size / 1048576).toFixed(1), String(m.objects), m.objdump, m.cold, m.warm);
  }
  const all = await measure(files, 'all');
  row('TOTAL (one analyze run over all files)', '', '', all.objdump, all.cold, all.warm);
  const ratio = all.cold / all.objdump;
  const warmShare = all.warm / all.cold;
  const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)} s`;
  console.log(`analyze cold / objdump: ${ratio.toFixed(2)}x (target <= 0.50x)  ${ratio <= 0.5 ? 'MET' : 'NOT MET'}`);
  console.log(`analyze warm / cold:    ${(100 * warmShare).toFixed(1)}% (target < 5%)  ${warmShare < 0.05 ? 'MET' : 'NOT MET'}`);
  console.log(`TOTAL over ${runs} run(s): cold ${range(all.spread.cold)}, warm ${range(all.spread.warm)}, objdump (all files) ${range(all.spread.o)}`);
  console.log(`process start floor (confine analyze --help): ${startup.toFixed(2)} s`);
  console.log(`load average ${fmtLoad()} (1/5/15 min) at the end`);
  console.log("where the median cold TOTAL run's wall time went (CONFINE_ANALYZE_TIMING=1; worker lines are per file):");
  for (const l of all.phases.split('\n')) if (l.trim()) console.log(l.replace(/^\[analyze\] /, '  '));
}

main()
  .catch((e) => {
    console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));
