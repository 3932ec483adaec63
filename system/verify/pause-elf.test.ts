import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitElf, pauseElf } from './exit-elf';

/** Runs bytes as a program on this host: the calibration's programs must really do what they say. */
function run(elf: Buffer, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; alive: boolean }> {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'confine-elf-')), 'prog');
  writeFileSync(file, elf, { mode: 0o755 });
  return new Promise((resolve, reject) => {
    const p = spawn(file, [], { stdio: 'ignore' });
    let alive = true;
    p.on('error', reject);
    const timer = setTimeout(() => {
      if (!alive) return;
      p.kill('SIGKILL');
      resolve({ code: null, signal: null, alive: true });
    }, ms);
    p.on('exit', (code, signal) => {
      alive = false;
      clearTimeout(timer);
      resolve({ code, signal, alive: false });
    });
  });
}

test('the waiting program stays up (pause in a loop) until killed; the exit program exits', async () => {
  const paused = await run(pauseElf(), 300);
  expect(paused.alive).toBe(true);
  expect(await run(exitElf({ status: 3 }), 2000)).toEqual({ code: 3, signal: null, alive: false });
});
