import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentStore } from './content-store';
import { fingerprintKey } from './fingerprint';

/** Several processes on one store directory: what workers on a shared mount do. */
// node itself (not the tsx wrapper, which would outlive a SIGKILL of its parent) with tsx's loader.
const runner = [process.execPath, '--import', 'tsx'];
const child = path.join(__dirname, 'store-child.ts');
let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'confine-store-procs-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[]): { proc: ChildProcess; out: Promise<string> } {
  const proc = spawn(runner[0], [...runner.slice(1), child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  proc.stdout!.on('data', (d) => (text += d));
  const out = new Promise<string>((resolve, reject) => proc.on('exit', (code, sig) => (code === 0 || sig ? resolve(text) : reject(new Error(`child exited ${code}`)))));
  return { proc, out };
}
const keyOf = (salt: string) => fingerprintKey({ stage: 'test', version: 1, schema: 'test/v1', config: null, inputs: { salt } });

describe('a content store shared by processes', () => {
  it('two processes missing the same key compute it once; the other waits and reuses it', async () => {
    const store = path.join(dir, 'store');
    const counter = path.join(dir, 'computed');
    const [a, b] = [start(['compute', store, 's1', counter, '1500']), start(['compute', store, 's1', counter, '1500'])];
    const outs = (await Promise.all([a.out, b.out])).map((o) => o.trim().split('\n').pop());
    expect(outs.sort()).toEqual(['computed', 'reused']);
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(existsSync(path.join(store, 'locks', `${keyOf('s1')}.lock`))).toBe(false);
  });

  it('a lock whose holder was SIGKILLed is taken over, and the key computed by the next process', async () => {
    const store = path.join(dir, 'store');
    const counter = path.join(dir, 'computed');
    const holder = start(['compute', store, 's2', counter, '60000']);
    // Wait until it holds the lock (it printed "locked"), then kill it: no finally runs.
    await new Promise<void>((resolve) => holder.proc.stdout!.on('data', (d) => String(d).includes('locked') && resolve()));
    holder.proc.kill('SIGKILL');
    await holder.out;
    expect(existsSync(path.join(store, 'locks', `${keyOf('s2')}.lock`))).toBe(true);
    const next = start(['compute', store, 's2', counter, '10']);
    expect((await next.out).trim().split('\n').pop()).toBe('computed');
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('concurrent writers of one key never expose a partial entry, and leave no temp files', async () => {
    const root = path.join(dir, 'store');
    const writers = [start(['write', root, 's3', '150']), start(['write', root, 's3', '150'])];
    const store = new ContentStore(root, () => undefined);
    const seen = { hit: 0, miss: 0, corrupt: 0 };
    let done = false;
    Promise.all(writers.map((w) => w.out)).then(() => (done = true), () => (done = true));
    while (!done) seen[(await store.read(keyOf('s3'))).status]++;
    await Promise.all(writers.map((w) => w.out));
    expect(seen.corrupt).toBe(0);
    expect(seen.hit).toBeGreaterThan(0);
    const final = await store.read<{ salt: string; payload: string }>(keyOf('s3'));
    expect(final.status === 'hit' && final.artifact.payload.length).toBe(200_000);
    const shard = path.dirname(store.entryPath(keyOf('s3')));
    expect(require('node:fs').readdirSync(shard)).toEqual([path.basename(store.entryPath(keyOf('s3')))]);
  });
});
