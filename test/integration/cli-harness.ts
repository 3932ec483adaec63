import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const CONFINE = path.join(REPO, 'bin', 'confine');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs bin/confine in `cwd` as a user would, collecting its output. */
export function confine(args: string[], cwd: string, onSpawn?: (p: ChildProcess) => void): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(CONFINE, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
    onSpawn?.(p);
  });
}

export function tempWorkdir(listLines: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'confine-cli-'));
  writeFileSync(path.join(dir, 'images.list'), listLines.join('\n') + '\n');
  return dir;
}

export interface SummaryRow {
  image: string;
  done: number;
  reused: number;
  failed: number;
  skipped: number;
  interrupted: number;
  error?: string;
}

export function readSummary(dir: string): SummaryRow[] {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return JSON.parse(require('node:fs').readFileSync(path.join(dir, 'results', 'run-summary.json'), 'utf8')).rows;
}
