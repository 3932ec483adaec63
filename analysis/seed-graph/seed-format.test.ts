import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEED_DIR } from '../../test/test-data';
import { parseSeedCallgraphText, readSeedCallgraph, readSeedCallgraphSync, SeedCallgraph } from './seed-format';

const GLIBC = path.join(SEED_DIR, 'libc-callgraphs', 'glibc.2.31.callgraph');
const MUSL = path.join(SEED_DIR, 'libc-callgraphs', 'musllibc.callgraph');
const OTHERS = ['libcrypto', 'libssl', 'libz', 'libpcre'].map((n) =>
  path.join(SEED_DIR, 'other-callgraphs', `${n}.callgraph.out`),
);

function load(file: string): SeedCallgraph {
  const r = readSeedCallgraphSync(file);
  if (!r.ok) throw r.error;
  return r.value;
}

const hasEdge = (g: SeedCallgraph, a: string, b: string) => g.edges.some(([x, y]) => x === a && y === b);

describe('parseSeedCallgraphText: every shape in the seed files', () => {
  const text = [
    'main->helper', // 1 plain arrow
    'main->@puts', // 2 LLVM global
    'main->@llvm.lifetime.start.p0i8', // 3 intrinsic
    'main->llvm.memcpy.p0i8.p0i8.i64', // 4 intrinsic without @
    'helper->syscall(202)', // 5
    'helper : syscall ( 0 )', // 6
    'helper  : syscall( 1 )', // 7
    'wrap->syscall(%35)', // 8 number unknown
    'sc->asm sideeffect "syscall", "={ax},{ax},~{rcx},~{r11},~{memory}"', // 9
    'lock->asm sideeffect "lock ; cmpxchg $3, $1", "={ax},=*m"', // 10
    'tp->asm "mov %fs:0,$0", "=r,~{dirflag}"', // 11 colon inside asm, arrow wins
    'cb->%281', // 12 indirect call
    '_IO_file_open : *__GI___open', // 13 verbatim + hidden alias
    '_dl_map_object : *.LC58', // 14 local label
    '_dl_map_object : dl-load.c', // 15 source file
    '_dl_map_object : ../sysdeps/generic/ldsodefs.h', // 16 source path
    'true_func : ', // 17 no callee
    'kill  :  __kill', // 18 alias section
    '  :  weak_aliaslocal', // 19 lost alias name
    '(static : for', // 20 garbage
    ' VERSION_##lib##_##version #define  :   symbol', // 21 garbage
    'just some words', // 22 no separator
    '', // 23 blank
    '# a comment', // 24
    'clone.isra.2->clone.isra.2', // 25 self edge kept
    'main->helper', // 26 duplicate
    '*__GI___do_niscall3.part.3 : __nis_do_callback', // 27 verbatim caller
    'x : a b', // 28 garbage callee
  ].join('\n');
  const g = parseSeedCallgraphText(text, 'fixture.callgraph');

  it('turns calls into deduplicated, normalised edges', () => {
    expect(g.edges).toEqual([
      ['main', 'helper'],
      ['main', 'puts'],
      ['_IO_file_open', '__open'],
      ['kill', '__kill'],
      ['clone.isra.2', 'clone.isra.2'],
      ['__do_niscall3.part.3', '__nis_do_callback'],
    ]);
  });

  it('collects syscall leaves in all three spellings', () => {
    expect([...(g.syscallLeaves.get('helper') ?? [])].sort()).toEqual([0, 1, 202]);
    expect(g.syscallLeaves.size).toBe(1);
  });

  it('keeps syscall sites whose number is not in the graph, and indirect calls', () => {
    expect(g.unresolvedSyscalls.map((u) => [u.caller, u.line])).toEqual([
      ['wrap', 8],
      ['sc', 9],
    ]);
    expect([...g.indirectCallers]).toEqual(['cb']);
  });

  it('counts what it skips', () => {
    expect(g.skipped).toEqual({
      blank: 1,
      comment: 1,
      'no-callee': 1,
      'no-caller': 1,
      'llvm-intrinsic': 2,
      'local-label': 1,
      'source-file': 2,
      'inline-asm': 2,
    });
    expect(g.functions.has('true_func')).toBe(true);
    expect(g.functions.has('llvm.memcpy.p0i8.p0i8.i64')).toBe(false);
    expect(g.lines).toBe(28);
  });

  it('reports garbage by file and line and goes on', () => {
    expect(g.errors.map((e) => [e.file, e.line, e.text])).toEqual([
      ['fixture.callgraph', 20, '(static : for'],
      ['fixture.callgraph', 21, ' VERSION_##lib##_##version #define  :   symbol'],
      ['fixture.callgraph', 22, 'just some words'],
      ['fixture.callgraph', 28, 'x : a b'],
    ]);
    for (const e of g.errors) expect(e.expected).toMatch(/caller|function name/);
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const r = parseSeedCallgraphText(s, 'f');
        expect(r.lines).toBe(s.endsWith('\n') ? s.split('\n').length - 1 : s.split('\n').length);
      }),
    );
  });

  it('handles CRLF and a missing final newline', () => {
    const r = parseSeedCallgraphText('a->b\r\nb->syscall(3)', 'f');
    expect(r.edges).toEqual([['a', 'b']]);
    expect(r.syscallLeaves.get('b')).toEqual(new Set([3]));
    expect(r.errors).toEqual([]);
  });
});

