import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sha256Hex } from '../cache/digest';
import type { StageContext } from '../pipeline/stage';
import type { CfgsArtifact, ObjectSummary } from '../schemas/types';
import type { RunConfig } from './config';
import { seedGraphSyscalls } from './seed-graphs';

const GRAPH = ['puts : _IO_puts', '_IO_puts : __libc_write', '__libc_write : syscall( 1 )', 'exit : __run_exit_handlers', '__run_exit_handlers : syscall ( 231 )', 'reboot : syscall(169)'].join('\n');

/** A stand-in for a libc-importing program's scan: only imports matter here. */
const program: ObjectSummary = {
  functions: [{ a: 0x1000, n: 'main', i: [0, 1] }], imports: ['puts@GLIBC_2.2.5', 'exit@GLIBC_2.2.5'], exports: [], inits: [], addressTaken: [],
  importsAddressTaken: [], paramWrappers: [], importArgs: [], unresolved: [],
} as unknown as ObjectSummary;

function fakeCtx(): StageContext & { computed: number } {
  const ctx = {
    computed: 0,
    signal: new AbortController().signal,
    log: () => undefined,
    progress: () => undefined,
    cpu: (fn: () => Promise<unknown>) => fn(),
    reporter: {} as StageContext['reporter'],
    // No cache: the parsed graph is always recomputed from its source file.
    memo: async (_req: unknown, compute: () => Promise<unknown>) => {
      ctx.computed++;
      return { key: 'k', value: await compute(), reused: false };
    },
  };
  return ctx as unknown as StageContext & { computed: number };
}

describe('seedGraphSyscalls', () => {
  let dir: string;
  let cfgs: CfgsArtifact;
  let libcFile: string;
  const base = { imageList: '', outDir: '', resultsDir: '', debug: false, finegrained: false, allBinaries: false, durationSec: 1, verify: false, verifyDurationSec: 1, jobs: 1, cacheDir: '' } as RunConfig;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'seed-graphs-'));
    const g = path.join(dir, 'glibc.callgraph');
    await fs.writeFile(g, GRAPH);
    libcFile = path.join(dir, 'libc.so.6');
    await fs.writeFile(libcFile, 'not really libc');
    const digest = `sha256:${sha256Hex(GRAPH)}`;
    cfgs = { graphs: [{ role: 'glibc', source: g, digest, graphKey: `test-${dir}`, functions: 5, edges: 5, syscallFunctions: 3, errorCount: 0, errors: [] }] };
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it("returns what the program's imported glibc functions reach in the seed graph, and caches the graph", async () => {
    const ctx = fakeCtx();
    const r = await seedGraphSyscalls(cfgs, ctx, { imports: program.imports, libc: 'glibc' }, base);
    expect([...r.syscalls].sort((a, b) => a - b)).toEqual([1, 231]);
    expect(r.used).toEqual([cfgs.graphs[0].source]);
    await seedGraphSyscalls(cfgs, ctx, { imports: ['reboot'], libc: 'glibc' }, base);
    expect(ctx.computed).toBeLessThanOrEqual(1);
  });

  it('ignores the graph for an image whose libc is another libc', async () => {
    const r = await seedGraphSyscalls(cfgs, fakeCtx(), { imports: program.imports, libc: 'musl' }, base);
    expect(r.syscalls.size).toBe(0);
    expect(r.used).toEqual([]);
  });

  it('with -f, uses the graph only for that exact libc', async () => {
    const config = { ...base, glibcObject: libcFile };
    const same = `sha256:${sha256Hex(await fs.readFile(libcFile))}`;
    const hit = await seedGraphSyscalls(cfgs, fakeCtx(), { imports: ['reboot@GLIBC_2.2.5'], libc: 'glibc', libcDigest: same }, config);
    expect([...hit.syscalls]).toEqual([169]);
    const miss = await seedGraphSyscalls(cfgs, fakeCtx(), { imports: ['reboot'], libc: 'glibc', libcDigest: `sha256:${sha256Hex('other')}` }, config);
    expect(miss.syscalls.size).toBe(0);
  });
});
