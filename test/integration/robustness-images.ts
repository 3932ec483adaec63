/**
 * Builds the robustness test image with `docker import` from a tar written here:
 * small static musl programs that misbehave in one way each, plus hostile filesystem
 * entries (absolute and escaping symlinks, a symlink loop, device nodes, a FIFO, a
 * large sparse-looking file) and hostile ELF files (test/robustness/hostile-elf.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostileVariants } from '../robustness/hostile-elf';

export const PROGRAMS: Record<string, string> = {
  quick: 'int main(void) { return 0; }',
  crash: 'int main(void) { volatile int *p = 0; return *p; }',
  // A supervisor whose child crashes over and over: a crash loop inside one container.
  crashloop: `#include <unistd.h>
#include <sys/wait.h>
int main(void) { for (;;) { pid_t p = fork(); if (p == 0) { char *a[] = {"/bin/crash", 0}; execv(a[0], a); _exit(127); } waitpid(p, 0, 0); usleep(50000); } }`,
  // Ignores SIGTERM: only SIGKILL ends it, so the duration bound must not depend on it exiting.
  forever: `#include <signal.h>
#include <unistd.h>
int main(void) { signal(SIGTERM, SIG_IGN); signal(SIGINT, SIG_IGN); for (;;) pause(); }`,
  // Prints as fast as it can, forever.
  flood: `#include <string.h>
#include <unistd.h>
int main(void) { static char b[1 << 16]; memset(b, 'A', sizeof b); for (;;) if (write(1, b, sizeof b) < 0) return 1; }`,
};

export interface BuiltImage {
  tag: string;
  cleanup(): void;
}

export function buildRobustnessImage(tag: string): BuiltImage {
  const dir = mkdtempSync(join(tmpdir(), 'confine-robust-img-'));
  for (const [name, src] of Object.entries(PROGRAMS)) {
    writeFileSync(join(dir, `${name}.c`), src + '\n');
    execFileSync('musl-gcc', ['-O1', '-static', '-o', join(dir, name), join(dir, `${name}.c`)]);
  }
  writeFileSync(join(dir, 'seed.c'), '#include <stdio.h>\nint main(int c, char **v) { printf("%s\\n", v[0]); return c; }\n');
  execFileSync('gcc', ['-O1', '-o', join(dir, 'seed'), join(dir, 'seed.c')]);
  const bad = hostileVariants(readFileSync(join(dir, 'seed')));
  for (const [name, bytes] of Object.entries(bad)) writeFileSync(join(dir, `bad-${name}`), bytes);
  const spec = {
    programs: Object.keys(PROGRAMS).map((n) => ({ path: `bin/${n}`, file: join(dir, n) })),
    bad: Object.keys(bad).map((n) => ({ path: `bad/${n}`, file: join(dir, `bad-${n}`) })),
  };
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
  // python's tarfile writes every entry type we need, including ones a host fs would refuse to hold.
  execFileSync('python3', ['-c', TAR_WRITER, join(dir, 'spec.json'), join(dir, 'image.tar')]);
  execFileSync('docker', ['import', join(dir, 'image.tar'), tag], { stdio: 'ignore' });
  return {
    tag,
    cleanup: () => {
      try {
        execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const TAR_WRITER = String.raw`
import io, json, sys, tarfile
spec = json.load(open(sys.argv[1]))
t = tarfile.open(sys.argv[2], 'w', format=tarfile.GNU_FORMAT)
def entry(name, kind=tarfile.REGTYPE, data=b'', mode=0o755, **kw):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.mode = mode
    for k, v in kw.items(): setattr(ti, k, v)
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
for d in ['bin', 'bad', 'lib', 'dev', 'etc', 'tmp', 'links']: entry(d, tarfile.DIRTYPE)
for p in spec['programs'] + spec['bad']: entry(p['path'], data=open(p['file'], 'rb').read())
entry('etc/passwd', data=b'root:x:0:0:root:/root:/bin/quick\n', mode=0o644)
# links that point outside the root, absolutely and by climbing, and a loop
entry('links/abs-passwd', tarfile.SYMTYPE, linkname='/etc/shadow')
entry('links/climb', tarfile.SYMTYPE, linkname='../../../../../../../../etc/shadow')
entry('links/loop-a', tarfile.SYMTYPE, linkname='loop-b')
entry('links/loop-b', tarfile.SYMTYPE, linkname='loop-a')
entry('links/self', tarfile.SYMTYPE, linkname='self')
entry('lib/libc.so.6', tarfile.SYMTYPE, linkname='/../../../../lib/x86_64-linux-gnu/libc.so.6')
entry('lib/ld-linux-x86-64.so.2', tarfile.SYMTYPE, linkname='../links/loop-a')
entry('links/hard-in-root', tarfile.LNKTYPE, linkname='bin/quick')
# entries with .. and an absolute name: the engine's untar keeps them inside the root
entry('../../escaped-by-dotdot', data=b'dotdot')
entry('/absolute-name', data=b'absolute')
# device nodes and a fifo: reading them would hang or touch host devices
entry('dev/zero-node', tarfile.CHRTYPE, devmajor=1, devminor=5, mode=0o666)
entry('dev/sda-node', tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o660)
entry('bin/fifo-exe', tarfile.FIFOTYPE, mode=0o755)
entry('bin/zero-exe', tarfile.CHRTYPE, devmajor=1, devminor=5, mode=0o755)
# a 64 MB file of zeros with an ELF magic: big, cheap to store, analysed as malformed
entry('bad/huge-zeros', data=b'\x7fELF' + b'\0' * (64 << 20))
t.close()
`;
