import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isAlive } from '../../system/trace/tracefs';

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

export type { SummaryRow } from '../../cli/summary';
import type { SummaryRow } from '../../cli/summary';

export function readSummary(dir: string): SummaryRow[] {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return JSON.parse(require('node:fs').readFileSync(path.join(dir, 'results', 'run-summary.json'), 'utf8')).rows;
}

/**
 * Containers labelled by confine whose owner process has exited: what a finished or
 * killed run left behind. Containers of confine runs still alive (another suite's)
 * are not counted.
 */
/** When this test file started: containers older than that are not its doing. */
export const TEST_START_SEC = Math.floor(Date.now() / 1000) - 1;

export function containersOfDeadOwners(since = TEST_START_SEC): string[] {
  // (Docker's `ancestor` filter does not match containers created by image ID, as
  // confine creates them: the creation time tells ours from older leftovers instead.)
  const filters = ['--filter', 'label=confine=1'];
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const out: string = require('node:child_process').execFileSync(
    'docker', ['ps', '-a', ...filters, '--format', '{{.ID}} {{.Label "confine.owner-pid"}}'], { encoding: 'utf8' });
  const ids = out.split('\n').filter(Boolean).map((l) => l.split(' ')).filter(([, pid]) => !pid || !isAlive(Number(pid))).map(([id]) => id);
  return ids.filter((id) => createdSec(id) >= since);
}

function createdSec(id: string): number {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const out: string = require('node:child_process').execFileSync('docker', ['inspect', '-f', '{{.Created}}', id], { encoding: 'utf8' });
  // Docker prints nanoseconds, which Date.parse does not take.
  return Math.floor(Date.parse(out.trim().replace(/\.\d+Z$/, 'Z')) / 1000);
}

