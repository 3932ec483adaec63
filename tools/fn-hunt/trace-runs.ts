// Runs programs inside throwaway containers of the image under test, each run under
// its own strace (driver.sh), several programs per container: a container start
// costs ~0.5 s, a traced --version run ~50 ms. Containers get no network, memory,
// pid and CPU limits, and only SYS_PTRACE (strace needs it; this container is the
// measuring instrument, not a profile under test).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveInRoot } from './rootfs';

export const MODES = ['version', 'help'] as const;
/** 'run': the request's own arguments, once (RunRequest.args), instead of the two MODES. */
export type Mode = (typeof MODES)[number] | 'run';

/** What a request is run as: its own arguments once, or --version then --help. */
export function modesOf(r: RunRequest): readonly Mode[] {
  return r.args ? ['run'] : MODES;
}

export interface RunRequest {
  id: string;
  /** Path inside the image. */
  path: string;
  /** Only these syscalls, with stack traces. */
  stackFor?: string[];
  /** Run PATH with these arguments (mode 'run') instead of --version and --help. No newlines (one per line in ID.args). */
  args?: string[];
}

export interface RunOptions {
  image: string;
  outDir: string;
  /** Host root mounted read-only at /fnhunt-tools whose strace is used; none: the image's own. */
  toolsRoot?: string;
  seconds: number;
  parallel: number;
  log?: (msg: string) => void;
}

const TOOLS_IN = '/fnhunt-tools';
const DRIVER = path.join(__dirname, 'driver.sh');

export interface RunResult {
  id: string;
  mode: Mode;
  /** Exit status of timeout(1): 124 = the program ran out of time; 'lost' = it took the container down. */
  rc: string;
  trace?: string;
}

function runContainer(opts: RunOptions, chunkDir: string): Promise<{ code: number; err: string }> {
  const args = [
    'run', '--rm', '--network', 'none', '--memory', '1g', '--pids-limit', '256', '--cpus', '1',
    '--cap-add', 'SYS_PTRACE', '--security-opt', 'seccomp=unconfined',
    '--user', '0:0', '--label', 'confine-fnhunt=1', '--workdir', '/',
    '-v', `${chunkDir}:/out`, '-v', `${DRIVER}:/fnhunt/driver.sh:ro`,
  ];
  if (opts.toolsRoot) {
    const lp = `${TOOLS_IN}/usr/lib/x86_64-linux-gnu:${TOOLS_IN}/lib/x86_64-linux-gnu`;
    // Debian's /lib64/ld-linux-x86-64.so.2 is an absolute symlink: it would name the
    // image's own loader (or none, in a one-file image), not the tools' one.
    const loader = resolveInRoot(opts.toolsRoot, '/lib64/ld-linux-x86-64.so.2');
    if (!loader) throw new Error(`${opts.toolsRoot}: no /lib64/ld-linux-x86-64.so.2 (the tools root must be the fn-hunt image's)`);
    args.push('-v', `${opts.toolsRoot}:${TOOLS_IN}:ro`, '--entrypoint', `${TOOLS_IN}${loader}`, opts.image,
      '--library-path', lp, `${TOOLS_IN}/bin/dash`, '/fnhunt/driver.sh', '/out/list', '/out', String(opts.seconds), TOOLS_IN, `${TOOLS_IN}${loader}`);
  } else {
    args.push('--entrypoint', '/bin/sh', opts.image, '/fnhunt/driver.sh', '/out/list', '/out', String(opts.seconds));
  }
  return new Promise((resolve) => {
    const p = spawn('docker', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      if (code !== 0 && err.trim()) opts.log?.(`container exited ${code}: ${err.trim().split('\n').slice(-2).join(' / ')}`);
      resolve({ code: code ?? -1, err: err.trim() });
    });
  });
}

/** Runs every request until each (program, mode) has an outcome; a run that kills its container is recorded as lost. */
async function runChunk(opts: RunOptions, reqs: RunRequest[], chunkDir: string): Promise<void> {
  mkdirSync(chunkDir, { recursive: true });
  writeFileSync(path.join(chunkDir, 'list'), reqs.map((r) => `${r.id} ${r.path}${r.stackFor ? ' ' + r.stackFor.join(',') : ''}`).join('\n') + '\n');
  for (const r of reqs) {
    if (!r.args) continue;
    if (r.args.some((a) => a.includes('\n'))) throw new Error(`${r.path}: an argument contains a newline (driver.sh reads one per line)`);
    writeFileSync(path.join(chunkDir, `${r.id}.args`), r.args.map((a) => a + '\n').join(''));
  }
  let lastErr = '';
  for (let attempt = 0; attempt <= reqs.length * MODES.length; attempt++) {
    const pending = reqs.flatMap((r) => modesOf(r).filter((m) => !existsSync(path.join(chunkDir, `${r.id}.${m}.rc`))).map((m) => [r, m] as const));
    if (pending.length === 0) return;
    if (attempt > 0) {
      // The run the container was in when it went down.
      const [r, m] = pending[0];
      if (existsSync(path.join(chunkDir, `${r.id}.${m}.started`))) {
        opts.log?.(`${r.path} --${m} took its container down; recorded as lost`);
        writeFileSync(path.join(chunkDir, `${r.id}.${m}.rc`), 'lost\n');
      } else {
        // The container did not even start the driver: every run would fail alike.
        for (const [pr, pm] of pending) writeFileSync(path.join(chunkDir, `${pr.id}.${pm}.rc`), `container-failed: ${lastErr.slice(0, 300)}\n`);
        return;
      }
    }
    lastErr = (await runContainer(opts, chunkDir)).err;
  }
}

export async function traceRuns(opts: RunOptions, reqs: RunRequest[]): Promise<RunResult[]> {
  const n = Math.max(1, Math.min(opts.parallel, reqs.length));
  const chunks: RunRequest[][] = Array.from({ length: n }, () => []);
  reqs.forEach((r, i) => chunks[i % n].push(r));
  await Promise.all(chunks.map((c, i) => runChunk(opts, c, path.join(opts.outDir, `chunk${i}`))));
  const out: RunResult[] = [];
  chunks.forEach((c, i) => {
    const dir = path.join(opts.outDir, `chunk${i}`);
    for (const r of c) {
      for (const mode of modesOf(r)) {
        const rcFile = path.join(dir, `${r.id}.${mode}.rc`);
        const stFile = path.join(dir, `${r.id}.${mode}.st`);
        out.push({
          id: r.id,
          mode,
          rc: existsSync(rcFile) ? readFileSync(rcFile, 'utf8').trim() : 'missing',
          trace: existsSync(stFile) ? readFileSync(stFile, 'utf8') : undefined,
        });
      }
    }
  });
  return out;
}
