/**
 * The fuzzer's seeds: real binaries, compiled here (never checked in) plus the host's
 * own libc and loader. Mutating real files reaches far deeper into the parser than
 * random bytes would: every table is valid until one field is not.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Seed {
  name: string;
  bytes: Buffer;
  /** Relative share of the cases: large seeds cost ~0.5 s per full scan, small ones ~5 ms. */
  weight: number;
}

const PROGRAM = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int (*volatile hook)(const void *, const void *) = cmp;
__attribute__((constructor)) static void early(void) { syscall(SYS_getpid); }
int main(int argc, char **argv) {
  int v[3] = {3, argc, 1};
  qsort(v, 3, sizeof v[0], hook);
  printf("%d %s\\n", v[0], argv[0]);
  write(1, "x\\n", 2);
  return 0;
}
`;
const LIB = `
#include <stdio.h>
#include <unistd.h>
int lib_value(int x) { return puts("v") + x; }
int lib_write(void) { return (int)write(2, "e", 1); }
`;
const GO = `package main
import ("os"; "syscall")
func main() { syscall.Getpid(); os.Stdout.WriteString("hi\\n") }
`;

export const HOST_LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
export const HOST_LDSO = '/lib64/ld-linux-x86-64.so.2';

/** Compiles the seeds into a temp dir; `large` adds the host libc, ld.so, a static glibc program and a Go program. */
export function buildCorpus(opts: { large?: boolean } = {}): { seeds: Seed[]; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'confine-fuzz-'));
  const p = (n: string) => join(dir, n);
  const sh = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  writeFileSync(p('prog.c'), PROGRAM);
  writeFileSync(p('lib.c'), LIB);
  sh('gcc', ['-O1', '-o', p('dyn'), p('prog.c')]);
  sh('gcc', ['-O1', '-no-pie', '-fcf-protection=full', '-Wl,-z,ibtplt', '-o', p('nopie-ibt'), p('prog.c')]);
  sh('gcc', ['-O1', '-shared', '-fPIC', '-Wl,-soname,libfz.so.1', '-Wl,-rpath,$ORIGIN/lib', '-o', p('libfz.so'), p('lib.c')]);
  sh('musl-gcc', ['-O1', '-static', '-o', p('musl-static'), p('prog.c')]);
  sh('strip', ['-o', p('dyn-stripped'), p('dyn')]);
  const seeds: Seed[] = [
    { name: 'gcc-pie', bytes: readFileSync(p('dyn')), weight: 6 },
    { name: 'gcc-nopie-ibt', bytes: readFileSync(p('nopie-ibt')), weight: 4 },
    { name: 'gcc-pie-stripped', bytes: readFileSync(p('dyn-stripped')), weight: 4 },
    { name: 'gcc-shared', bytes: readFileSync(p('libfz.so')), weight: 5 },
    { name: 'musl-static', bytes: readFileSync(p('musl-static')), weight: 5 },
    // Linux runs programs without section headers; the reader rebuilds them from the
    // program headers and the dynamic segment (analysis/elf/elf-file.ts), so that path is fuzzed too.
    { name: 'gcc-pie-sstripped', bytes: sstrip(readFileSync(p('dyn'))), weight: 4 },
    { name: 'musl-static-sstripped', bytes: sstrip(readFileSync(p('musl-static'))), weight: 3 },
    { name: 'gcc-pie-bad-shoff', bytes: badShoff(readFileSync(p('dyn'))), weight: 2 },
  ];
  const muslLibc = ['/usr/lib/musl/lib/libc.so', '/usr/lib/x86_64-linux-musl/libc.so'].find(existsSync);
  if (muslLibc) seeds.push({ name: 'musl-libc.so', bytes: readFileSync(muslLibc), weight: 1 });
  if (opts.large) {
    sh('gcc', ['-O1', '-static', '-o', p('glibc-static'), p('prog.c')]);
    seeds.push({ name: 'glibc-static', bytes: readFileSync(p('glibc-static')), weight: 0.3 });
    seeds.push({ name: 'host-libc.so.6', bytes: readFileSync(HOST_LIBC), weight: 0.3 });
    seeds.push({ name: 'host-ld.so', bytes: readFileSync(HOST_LDSO), weight: 0.6 });
    try {
      writeFileSync(p('main.go'), GO);
      writeFileSync(p('go.mod'), 'module fz\ngo 1.19\n');
      sh('go', ['build', '-ldflags=-s -w', '-o', p('go-prog'), '.'], { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOCACHE: p('gocache'), HOME: dir });
      seeds.push({ name: 'go-stripped', bytes: readFileSync(p('go-prog')), weight: 0.3 });
    } catch {
      /* no Go toolchain: the Go path is fuzzed by analysis/golang/ tests only */
    }
  }
  return { seeds, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What sstrip does: no section header table, the file cut after the last byte a PT_LOAD maps. */
export function sstrip(elf: Buffer): Buffer {
  const b = Buffer.from(elf);
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  let end = phoff + phentsize * phnum;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    end = Math.max(end, Number(b.readBigUInt64LE(o + 8)) + Number(b.readBigUInt64LE(o + 32)));
  }
  b.writeBigUInt64LE(0n, 40); // e_shoff
  b.writeUInt16LE(0, 60); // e_shnum
  b.writeUInt16LE(0, 62); // e_shstrndx
  return b.subarray(0, Math.min(end, b.length));
}

/** A section header table offset past the end of the file: the loader never looks. */
export function badShoff(elf: Buffer): Buffer {
  const b = Buffer.from(elf);
  b.writeBigUInt64LE(BigInt(b.length) * 16n + 0x1000n, 40);
  return b;
}
