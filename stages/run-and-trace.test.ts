import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StageContext, WorkUnit } from '../pipeline/stage';
import type { RunConfig } from './config';
import type { ImageEntry } from '../formats/image-list';
import { runAndTraceStage, traceComplete } from './run-and-trace';
import type { TraceArtifact } from '../schemas/types';
import type { Services } from './services';

/** The trace's cache inputs: the probe is among them only for an image that has one. */
const ID = `sha256:${'a'.repeat(64)}`;
const services = { imageId: async () => ID } as unknown as Services;
const ctx = { progress: () => undefined } as unknown as StageContext;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-rat-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function unit(name: string): WorkUnit {
  const data: ImageEntry = { rank: 1, name, ref: `x/${name}`, categories: [], downloads: 0, official: false, extraOptions: '-p 28240:80', file: 'images.list', line: 1 };
  return { id: name, data };
}

function config(probes?: object): RunConfig {
  let probesFile: string | undefined;
  if (probes) {
    // A new file each time: probes are read once per file per run.
    probesFile = fs.mkdtempSync(path.join(dir, 'p-')) + '/probes.json';
    fs.writeFileSync(probesFile, JSON.stringify(probes));
  }
  return { durationSec: 5, ...(probesFile ? { probesFile } : {}) } as RunConfig;
}

const inputs = (name: string, c: RunConfig) => runAndTraceStage(services).externalInputs!(unit(name), c, ctx);

test('an image without a probe has the same inputs with or without a probes file', async () => {
  const none = await inputs('idle', config());
  expect(none).toStrictEqual({ image: ID, options: '-p 28240:80' });
  expect(await inputs('idle', config({ web: { kind: 'tcp', port: 28240, expect: 'x' } }))).toStrictEqual(none);
});

test("an image's probe is an input, and changing it changes the inputs", async () => {
  const a = await inputs('web', config({ web: { kind: 'tcp', port: 28240, expect: 'x' } }));
  const b = await inputs('web', config({ web: { kind: 'tcp', port: 28240, expect: 'y' } }));
  expect(a.probe).toBe(JSON.stringify({ kind: 'tcp', port: 28240, expect: 'x' }));
  expect(b.probe).not.toBe(a.probe);
  expect({ ...a, probe: undefined }).toEqual({ image: ID, options: '-p 28240:80', probe: undefined });
});

test('an image named like an Object property has no probe', async () => {
  expect(await inputs('constructor', config({ web: { kind: 'tcp', port: 28240, expect: 'x' } }))).toStrictEqual({ image: ID, options: '-p 28240:80' });
});

test('a trace whose probe never passed is not reused; one whose probe passed, or that had no probe, is', async () => {
  const stillValid = (t: Partial<TraceArtifact>) => runAndTraceStage(services).stillValid!(t as TraceArtifact, config());
  expect(await stillValid({ probeWindow: { ready: false, passed: 0, failed: 0 } })).toBe(false);
  expect(await stillValid({ probeWindow: { ready: true, passed: 3, failed: 1 } })).toBe(true);
  expect(await stillValid({})).toBe(true);
  expect(traceComplete({ probeWindow: { ready: false, passed: 0, failed: 0 } })).toBe(false);
});
