import * as fs from 'node:fs';
import * as path from 'node:path';
import { compile, tempDir } from '../../analysis/x86/test-fixtures';
import { validateArtifact } from '../../schemas/validate';
import { ContentStore } from '../../cache/content-store';
import { analyzeBinary, analyzePrograms } from './analyze-programs';
import { ANALYSIS_SOURCES, fromStored, RESOLUTION_SCHEMA, resolutionFingerprint, toStored } from './stored-analysis';
import { SummarySource } from './summary-source';

// socket(AF_INET) gives an argument rule with an origin chain; the call through a
// pointer makes the indirect-call rule fire, so chains have `indirect` steps with `takenBy`.
const PROGRAM = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
__attribute__((noinline)) static int open_sock(int domain) { return socket(domain, SOCK_STREAM, 0); }
int (*volatile fp)(int) = open_sock;
int main(int argc, char **argv) {
  printf("%d\n", fp(AF_INET));
  return argc;
}
`;

let dir: string;
beforeAll(() => {
  dir = tempDir('confine-stored-analysis-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each([
  ['glibc, dynamic', 'dyn', ['-O2'], undefined],
  ['musl, static', 'musl', ['-O2', '-static'], 'musl-gcc'],
] as const)('the stored form (%s)', (_what, name, flags, cc) => {
  test('passes the schema and reads back as exactly the result written', async () => {
    const prog = compile(dir, `${name}.c`, PROGRAM, name, [...flags], cc);
    const r = await analyzeBinary('/', prog, new SummarySource());
    const res = r.resolution!;
    // Every part of the result is exercised: Sets, the provenance and argument-rule Maps, chains through a pointer.
    expect(res.argRules.size).toBeGreaterThan(0);
    expect(res.reachedNames.size).toBeGreaterThan(0);
    expect([...res.provenance.values()].some((p) => p.steps.some((s) => s.takenBy !== undefined))).toBe(true);
    // As the content store writes and reads it: JSON text, checked against the schema.
    const stored = JSON.parse(JSON.stringify(toStored(r)));
    expect(validateArtifact(RESOLUTION_SCHEMA, stored)).toBeUndefined();
    expect(fromStored(stored)).toEqual(r);
  });
});

test('an answer the store will not keep is still the answer, with a warning', async () => {
  const prog = compile(dir, 'plain.c', 'int main(void) { return 0; }', 'plain', ['-O2', '-static'], 'musl-gcc');
  const rejecting = new ContentStore(path.join(dir, 'rejecting-cache'), (schema, a) => (schema === RESOLUTION_SCHEMA ? 'rejected here' : validateArtifact(schema, a)));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const [r] = await analyzePrograms('/', [prog], new SummarySource(rejecting));
    const [plain] = await analyzePrograms('/', [prog], new SummarySource());
    expect(r.error).toBeUndefined();
    expect(r.resolution?.syscalls).toEqual(plain.resolution?.syscalls);
    expect(err.mock.calls.map((c) => String(c[0])).join('')).toMatch(/answer not cached: .*rejected here/);
  } finally {
    err.mockRestore();
  }
});

test('the schema rejects what a check of the outline would let through', () => {
  const ok = {
    path: '/bin/p',
    missing: [],
    resolution: {
      syscalls: [0], withoutIndirectRule: [0], wholeProgramAT: [0], withoutValueLayer: [0], targets: { reachable: 0, wholeProgram: 0 }, indirectRuleFired: false,
      perObject: [{ path: '/bin/p', functions: 1, reachedFunctions: 1, syscalls: [0] }], unresolvedSites: [], unresolvedImports: [],
      // -1: a chain whose last edge carried no site (analysis/link/link.ts).
      provenance: [{ syscall: 0, steps: [{ object: '/bin/p', function: 'main', via: 'entry' }], site: -1, siteObject: '/bin/p' }],
      graph: { nodes: 2, edges: 1 }, argRules: [], reachedNames: [],
    },
  };
  expect(validateArtifact(RESOLUTION_SCHEMA, ok)).toBeUndefined();
  const bad = (edit: (r: typeof ok.resolution & Record<string, unknown>) => void) => {
    const a = JSON.parse(JSON.stringify(ok));
    edit(a.resolution);
    return validateArtifact(RESOLUTION_SCHEMA, a);
  };
  // v1's forms: Maps as [key, value] pairs, argRules and reachedNames as {}.
  expect(bad((r) => ((r as Record<string, unknown>).provenance = [[0, { steps: [], site: 16, siteObject: '/bin/p' }]]))).toBeDefined();
  expect(bad((r) => ((r as Record<string, unknown>).argRules = {}))).toBeDefined();
  expect(bad((r) => ((r as Record<string, unknown>).reachedNames = {}))).toBeDefined();
  expect(bad((r) => (r.provenance[0].steps[0].via = 'teleport'))).toMatch(/via/);
  expect(bad((r) => (r.perObject[0].syscalls = [-1]))).toBeDefined();
  expect(bad((r) => (r.unknown = 1))).toBeDefined();
});

test('the program key changes with any loaded object\'s path or content and with the analysis code', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const lib = { name: 'libc.so', rootPath: '/lib/libc.so', hostPath: '/lib/libc.so', bytes: bytes('libc'), info: {} as never };
  const plan = (libBytes: Uint8Array, libPath = '/lib/libc.so') => ({
    rootPath: '/bin/p', bytes: bytes('exe'), order: { libraries: [{ ...lib, bytes: libBytes, rootPath: libPath }], missing: [], candidates: [] },
  });
  const source = new SummarySource();
  const key = (p: ReturnType<typeof plan>) => JSON.stringify(resolutionFingerprint(p, source));
  expect(key(plan(bytes('libc')))).toBe(key(plan(bytes('libc'))));
  expect(key(plan(bytes('libc2')))).not.toBe(key(plan(bytes('libc'))));
  expect(key(plan(bytes('libc'), '/usr/lib/libc.so'))).not.toBe(key(plan(bytes('libc'))));
  const fp = resolutionFingerprint(plan(bytes('libc')), source);
  expect((fp.config as { code: string }).code).toMatch(/^[0-9a-f]{64}$/);
});

/**
 * The code digest in the key must cover every module that computes an answer, wherever
 * it moves: everything analyze-programs.ts imports, transitively, except the layers
 * that only keep or carry answers (the content store, the runner's error values, the
 * schemas' types), and the library search behind host-resolver.ts (system/extract,
 * system/image): the load order it finds — every object by path and content, the
 * libraries missing, the dlopen candidates — is itself in the key. The CLI (help text,
 * the table) is not among them.
 */
test('the analysis code digest covers every module that computes an answer, and not the CLI', () => {
  const repo = path.join(__dirname, '..', '..');
  const keepers = /^(cache|pipeline|schemas)\//;
  const seen = new Set<string>();
  const visit = (rel: string) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    if (rel === 'system/host/host-resolver.ts') return;
    const text = fs.readFileSync(path.join(repo, rel), 'utf8');
    for (const m of text.matchAll(/(?:from |require\()'(\.[^']+)'/g)) {
      const target = path.posix.join(path.posix.dirname(rel), m[1]);
      const file = [`${target}.ts`, `${target}/index.ts`].find((f) => fs.existsSync(path.join(repo, f)));
      if (file && !keepers.test(file)) visit(file);
    }
  };
  visit('system/host/analyze-programs.ts');
  const covered = (f: string) => ANALYSIS_SOURCES.some((s) => f === s || f.startsWith(`${s}/`));
  expect([...seen].filter((f) => !covered(f))).toEqual([]);
  expect(seen.has('analysis/link/link.ts')).toBe(true);
  expect(seen.has('system/host/stored-analysis.ts')).toBe(true);
  expect(covered('cli/analyze-command.ts')).toBe(false);
});