describe('the seed glibc graph', () => {
  const g = load(GLIBC);
  const raw = fs.readFileSync(GLIBC, 'utf8').split('\n');

  it('records every `syscall ( N )` line as a leaf of its caller', () => {
    let checked = 0;
    const missing: string[] = [];
    raw.forEach((line) => {
      const m = /^\s*\*?(\S+)\s*:\s*syscall\s*\(\s*(\d+)\s*\)\s*$/.exec(line);
      if (!m) return;
      const caller = m[1].replace(/^__GI_/, '');
      if (!g.syscallLeaves.get(caller)?.has(Number(m[2]))) missing.push(line);
      checked++;
    });
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(30000);
  });

  it('follows glibc hidden aliases to the function that makes the syscall', () => {
    expect(hasEdge(g, '_IO_file_open', '__open')).toBe(true);
    expect(g.syscallLeaves.get('__open')?.has(2)).toBe(true);
    expect(g.syscallLeaves.get('__libc_read')).toEqual(new Set([0]));
  });

  it('reports only the preprocessor residue as errors', () => {
    expect(g.errors.length).toBeGreaterThan(0);
    expect(g.errors.length).toBeLessThan(30);
    for (const e of g.errors) {
      expect(e.file).toBe(GLIBC);
      expect(raw[e.line - 1]).toBe(e.text);
      // Each is either a C token soup or a `##` macro paste, never a plain `name : name`.
      expect(e.text).not.toMatch(/^\s*[A-Za-z_][\w.]*\s*:\s*[A-Za-z_][\w.]*\s*$/);
    }
    expect(g.errors.find((e) => e.line === 23735)?.text).toBe('(static : for');
  });

  it('streams to the same result as the whole-file read', async () => {
    const r = await readSeedCallgraph(GLIBC);
    if (!r.ok) throw r.error;
    expect(r.value.edges).toEqual(g.edges);
    expect(r.value.syscallLeaves).toEqual(g.syscallLeaves);
    expect(r.value.errors).toEqual(g.errors);
  });
});

describe('the seed musl graph', () => {
  const g = load(MUSL);

  it('has no errors and strips LLVM spelling', () => {
    expect(g.errors).toEqual([]);
    expect(hasEdge(g, '_start_c', '__libc_start_main')).toBe(true);
    expect(g.edges.filter(([a, b]) => a.startsWith('@') || b.startsWith('@') || b.startsWith('llvm.'))).toEqual([]);
  });

  it('keeps syscall(N) leaves and flags syscall(%N) and inline-asm syscall sites', () => {
    expect([...g.syscallLeaves.values()].some((s) => s.has(202))).toBe(true);
    const unresolvedCallers = new Set(g.unresolvedSyscalls.map((u) => u.caller));
    expect(unresolvedCallers.has('__syscall_cp_c')).toBe(true);
    expect(unresolvedCallers.has('syscall')).toBe(true);
    expect(g.unresolvedSyscalls.every((u) => /syscall/.test(u.text))).toBe(true);
    expect(g.indirectCallers.has('_start_c')).toBe(true);
  });
});

describe('the seed -c graphs', () => {
  it.each(OTHERS)('%s parses cleanly', (file) => {
    const g = load(file);
    expect(g.errors).toEqual([]);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('->'));
    const distinct = new Set(lines.filter((l) => !/->@?llvm\./.test(l)).map((l) => l.replace('->@', '->')));
    expect(g.edges.length).toBe(distinct.size);
  });

  it('missing file is an error value', async () => {
    const r = await readSeedCallgraph('/nonexistent/x.callgraph');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe('missing-file');
    const s = readSeedCallgraphSync('/nonexistent/x.callgraph');
    expect(s.ok).toBe(false);
  });
});
