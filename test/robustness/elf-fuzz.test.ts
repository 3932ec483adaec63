import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { FuzzSummary } from '../../tools/fuzz/elf-fuzz';

/**
 * CI-sized run of tools/fuzz/elf-fuzz.ts: thousands of mutated real binaries (gcc PIE,
 * non-PIE with IBT PLT, stripped, shared, musl static, musl's libc.so) through
 * parseElf and scanFile. The fuzzer runs as its own process (worker threads, a hang
 * watchdog and a heap limit per worker), so a hang or an out-of-memory in the code
 * under test fails this test instead of wedging jest. The self-tests plant each kind
 * of fault to show the harness reports it.
 */
const REPO = path.resolve(__dirname, '..', '..');

function runFuzz(args: string[], timeoutMs: number): Promise<{ code: number | null; summary?: FuzzSummary; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'tools/fuzz/elf-fuzz.ts', '--json', ...args], { cwd: REPO, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let summary: FuzzSummary | undefined;
      try {
        summary = JSON.parse(line);
      } catch {
        /* reported below through stderr */
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, summary, stderr });
    });
  });
}

// The whole run's limit is a wedge guard, not a speed test: the per-case hang limit is
// what fails a slow case. Decoding every executable segment and call targets as entries
// made a case dearer (3000 cases: ~165 s on 2 loaded cores, p99 1.2 s).
const CASES = 3000;
const HANG_MS = 8000;
const HEAP_MB = 384;

test(`${CASES} mutated binaries: no crash, no hang, bounded memory, every value storable`, async () => {
  const seed = Number(process.env.CONFINE_FUZZ_SEED ?? 7);
  const r = await runFuzz(['--cases', String(CASES), '--seed', String(seed), '--hang-ms', String(HANG_MS), '--heap-mb', String(HEAP_MB)], 290000);
  expect(r.stderr).not.toMatch(/elf-fuzz: /);
  const s = r.summary!;
  process.stdout.write(`elf-fuzz seed ${seed}: ${s.cases} cases in ${s.totalMs} ms ${JSON.stringify(s.outcomes)}; p99 ${s.p99CaseMs} ms, max ${s.maxCaseMs} ms; heap ${s.maxWorkerHeapMb} MB\n`);
  expect(s.findings).toEqual([]);
  expect(r.code).toBe(0);
  expect(s.cases).toBe(CASES);
  // Both paths are exercised: mutants the reader rejects as a typed value, and mutants it analyses.
  expect(s.outcomes.malformed).toBeGreaterThan(CASES / 20);
  expect(s.outcomes.scanned).toBeGreaterThan(CASES / 5);
  expect(Object.keys(s.bySeed).length).toBeGreaterThanOrEqual(5);
  expect(s.maxCaseMs).toBeLessThan(HANG_MS);
  expect(s.maxWorkerHeapMb).toBeLessThan(HEAP_MB);
}, 300000);

test.each([
  ['hang', 'hang'],
  ['memory', 'memory'],
  ['crash', 'crash'],
] as const)('the harness reports a planted %s', async (fault, kind) => {
  const r = await runFuzz(['--cases', '4', '--workers', '1', '--hang-ms', '3000', '--heap-mb', '96', '--self-test', fault], 60000);
  expect(r.code).toBe(1);
  expect(r.summary!.findings.map((f) => [f.i, f.kind])).toEqual([[0, kind]]);
  // The worker is replaced and the remaining cases still run.
  expect(r.summary!.cases).toBe(4);
}, 60000);
