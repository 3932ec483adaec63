// The analysed side: `confine analyze --root ROOT --cache DIR --json` on many
// programs per invocation. Paths are passed already resolved inside the root, so
// the result does not depend on how analyze treats absolute symlinks.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * This checkout's confine; FN_HUNT_CONFINE=PATH measures another build instead (another
 * worktree's bin/confine), e.g. to see what a branch's analysis change fixes.
 */
export const CONFINE_BIN = process.env.FN_HUNT_CONFINE ? path.resolve(process.env.FN_HUNT_CONFINE) : path.resolve(__dirname, '..', '..', 'bin', 'confine');

export type Analysis = { syscalls: Set<string>; unresolvedSites: number } | { error: string };

interface AnalyzeJson {
  binaries: { path: string; syscalls?: string[]; unresolvedSites?: number; error?: unknown }[];
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(CONFINE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function parse(stdout: string): AnalyzeJson | undefined {
  try {
    const j = JSON.parse(stdout) as AnalyzeJson;
    return Array.isArray(j.binaries) ? j : undefined;
  } catch {
    return undefined;
  }
}

async function batch(root: string, cacheDir: string, paths: string[], into: Map<string, Analysis>): Promise<void> {
  const r = await run(['analyze', '--root', root, '--cache', cacheDir, '--json', ...paths]);
  const j = parse(r.stdout);
  if (j) {
    for (const b of j.binaries) {
      if (b.syscalls && b.error === undefined) into.set(b.path, { syscalls: new Set(b.syscalls), unresolvedSites: b.unresolvedSites ?? 0 });
      else into.set(b.path, { error: typeof b.error === 'string' ? b.error : JSON.stringify(b.error ?? 'no syscalls in output') });
    }
  }
  const missing = paths.filter((p) => !into.has(p));
  if (missing.length === 0) return;
  if (paths.length === 1) {
    into.set(paths[0], { error: (r.stderr.trim().split('\n').slice(-3).join(' / ') || `exit ${r.code}`).slice(0, 500) });
    return;
  }
  // One bad file fails the whole invocation: isolate it.
  for (const p of missing) await batch(root, cacheDir, [p], into);
}

/** Analyses PATHS (absolute inside ROOT, symlinks resolved) in batches. */
export async function analyzePrograms(root: string, cacheDir: string, paths: string[], opts: { batchSize?: number; log?: (m: string) => void } = {}): Promise<Map<string, Analysis>> {
  const size = opts.batchSize ?? 40;
  const out = new Map<string, Analysis>();
  for (let i = 0; i < paths.length; i += size) {
    await batch(root, cacheDir, paths.slice(i, i + size), out);
    opts.log?.(`analysed ${Math.min(i + size, paths.length)}/${paths.length}`);
  }
  return out;
}

/**
 * The objects `confine analyze -v` loaded for each program (file basenames, as its
 * "objects (functions reached/total)" line names them): to tell a syscall missed in
 * code the analysis saw from one made in an object it never loaded (dlopen).
 */
export async function analyzedObjects(root: string, cacheDir: string, paths: string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  if (paths.length === 0) return out;
  const r = await run(['analyze', '-v', '--root', root, '--cache', cacheDir, ...paths]);
  let cur: string | undefined;
  for (const line of (r.stdout + '\n' + r.stderr).split('\n')) {
    if (paths.includes(line.trim()) && !line.startsWith(' ')) cur = line.trim();
    const m = /^\s+objects \(functions reached\/total\): (.*)$/.exec(line);
    if (m && cur) out.set(cur, new Set(m[1].split(', ').map((o) => o.replace(/ \d+\/\d+$/, ''))));
  }
  return out;
}
