import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { readDynamicInfo } from '../../analysis/elf';
import { confine, containersOfDeadOwners, readSummary, tempWorkdir } from './cli-harness';

/**
 * nginx and apache2 from the sample corpus, traced and extracted for real: the exec
 * list holds the binaries they really run, and the extracted set is closed under
 * DT_NEEDED with the program interpreter, all inside -o.
 */
const LIST = [
  "1;nginx;confine-sample/nginx:latest;['Web Servers'];0;Unofficial;-p 19180:80",
  "2;apache2;confine-sample/apache2:latest;['Web Servers'];0;Unofficial;-p 19181:80",
];

function cacheArtifacts(dir: string, stage: string): Map<string, any> {
  const out = new Map<string, any>();
  const ledger = readFileSync(path.join(dir, '.confine-cache', 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const r of ledger) {
    if (r.stage !== stage || !r.key || (r.status !== 'done' && r.status !== 'reused')) continue;
    const entry = JSON.parse(readFileSync(path.join(dir, '.confine-cache', 'objects', r.key.slice(0, 2), `${r.key}.json`), 'utf8'));
    out.set(r.image, entry.artifact);
  }
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]));
}

describe('tracing and extraction on nginx and apache2', () => {
  const dir = tempWorkdir(LIST);
  let traces: Map<string, any>;
  let extracts: Map<string, any>;

  beforeAll(async () => {
    const docker = new Dockerode();
    for (const ref of ['confine-sample/nginx:latest', 'confine-sample/apache2:latest']) {
      await docker.getImage(ref).inspect().catch(() => {
        throw new Error(`sample image ${ref} is missing: run images/build.sh (make images)`);
      });
    }
    const before = new Set(readdirSync(dir));
    const r = await confine(['profiles', '-i', 'images.list', '--duration', '4', '--until', 'extract-binaries', '-o', 'out'], dir);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    // Nothing but the outputs we named appears in the working directory.
    expect(readdirSync(dir).filter((n) => !before.has(n)).sort()).toEqual(['.confine-cache', 'out', 'results']);
    traces = cacheArtifacts(dir, 'run-and-trace');
    extracts = cacheArtifacts(dir, 'extract-binaries');
  }, 180000);

  it('records the server binaries each image really runs', async () => {
    // What the image is configured to start must be the first thing seen executing.
    const docker = new Dockerode();
    for (const [name, ref] of [['nginx', 'confine-sample/nginx:latest'], ['apache2', 'confine-sample/apache2:latest']]) {
      const cfg = (await docker.getImage(ref).inspect()).Config;
      const first = (cfg.Entrypoint ?? cfg.Cmd)[0] as string;
      const execs = traces.get(name).executedPaths as string[];
      expect(execs.some((p) => p === first || p.endsWith(`/${first}`))).toBe(true);
    }
    expect(traces.get('nginx').executedPaths).toContain('/usr/sbin/nginx');
    // apache2-foreground is a shell script that ends by exec'ing the server binary.
    expect((traces.get('apache2').executedPaths as string[]).some((p) => p === '/usr/sbin/apache2')).toBe(true);
    expect(traces.get('nginx').mappedObjects).toContain('/usr/lib/x86_64-linux-gnu/libc.so.6');
  });

  it.each(['nginx', 'apache2'])('%s: extraction has the interpreter and is closed under DT_NEEDED, inside -o', (name) => {
    const ex = extracts.get(name);
    expect(ex.missing).toEqual([]);
    const byBase = new Map<string, any>();
    for (const f of ex.files) byBase.set(path.posix.basename(f.path), f), byBase.set(path.posix.basename(f.resolvedPath), f);
    const stored = (digest: string) => path.join(dir, 'out', 'files', digest.slice(7, 9), digest.slice(7));
    const elves = ex.files.filter((f: any) => statSync(stored(f.digest)).size > 0 && readFileSync(stored(f.digest)).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])));
    expect(elves.length).toBeGreaterThan(3);
    for (const f of elves) {
      const info = readDynamicInfo(readFileSync(stored(f.digest)));
      if (info.interp) expect(ex.files.some((g: any) => g.path === info.interp || g.resolvedPath === info.interp || g.role === 'interpreter')).toBe(true);
      for (const needed of info.needed) expect({ file: f.path, needed, found: byBase.has(needed) }).toEqual({ file: f.path, needed, found: true });
    }
    // Every stored file sits under out/files/ by its digest, nothing else was written.
    for (const file of walk(path.join(dir, 'out'))) expect(path.relative(path.join(dir, 'out'), file)).toMatch(/^files\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
  });

  it('leaves no container behind', () => {
    // Ours are those whose owner (the confine process, now exited) is gone.
    expect(containersOfDeadOwners()).toEqual([]);
    expect(readSummary(dir).every((r) => r.failed === 0)).toBe(true);
  });
});
