/**
 * Test-only helper: compiles small ELF fixtures into a temp dir (binaries are never
 * checked in) and wraps readelf/objdump, which the tests use as the oracle.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROGRAM = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
extern int foo_value(int);
static int counter;
__attribute__((constructor)) static void init_me(void) { counter = 1; }
__attribute__((destructor)) static void fini_me(void) { counter = 2; }
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int (*volatile hook)(const void *, const void *) = cmp;
int main(int argc, char **argv) {
  int v[4] = {3, 1, argc, 2};
  char buf[64];
  qsort(v, 4, sizeof v[0], hook);
  memcpy(buf, argv[0], strlen(argv[0]) < 63 ? strlen(argv[0]) + 1 : 1);
  printf("%d %s %d\\n", v[0], buf, FOO_CALL);
  write(1, "x\\n", 2);
  return counter;
}
`;

const LIB = `
#include <stdio.h>
#include <math.h>
int foo_value(int x) { return (int)sqrt((double)x) + puts("foo"); }
int foo_other(int x) { return x * 3; }
`;

export interface Fixtures {
  dir: string;
  pie: string;
  nopie: string;
  static: string;
  staticPie: string;
  musl: string;
  lib: string; // libfoo.so.1 with RUNPATH $ORIGIN/lib and a soname
  libRpath: string; // same, with DT_RPATH
  withLib: string; // PIE executable needing libfoo.so.1
  pieStripped: string;
  libStripped: string;
  staticStripped: string;
  cleanup(): void;
}

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function buildFixtures(): Fixtures {
  const dir = mkdtempSync(join(tmpdir(), 'confine-elf-'));
  const p = (n: string) => join(dir, n);
  writeFileSync(p('prog.c'), PROGRAM);
  writeFileSync(p('lib.c'), LIB);
  const plain = ['-O1', '-DFOO_CALL=0', '-o'];
  sh('gcc', [...plain, p('pie'), p('prog.c')]);
  sh('gcc', ['-no-pie', ...plain, p('nopie'), p('prog.c')]);
  sh('gcc', ['-static', ...plain, p('static'), p('prog.c')]);
  sh('gcc', ['-static-pie', ...plain, p('static-pie'), p('prog.c')]);
  sh('musl-gcc', ['-static', ...plain, p('musl'), p('prog.c')]);
  sh('gcc', ['-shared', '-fPIC', '-O1', '-Wl,-soname,libfoo.so.1', '-Wl,--enable-new-dtags', "-Wl,-rpath,$ORIGIN/lib:/opt/x", '-o', p('libfoo.so.1'), p('lib.c'), '-lm']);
  sh('gcc', ['-shared', '-fPIC', '-O1', '-Wl,-soname,libfoo.so.1', '-Wl,--disable-new-dtags', "-Wl,-rpath,$ORIGIN/lib", '-o', p('libfoo-rpath.so'), p('lib.c'), '-lm']);
  sh('gcc', ['-O1', '-DFOO_CALL=foo_value(argc)', '-fcf-protection=full', '-Wl,-z,ibtplt', '-o', p('withlib'), p('prog.c'), p('libfoo.so.1'), "-Wl,-rpath,$ORIGIN"]);
  sh('strip', ['-o', p('pie-stripped'), p('pie')]);
  sh('strip', ['-o', p('libfoo-stripped.so'), p('libfoo.so.1')]);
  sh('strip', ['-o', p('static-stripped'), p('static')]);
  return {
    dir, pie: p('pie'), nopie: p('nopie'), static: p('static'), staticPie: p('static-pie'), musl: p('musl'),
    lib: p('libfoo.so.1'), libRpath: p('libfoo-rpath.so'), withLib: p('withlib'),
    pieStripped: p('pie-stripped'), libStripped: p('libfoo-stripped.so'), staticStripped: p('static-stripped'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const HOST_LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
export const HOST_LDSO = '/lib64/ld-linux-x86-64.so.2';

/** readelf exits 1 on harmless warnings (e.g. libc's separate debug info is absent); its stdout is still whole. */
export function readelf(args: string[], file: string): string {
  try {
    return sh('readelf', ['-W', ...args, file]);
  } catch (e) {
    const out = (e as { stdout?: string }).stdout;
    if (typeof out === 'string' && out.length > 0) return out;
    throw e;
  }
}
export function objdump(args: string[], file: string): string {
  return sh('objdump', [...args, file]);
}

/** readelf -d, as [tag name, value text] pairs: e.g. ['NEEDED', 'Shared library: [libc.so.6]']. */
export function readelfDynamic(file: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of readelf(['-d'], file).split('\n')) {
    const m = /^\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$/.exec(line);
    if (m) out.push([m[1], m[2].trim()]);
  }
  return out;
}

export function bracketed(s: string): string {
  const m = /\[(.*)\]/.exec(s);
  return m ? m[1] : '';
}
