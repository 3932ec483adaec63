/**
 * A second process on a shared store, for content-store.processes.test.ts:
 *   compute STORE KEY_SALT COUNTER HOLD_MS  — the runner's miss → lock → re-read → compute path
 *   write STORE KEY_SALT N                  — writes the same entry N times
 */
import { appendFileSync } from 'node:fs';
import { ContentStore } from './content-store';
import type { Fingerprint } from './fingerprint';
import { fingerprintKey } from './fingerprint';

const [mode, root, salt, arg, hold] = process.argv.slice(2);
const store = new ContentStore(root, () => undefined);
const fp: Fingerprint = { stage: 'test', version: 1, schema: 'test/v1', config: null, inputs: { salt } };
const key = fingerprintKey(fp);
const artifact = { salt, payload: 'x'.repeat(200_000) };

async function main(): Promise<void> {
  if (mode === 'write') {
    for (let i = 0; i < Number(arg); i++) await store.write(fp, artifact);
    return;
  }
  if ((await store.read(key)).status === 'hit') return void process.stdout.write('reused\n');
  const lock = await store.lock(key);
  try {
    if (lock.waited && (await store.read(key)).status === 'hit') return void process.stdout.write('reused\n');
    appendFileSync(arg, `${process.pid}\n`);
    // Said only once the computation is counted: a test that kills on "locked" must find it counted.
    process.stdout.write('locked\n');
    await new Promise((r) => setTimeout(r, Number(hold)));
    await store.write(fp, artifact);
    process.stdout.write('computed\n');
  } finally {
    await lock.release();
  }
}
main().then(() => process.exit(0), (e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
