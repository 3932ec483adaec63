import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentStore } from '../cache/content-store';
import { Ledger } from './ledger';
import { Reporter } from './reporter';
import { runPipeline } from './runner';
import { Stage, WorkUnit } from './stage';

/**
 * A temp-dir rig for runner tests (the wireit idea): stages that count their
 * invocations and can be told to fail, a real content store and ledger on disk.
 */
export interface RigConfig {
  salt: string;
  failUnits: string[];
}

/** Every rig made is removed after the test file's tests. */
const made: (() => void)[] = [];
afterAll(() => made.splice(0).forEach((c) => c()));

export function makeRig() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'confine-rig-'));
  const calls: string[] = [];
  const events: string[] = [];
  const reporter: Reporter = {
    stage: (e) => events.push(`${e.unit}/${e.stage}:${e.status}`),
    progress: () => undefined,
    log: () => undefined,
    batch: (n) => events.push(`batch:${n}`),
    unitDone: (u, how) => events.push(`${u}:${how}`),
    close: () => undefined,
  };
  const validate = (_schema: string, a: unknown) =>
    a && typeof a === 'object' && typeof (a as { v?: unknown }).v === 'string' ? undefined : 'expected {v: string}';

  const stage = (name: string, scope: Stage['scope'], needs: string[], opts: { salted?: boolean } = {}): Stage<Record<string, { v: string }>, { v: string }, RigConfig> => ({
    name,
    version: 1,
    schema: 'test/v1',
    scope,
    needs,
    resource: scope === 'image' ? 'container' : 'cpu',
    configSlice: (c) => (opts.salted ? c.salt : null),
    externalInputs: name === 'a' ? async (unit) => ({ unit: unit.id }) : undefined,
    run: async (deps, _ctx, unit) => {
      calls.push(`${unit.id}/${name}`);
      if (name === 'b' && (unit.data as { fail?: boolean })?.fail) throw new Error(`unit ${unit.id} is broken`);
      // `a` reads its unit (like run-and-trace reads its image), so units differ from there on.
      const own = name === 'a' ? unit.id : '';
      return { v: `${name}(${own}${Object.values(deps).map((d) => (typeof d === 'object' && d && 'v' in d ? d.v : JSON.stringify(d))).join(',')})` };
    },
  });

  const stages = [stage('g', 'before', []), stage('a', 'image', ['g']), stage('b', 'image', ['a'], { salted: true }), stage('c', 'image', ['b']), stage('z', 'after', ['c'])];

  const run = async (units: WorkUnit[], extra: Partial<Parameters<typeof runPipeline<RigConfig>>[0]> = {}, config: RigConfig = { salt: 's1', failUnits: [] }) => {
    calls.length = 0;
    events.length = 0;
    return runPipeline<RigConfig>({
      stages,
      units,
      config,
      store: new ContentStore(path.join(dir, 'cache'), validate),
      ledger: new Ledger(path.join(dir, 'cache', 'ledger.jsonl')),
      reporter,
      runId: 'test',
      jobs: 2,
      ...extra,
    });
  };
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  made.push(cleanup);
  return { dir, calls, events, run, cleanup, store: () => new ContentStore(path.join(dir, 'cache'), validate) };
}
