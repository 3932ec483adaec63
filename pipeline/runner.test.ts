import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { ContentStore } from '../cache/content-store';
import type { CacheKey } from '../cache/digest';
import { Ledger } from './ledger';
import { runPipeline } from './runner';
import type { StageContext } from './stage';
import { makeRig } from './test-rig';

const units = [
  { id: 'one', data: {} },
  { id: 'two', data: {} },
];

describe('runPipeline', () => {
  it('runs every stage once, then reuses every stage on a rerun', async () => {
    const rig = makeRig();
    const first = await rig.run(units);
    expect(rig.calls.sort()).toEqual(['*/g', 'one/a', 'one/b', 'one/c', 'two/a', 'two/b', 'two/c', '*/z'].sort());
    expect(first.units.every((u) => u.stages.every((s) => s.status === 'done'))).toBe(true);
    expect(first.outputs.get('*')?.get('z')).toEqual({ v: 'z({"one":{"v":"c(b(a(oneg())))"},"two":{"v":"c(b(a(twog())))"}})' });

    const second = await rig.run(units);
    expect(rig.calls).toEqual([]);
    expect(second.units.every((u) => u.stages.every((s) => s.status === 'reused'))).toBe(true);
    expect(second.after.stages[0].status).toBe('reused');
  });

  it('a failing unit does not stop the others; its downstream is skipped and retried next run', async () => {
    const rig = makeRig();
    const r = await rig.run([{ id: 'bad', data: { fail: true } }, units[1]]);
    const bad = r.units.find((u) => u.unit === 'bad')!;
    expect(bad.stages.map((s) => s.status)).toEqual(['done', 'failed', 'skipped']);
    expect(bad.stages[1].error?.describe()).toMatch(/image bad, stage b: internal: unit bad is broken/);
    expect(r.units.find((u) => u.unit === 'two')!.stages.map((s) => s.status)).toEqual(['done', 'done', 'done']);
    expect(r.after.stages[0].status).toBe('done'); // stats over the images that worked

    await rig.run([{ id: 'bad', data: { fail: true } }, units[1]]);
    expect(rig.calls).toEqual(['bad/b']); // the failure is retried; nothing done is redone
  });

  it('tells the reporter the batch size first and how each unit ended (for the batch line)', async () => {
    const rig = makeRig();
    await rig.run([{ id: 'bad', data: { fail: true } }, units[1]]);
    expect(rig.events[0]).toBe('batch:2');
    expect(rig.events.filter((e) => /^\w+:(done|failed|interrupted)$/.test(e)).sort()).toEqual(['bad:failed', 'two:done']);
    // A unit ends after its last stage's event, and before the after-stages run.
    expect(rig.events.indexOf('two:done')).toBeGreaterThan(rig.events.indexOf('two/c:done'));
    expect(rig.events.indexOf('two:done')).toBeLessThan(rig.events.indexOf('*/z:running'));
  });

  it('a config change reruns the stage that reads it; unchanged output leaves downstream reused', async () => {
    const rig = makeRig();
    await rig.run(units);
    await rig.run(units, {}, { salt: 's2', failUnits: [] });
    // b reads the salt, so it reruns; its output does not depend on it, so c and z are reused.
    expect(rig.calls.sort()).toEqual(['one/b', 'two/b']);
  });

  it('a deleted or corrupted artifact is recomputed, not trusted', async () => {
    const rig = makeRig();
    const r = await rig.run(units);
    const store = rig.store();
    const aKey = r.units[0].stages[0].key!;
    const bKey = r.units[1].stages[1].key!;
    await fs.rm(store.entryPath(aKey));
    await fs.writeFile(store.entryPath(bKey), (await fs.readFile(store.entryPath(bKey), 'utf8')).slice(0, 40)); // truncated
    const again = await rig.run(units);
    expect(rig.calls.sort()).toEqual(['one/a', 'two/b']);
    expect(again.units[1].stages[1].status).toBe('done');
  });

  it('a tampered artifact that still parses fails its hash check', async () => {
    const rig = makeRig();
    const r = await rig.run(units);
    const key = r.units[0].stages[2].key!;
    const file = rig.store().entryPath(key);
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('c(b(a(oneg())))', 'c(evil)'));
    await rig.run(units);
    expect(rig.calls).toEqual(['one/c']);
  });

  it('--until runs a prefix; --only runs one stage from cached upstream or says what to run first', async () => {
    const rig = makeRig();
    await rig.run(units, { until: 'a' });
    expect(rig.calls.sort()).toEqual(['*/g', 'one/a', 'two/a']);
    const only = await rig.run(units, { only: 'c' });
    expect(only.units[0].stages.map((s) => `${s.stage}:${s.status}`)).toEqual(['a:reused', 'b:failed', 'c:skipped']);
    expect(only.units[0].stages[1].error?.message).toMatch(/--until b/);
    await rig.run(units, { until: 'b' });
    expect(rig.calls.sort()).toEqual(['one/b', 'two/b']);
    await rig.run(units, { only: 'c' });
    expect(rig.calls.sort()).toEqual(['one/c', 'two/c']);
    await expect(rig.run(units, { until: 'nope' })).rejects.toThrow(/unknown stage 'nope'/);
  });

  it('--force recomputes the selected stages', async () => {
    const rig = makeRig();
    await rig.run(units);
    await rig.run(units, { force: true, only: 'b' });
    expect(rig.calls.sort()).toEqual(['one/b', 'two/b']);
  });

  it('the ledger records every transition, and a line cut by a crash is ignored', async () => {
    const rig = makeRig();
    await rig.run(units);
    const ledgerFile = path.join(rig.dir, 'cache', 'ledger.jsonl');
    await fs.appendFile(ledgerFile, '{"image":"one","stage":"a","sta');
    const { Ledger } = await import('./ledger');
    const latest = await new Ledger(ledgerFile).latest();
    expect(latest.get('one\u0000c')?.status).toBe('done');
    expect(latest.get('one\u0000a')?.status).toBe('done');
  });

  it('an abort marks stages interrupted instead of running them', async () => {
    const rig = makeRig();
    const ac = new AbortController();
    ac.abort();
    const r = await rig.run(units, { signal: ac.signal });
    expect(rig.calls).toEqual([]);
    expect(r.interrupted).toBe(true);
    expect(r.before.stages[0].status).toBe('interrupted');
  });
});

