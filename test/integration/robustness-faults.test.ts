import { execFileSync } from 'node:child_process';
import { promises as fsp, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { confine, readSummary, tempWorkdir } from './cli-harness';
import { LIST, ledger, ourContainers, Rec, runs } from './fault-rig';

/**
 * Faults on the real engine with the two smallest sample images: a corrupted or
 * truncated cache entry, a full disk under --cache, Ctrl-C, kill -9 mid-batch, and
 * the Docker daemon restarted mid-run. Each is survived, loses nothing done, and
 * leaves no container behind.
 */

describe('cache faults', () => {
  const dir = tempWorkdir(LIST);
  const cache = path.join(dir, '.confine-cache');
  const ARGS = ['profiles', '-i', 'images.list', '--duration', '2'];

  it('a corrupted and a truncated entry are detected and recomputed, the rest reused', async () => {
    expect((await confine(ARGS, dir)).code).toBe(0);
    const recs = ledger(cache);
    const key = (image: string, stage: string) => recs.find((r) => r.image === image && r.stage === stage && r.key && (r.status === 'done' || r.status === 'reused'))!.key!;
    const file = (k: string) => path.join(cache, 'objects', k.slice(0, 2), `${k}.json`);
    const edited = file(key('c-static', 'syscall-resolve'));
    const truncated = file(key('c-musl', 'profile-emit'));
    // Still JSON, still the right shape: only the artifact hash can tell.
    const entry = JSON.parse(readFileSync(edited, 'utf8'));
    const original = JSON.stringify(entry.artifact);
    const tampered = original.replace(/"([A-Za-z]+)":(\d+)/, (_m, k, v) => `"${k}":${Number(v) + 9999}`);
    expect(tampered).not.toBe(original);
    entry.artifact = JSON.parse(tampered);
    await fsp.writeFile(edited, JSON.stringify(entry));
    const text = readFileSync(truncated);
    await fsp.writeFile(truncated, text.subarray(0, Math.floor(text.length / 2)));

    const again = await confine(ARGS, dir);
    expect(again.code).toBe(0);
    const last = ledger(cache).filter((r) => r.run === runs(ledger(cache)).pop());
    const status = (image: string, stage: string) => last.filter((r) => r.image === image && r.stage === stage).pop()?.status;
    expect(status('c-static', 'syscall-resolve')).toBe('done');
    expect(status('c-musl', 'profile-emit')).toBe('done');
    for (const image of ['c-static', 'c-musl']) expect(status(image, 'run-and-trace')).toBe('reused');
    expect(JSON.stringify(JSON.parse(readFileSync(edited, 'utf8')).artifact)).toBe(original);
  }, 120000);

  it('disk full under --cache: the run fails clearly, no half-written entry survives, a rerun with space completes', async () => {
    const small = path.join(dir, 'small-cache');
    await fsp.mkdir(small, { recursive: true });
    // mode=0755: a tmpfs root is 1777 by default, and a cache others can write is refused.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96k,mode=0755', 'tmpfs', small]);
    try {
      const r = await confine([...ARGS, '--cache', small], dir);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(1);
      const rows = readSummary(dir);
      expect(rows.some((x) => /ENOSPC|no space/i.test(x.error ?? ''))).toBe(true);
      // Every entry present parses and hashes (the store's own check); no temp file is left.
      const leftovers: string[] = [];
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else if (e.name.startsWith('.tmp-')) leftovers.push(p);
          else if (p.includes('/objects/')) expect(() => JSON.parse(readFileSync(p, 'utf8'))).not.toThrow();
        }
      };
      walk(small);
      expect(leftovers).toEqual([]);
      const records = readFileSync(path.join(small, 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean);
      for (const l of records.slice(0, -1)) expect(() => JSON.parse(l)).not.toThrow();
    } finally {
      execFileSync('umount', [small]);
    }
    const rerun = await confine([...ARGS, '--cache', small], dir);
    expect(rerun.code).toBe(0);
  }, 180000);
});

describe('interruptions', () => {
  it('Ctrl-C mid-trace: exit 130, containers removed, ledger has no stage left running', async () => {
    const dir = tempWorkdir(LIST);
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '30'], dir, (p) => {
      const poll = setInterval(async () => {
        if ((await ourContainers()).length > 0) {
          clearInterval(poll);
          setTimeout(() => process.kill(-p.pid!, 'SIGINT'), 1000);
        }
      }, 200);
      p.on('close', () => clearInterval(poll));
    });
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(25000);
    expect(await ourContainers()).toEqual([]);
    const latest = new Map<string, string>();
    for (const rec of ledger(path.join(dir, '.confine-cache'))) latest.set(`${rec.image}/${rec.stage}`, rec.status);
    expect([...latest].filter(([, s]) => s === 'running')).toEqual([]);
    expect([...latest.values()]).toContain('interrupted');
  }, 60000);

  it('kill -9 after one image finished: the rerun recomputes nothing that was done', async () => {
    const dir = tempWorkdir(LIST);
    const cache = path.join(dir, '.confine-cache');
    // jobs 1: c-static finishes while c-musl is traced; kill then. Same duration in the rerun, as it is part of the trace's key.
    const killed = await confine(['profiles', '-i', 'images.list', '--duration', '10', '--jobs', '1'], dir, (p) => {
      const poll = setInterval(() => {
        let recs: Rec[] = [];
        try {
          recs = ledger(cache);
        } catch {
          return;
        }
        const finished = recs.some((r) => r.stage === 'profile-emit' && r.status === 'done');
        const tracingOther = recs.some((r) => r.stage === 'run-and-trace' && r.status === 'running' && !recs.some((d) => d.image === r.image && d.stage === 'profile-emit'));
        if (finished && tracingOther) {
          clearInterval(poll);
          process.kill(-p.pid!, 'SIGKILL');
        }
      }, 200);
      p.on('close', () => clearInterval(poll));
    });
    expect(killed.signal).toBe('SIGKILL');
    const first = ledger(cache);
    const doneBefore = first.filter((r) => r.status === 'done').map((r) => `${r.image}/${r.stage}`);
    expect(doneBefore.length).toBeGreaterThanOrEqual(5);

    const rerun = await confine(['profiles', '-i', 'images.list', '--duration', '10', '--jobs', '1'], dir);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toMatch(/resuming: the last run left \d+ stage\(s\) unfinished/);
    const second = ledger(cache).filter((r) => r.run === runs(ledger(cache)).pop());
    const recomputed = second.filter((r) => r.status === 'done').map((r) => `${r.image}/${r.stage}`);
    // Stages done before the kill are reused; only the interrupted image's stages (and stats) run.
    expect(recomputed.filter((x) => doneBefore.includes(x) && !x.startsWith('*/'))).toEqual([]);
    expect(await ourContainers()).toEqual([]);
  }, 120000);
});

