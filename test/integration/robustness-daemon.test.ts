import { execSync } from 'node:child_process';
import { confine, readSummary, tempWorkdir } from './cli-harness';
import { LIST, ourContainers } from './fault-rig';

/**
 * The Docker daemon restarted mid-trace: the image being traced fails with a clear
 * error, a rerun completes it, and nothing is left behind.
 */

/** Restarts dockerd as the brief says this machine runs it: a plain process, no systemd. */
function dockerdRunning(): boolean {
  try {
    execSync('docker info', { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
function startDockerd(): void {
  if (dockerdRunning()) return;
  // A dockerd still shutting down (stopping its containers) holds the pid file and
  // socket, and a new one started then exits at once: wait for it, and start again
  // every 10 s until one answers.
  const until = Date.now() + 120000;
  let lastStart = 0;
  while (!dockerdRunning()) {
    if (Date.now() > until) throw new Error('dockerd did not come back within 120 s');
    const old = execSync('pgrep -x dockerd || true', { encoding: 'utf8' }).trim();
    if (!old && Date.now() - lastStart > 10000) {
      execSync('(setsid dockerd >>/var/log/dockerd.log 2>&1 &)', { shell: '/bin/bash' });
      lastStart = Date.now();
    }
    execSync('sleep 0.5');
  }
}

describe('docker daemon restarted mid-run', () => {
  afterAll(() => startDockerd()); // whatever happened above, leave the engine running

  it('the image being traced fails with a clear error; a rerun completes it', async () => {
    const dir = tempWorkdir([LIST[0]]);
    const pid = Number(execSync('pgrep -x dockerd', { encoding: 'utf8' }).trim().split('\n')[0]);
    let stopped = false;
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '15'], dir, (p) => {
      const poll = setInterval(async () => {
        if (!stopped && (await ourContainers().catch(() => [])).length > 0) {
          stopped = true;
          clearInterval(poll);
          process.kill(pid, 'SIGTERM');
          // Back up while confine is still tracing: the failure must still be reported.
          const until = Date.now() + 90000;
          while (dockerdRunningOrStopping(pid) && Date.now() < until) await new Promise((res) => setTimeout(res, 200));
          startDockerd();
        }
      }, 200);
      p.on('close', () => clearInterval(poll));
    });
    startDockerd();
    expect(stopped).toBe(true);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(1);
    const row = readSummary(dir).find((x) => x.image === 'c-static')!;
    expect(row.failed).toBeGreaterThan(0);
    expect(row.error).toMatch(/run-and-trace|docker|container|connect/i);
    process.stdout.write(`daemon restart: error reported: ${row.error}\n`);

    const rerun = await confine(['profiles', '-i', 'images.list', '--duration', '2'], dir);
    process.stdout.write(`daemon restart rerun: code ${rerun.code}\n${rerun.stdout}\n${rerun.stderr}\n`);
    expect(rerun.code).toBe(0);
    expect(readSummary(dir).find((x) => x.image === 'c-static')).toMatchObject({ failed: 0 });
    expect(await ourContainers()).toEqual([]);
  }, 180000);
});

function dockerdRunningOrStopping(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
