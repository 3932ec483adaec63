import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentStore } from '../cache/content-store';
import { FakeEngine, type FakeFile } from '../system/extract/fake-engine';
import { elfHeader } from '../system/image/memory-image';
import { storedFilePath } from '../system/extract/store-files';
import { Ledger } from '../pipeline/ledger';
import type { Reporter } from '../pipeline/reporter';
import { runPipeline } from '../pipeline/runner';
import type { Stage, WorkUnit } from '../pipeline/stage';
import { validateArtifact } from '../schemas/validate';
import type { ExtractArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import { extractBinariesStage } from './extract-binaries';
import { Services } from './services';

/** `tag` makes contents (and digests) differ. */
const elf = (tag: number): Buffer => elfHeader({ tag });

const L = (c: string) => 'sha256:' + c.repeat(64);
const id = (c: string) => 'sha256:' + c.repeat(64);
const files: FakeFile[] = [
  { path: '/bin/sh', content: elf(1) },
  { path: '/opt/tool', content: elf(2) },
  { path: '/usr/local/tool', content: elf(3) },
  { path: '/usr/bin/env', content: elf(4) },
  { path: '/app/run.sh', content: '#!/usr/bin/env tool\n' },
];
const ORIG = id('1');
const LABEL_COPY = id('2');
const OTHER_PATH = id('3'); // same layers, another PATH: /app/run.sh runs another tool
const NO_ENV = id('4'); // no Config.Env at all (docker import), so Docker's default PATH
const DEFAULT_ENV = id('5'); // `docker build` wrote the default PATH, and an unrelated variable

/** Stands in for run-and-trace: what each image "executed", read from the unit. */
const traceStage: Stage<Record<string, never>, unknown, RunConfig> = {
  name: 'run-and-trace',
  version: 1,
  schema: 'test/trace',
  scope: 'image',
  needs: [],
  resource: 'container',
  configSlice: () => null,
  externalInputs: async (unit) => ({ image: (unit.data as { imageId: string }).imageId }),
  run: async (_d, _c, unit) => ({ imageId: (unit.data as { imageId: string }).imageId, executedPaths: ['/app/run.sh'], mappedObjects: [] }),
};

const unit = (name: string, imageId: string): WorkUnit => ({
  id: name,
  data: { rank: 1, name, ref: name, categories: [], downloads: 0, official: false, extraOptions: '', file: 'images.list', line: 1, imageId },
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'confine-xstage-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function rig() {
  const eng = new FakeEngine({
    [ORIG]: { layers: [L('a'), L('b')], env: ['PATH=/opt:/bin'], files },
    [LABEL_COPY]: { layers: [L('a'), L('b')], env: ['PATH=/opt:/bin'], files },
    [OTHER_PATH]: { layers: [L('a'), L('b')], env: ['PATH=/usr/local:/bin'], files },
    [NO_ENV]: { layers: [L('a'), L('b')], files },
    [DEFAULT_ENV]: { layers: [L('a'), L('b')], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_VERSION=2'], files },
  });
  const services = new Services('test');
  services.docker = async () => eng.docker;
  const reporter: Reporter = { stage: () => undefined, progress: () => undefined, log: () => undefined, close: () => undefined };
  const config = { outDir: path.join(dir, 'out'), allBinaries: false } as RunConfig;
  const run = (units: WorkUnit[]) =>
    runPipeline<RunConfig>({
      stages: [traceStage, extractBinariesStage(services)],
      units,
      config,
      // Only the extract artifact is checked against its real schema; the stand-in trace is not a real one.
      store: new ContentStore(path.join(dir, 'cache'), (schema, a) => (schema.startsWith('confine/') ? validateArtifact(schema, a) : undefined)),
      ledger: new Ledger(path.join(dir, 'cache', 'ledger.jsonl')),
      reporter,
      runId: 'test',
      jobs: 2,
    });
  const extractOf = (r: Awaited<ReturnType<typeof run>>, u: string) => r.outputs.get(u)?.get('extract-binaries') as ExtractArtifact;
  const statusOf = (r: Awaited<ReturnType<typeof run>>, u: string) => r.units.find((x) => x.unit === u)!.stages.find((s) => s.stage === 'extract-binaries')!;
  return { eng, services, config, run, extractOf, statusOf };
}

describe('the extract-binaries stage over images with the same layers', () => {
  it('extracts once for an image and its LABEL copy: one index pass, the same files', async () => {
    const r = rig();
    const out = await r.run([unit('orig', ORIG), unit('copy', LABEL_COPY)]);
    expect(r.statusOf(out, 'orig').status).toBe('done');
    expect(r.statusOf(out, 'copy').status).toBe('done');
    expect(r.eng.calls.export).toBe(1);
    // One extraction read files; the other read nothing (no helper container of its own).
    expect(r.eng.calls.create).toBe(1);
    const a = r.extractOf(out, 'orig');
    const b = r.extractOf(out, 'copy');
    // No image ID in the artifact: equal outputs, so every later stage is shared too.
    expect(b).toEqual(a);
    expect(a.layerChain).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.files.map((f) => f.resolvedPath).sort()).toEqual(['/app/run.sh', '/opt/tool', '/usr/bin/env']);
  });

  it('a copy whose PATH differs shares the index pass but not the extraction', async () => {
    const r = rig();
    const out = await r.run([unit('orig', ORIG), unit('path', OTHER_PATH)]);
    expect(r.eng.calls.export).toBe(1);
    expect(r.extractOf(out, 'orig').files.map((f) => f.resolvedPath)).toContain('/opt/tool');
    expect(r.extractOf(out, 'path').files.map((f) => f.resolvedPath)).toContain('/usr/local/tool');
    expect(r.extractOf(out, 'path').files.map((f) => f.resolvedPath)).not.toContain('/opt/tool');
  });

  it('an unset PATH is Docker\'s default PATH, and variables the closure does not read do not matter', async () => {
    const r = rig();
    const out = await r.run([unit('bare', NO_ENV), unit('built', DEFAULT_ENV)]);
    expect(r.eng.calls.create).toBe(1);
    expect(r.extractOf(out, 'built').files).toEqual(r.extractOf(out, 'bare').files);
  });

  it('a later run reuses the extraction for a new copy from disk, and extracts again when its files left -o', async () => {
    const first = rig();
    const out1 = await first.run([unit('orig', ORIG)]);
    const files1 = first.extractOf(out1, 'orig').files;

    const second = rig(); // a new process: nothing in memory, the same cache on disk
    const out2 = await second.run([unit('copy', LABEL_COPY)]);
    expect(second.statusOf(out2, 'copy').status).toBe('done');
    expect(second.eng.calls.create + second.eng.calls.export).toBe(0);
    expect(second.extractOf(out2, 'copy').files).toEqual(files1);

    unlinkSync(storedFilePath(first.config.outDir, files1[0].digest));
    const third = rig();
    const out3 = await third.run([unit('copy', LABEL_COPY), unit('orig', ORIG)]);
    // stillValid said no for orig; the memo's files were gone for copy: one extraction puts them back.
    expect(third.statusOf(out3, 'orig').status).toBe('done');
    expect(third.eng.calls.export).toBe(1);
    expect(third.extractOf(out3, 'copy').files).toEqual(files1);
    expect(files1.every((f) => existsSync(storedFilePath(third.config.outDir, f.digest)))).toBe(true);
  });
});