type Run = (deps: unknown, ctx: StageContext, unit: { id: string }) => Promise<{ v: string }>;

/** One image-scope stage and no other, run over two units with a real store and ledger. */
async function soloRig(name: string, run: Run, externalInputs?: (u: { id: string }) => Promise<Record<string, string>>) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'confine-solo-'));
  const logs: string[] = [];
  const stage = { name, version: 1, schema: 'test/v1', scope: 'image' as const, needs: [], resource: 'container' as const, configSlice: () => null, run, ...(externalInputs ? { externalInputs } : {}) };
  const runUnits = (ids: string[], force = false) => runPipeline({
    stages: [stage],
    units: ids.map((id) => ({ id, data: {} })),
    config: {},
    store: new ContentStore(path.join(dir, 'cache'), (_s, a) => (a && typeof (a as { v?: unknown }).v === 'string' ? undefined : 'bad')),
    ledger: new Ledger(path.join(dir, 'ledger.jsonl')),
    reporter: { stage: () => undefined, progress: () => undefined, log: (u, _s, line, replay) => logs.push(`${u}:${line}:${replay}`), close: () => undefined },
    runId: 't',
    jobs: 2,
    force,
  });
  return { dir, runUnits, logs, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

describe('ctx.memo shared between units', () => {
  it('a unit waiting on another unit’s failed computation computes it itself instead of failing too', async () => {
    const computed: string[] = [];
    let release!: () => void;
    const firstStarted = new Promise<void>((r) => (release = r));
    const rig = await soloRig('scan', async (_d, ctx, unit) => {
      if (unit.id === 'second') await firstStarted; // join while the first is in flight
      const r = await ctx.memo({ name: 'shared', version: 1, schema: 'test/v1', inputs: { lib: 'libc' } }, async () => {
        computed.push(unit.id);
        if (unit.id === 'first') {
          release();
          await new Promise((r) => setTimeout(r, 20));
          throw new Error('helper container removed under us');
        }
        return { v: 'libc-scan' };
      });
      return { v: `${unit.id}:${(r.value as { v: string }).v}` };
    }, async (u) => ({ unit: u.id }));
    const result = await rig.runUnits(['first', 'second']);
    const status = Object.fromEntries(result.units.map((u) => [u.unit, u.stages[0].status]));
    expect(status).toEqual({ first: 'failed', second: 'done' });
    expect(computed).toEqual(['first', 'second']);
    expect(result.outputs.get('second')?.get('scan')).toEqual({ v: 'second:libc-scan' });
    await rig.cleanup();
  });
});

describe('ctx.memo keeps the store protocol stages keep (read, lock, re-read, compute, write)', () => {
  const memoStage = (computed: string[], keys: string[]): Run => async (_d, ctx, unit) => {
    const r = await ctx.memo({ name: 'shared', version: 1, schema: 'test/v1', inputs: { lib: 'libc' } }, async () => {
      computed.push(unit.id);
      await new Promise((r) => setTimeout(r, 50));
      return { v: 'libc-scan' };
    });
    keys.push(r.key);
    return { v: `${unit.id}:${(r.value as { v: string }).v}` };
  };
  // Each unit's stage has its own fingerprint; only the memoized sub-artifact is shared.
  const perUnit = async (u: { id: string }) => ({ unit: u.id });

  it('two runs sharing only the store compute a memoized artifact once: the second waits on the lock, then reads it', async () => {
    const computed: string[] = [];
    const rig = await soloRig('scan', memoStage(computed, []), perUnit);
    const [r1, r2] = await Promise.all([rig.runUnits(['first']), rig.runUnits(['second'])]);
    expect(computed).toHaveLength(1);
    expect([r1, r2].map((r) => r.units[0].stages[0].status)).toEqual(['done', 'done']);
    expect(r2.outputs.get('second')?.get('scan')).toEqual({ v: 'second:libc-scan' });
    await rig.cleanup();
  });

  it('a corrupt memoized entry is recomputed, with a log line saying so', async () => {
    const computed: string[] = [];
    const keys: string[] = [];
    const rig = await soloRig('scan', memoStage(computed, keys), perUnit);
    await rig.runUnits(['first']);
    const entry = new ContentStore(path.join(rig.dir, 'cache'), () => undefined).entryPath(keys[0] as CacheKey);
    await fs.writeFile(entry, (await fs.readFile(entry, 'utf8')).slice(0, 30));
    const r = await rig.runUnits(['second']);
    expect(computed).toEqual(['first', 'second']);
    expect(r.outputs.get('second')?.get('scan')).toEqual({ v: 'second:libc-scan' });
    expect(rig.logs.filter((l) => /^second:cache entry \w+ \(shared\) was corrupt/.test(l))).toHaveLength(1);
    await rig.cleanup();
  });
});

describe('units whose stage fingerprints are equal', () => {
  it('compute it once per run: the other unit waits and reuses the artifact', async () => {
    const runs: string[] = [];
    // nothing unit-specific: like syscall-resolve of an image and its LABEL copy
    const rig = await soloRig('resolve', async (_d, ctx, unit) => {
      runs.push(unit.id);
      ctx.log('resolved');
      await new Promise((r) => setTimeout(r, 20));
      return { v: 'same' };
    });
    const first = await rig.runUnits(['orig', 'copy']);
    expect(runs).toHaveLength(1);
    expect(first.units.map((u) => u.stages[0].status).sort()).toEqual(['done', 'reused']);
    expect(first.units.map((u) => first.outputs.get(u.unit)?.get('resolve'))).toEqual([{ v: 'same' }, { v: 'same' }]);
    // the waiting unit shows the stored log lines, as any reuse does
    expect(rig.logs.filter((l) => l.endsWith(':resolved:true'))).toHaveLength(1);
    runs.length = 0;
    const forced = await rig.runUnits(['orig', 'copy'], true);
    expect(runs).toHaveLength(1); // --force recomputes, still once per run
    expect(forced.units.map((u) => u.stages[0].status).sort()).toEqual(['done', 'reused']);
    await rig.cleanup();
  });

  it('under --force, a unit whose twin failed computes itself instead of taking an earlier run’s artifact', async () => {
    let failOrig = false;
    const runs: string[] = [];
    const rig = await soloRig('resolve', async (_d, _ctx, unit) => {
      runs.push(unit.id);
      await new Promise((r) => setTimeout(r, 20));
      if (failOrig && unit.id === 'orig') throw new Error('engine hiccup');
      return { v: 'same' };
    });
    await rig.runUnits(['orig']); // an earlier run's artifact is in the store
    failOrig = true;
    runs.length = 0;
    const r = await rig.runUnits(['orig', 'copy'], true);
    expect(Object.fromEntries(r.units.map((u) => [u.unit, u.stages[0].status]))).toEqual({ orig: 'failed', copy: 'done' });
    expect(runs).toEqual(['orig', 'copy']);
    await rig.cleanup();
  });
});

describe('runPipeline with a delegate (units run elsewhere on the same store)', () => {
  it('records the remote outcomes and feeds the after stages the same outputs a local run would', async () => {
    const local = makeRig();
    const expected = (await local.run(units)).outputs.get('*')?.get('z');

    const rig = makeRig();
    const remote = await rig.run(units, { until: 'c' }); // what the workers did, into the shared store
    const asked: string[] = [];
    const r = await rig.run(units, {
      delegate: async (u) => {
        asked.push(u.id);
        return remote.units.find((x) => x.unit === u.id)!;
      },
    });
    expect(asked.sort()).toEqual(['one', 'two']);
    expect(rig.calls).toEqual(['*/z']); // no per-unit stage ran here
    expect(r.outputs.get('*')?.get('z')).toEqual(expected);
    expect(rig.events).toEqual(expect.arrayContaining(['one/a:done', 'one/c:done', 'two/b:done']));
    const latest = await new Ledger(path.join(rig.dir, 'cache', 'ledger.jsonl')).latest();
    expect(latest.get('one\u0000c')?.status).toBe('done');
  });

  it('a reported artifact missing from the store fails that stage instead of feeding nothing downstream', async () => {
    const rig = makeRig();
    const remote = await rig.run(units, { until: 'c' });
    const gone = remote.units[0].stages.find((s) => s.stage === 'c')!.key!;
    await fs.rm(rig.store().entryPath(gone));
    const r = await rig.run(units, { delegate: async (u) => remote.units.find((x) => x.unit === u.id)! });
    const one = r.units.find((u) => u.unit === 'one')!;
    expect(one.stages.find((s) => s.stage === 'c')).toMatchObject({ status: 'failed' });
    expect(one.stages.find((s) => s.stage === 'c')!.error!.describe()).toMatch(/cache-corrupt: .*is missing/);
    expect(r.outputs.get('*')?.get('z')).toEqual({ v: 'z({"two":{"v":"c(b(a(twog())))"}})' });
  });

  it('a delegate that throws fails the unit with its error', async () => {
    const rig = makeRig();
    const r = await rig.run(units, {
      delegate: async (u) => {
        if (u.id === 'one') throw new Error('queue gone');
        return (await makeRig().run([u], { until: 'c' })).units[0];
      },
    });
    const one = r.units.find((u) => u.unit === 'one')!;
    expect(one.stages.map((s) => s.status)).toEqual(['failed', 'failed', 'failed']);
    expect(one.stages[0].error!.describe()).toMatch(/queue gone/);
  });
});

describe('two runs on one store at once (two worker processes sharing it)', () => {
  it('compute each stage once: the store lock makes the other wait and reuse', async () => {
    const rig = makeRig();
    // Two runner instances share nothing in memory, only the store: what separate processes share.
    const [r1, r2] = await Promise.all([rig.run(units), rig.run(units)]);
    expect(rig.calls.sort()).toEqual(['*/g', 'one/a', 'one/b', 'one/c', 'two/a', 'two/b', 'two/c', '*/z'].sort());
    for (let u = 0; u < 2; u++) {
      for (let s = 0; s < 3; s++) {
        expect([r1.units[u].stages[s].status, r2.units[u].stages[s].status].sort()).toEqual(['done', 'reused']);
      }
    }
    expect(r1.outputs.get('*')?.get('z')).toEqual(r2.outputs.get('*')?.get('z'));
  });
});
