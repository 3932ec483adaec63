import * as fs from 'fs';
import * as path from 'path';
import { analyzeBinary } from '../../system/host/analyze-programs';
import { SummarySource } from '../../system/host/summary-source';
import { syscallNumber } from '../syscalls/table';
import { sh, tempDir } from '../x86/test-fixtures';
import type { ProgramResolution } from './link';

// analysis/x86/idioms.ts: a syscall whose number a function loads from a structure its caller
// passes by address (glibc's __nptl_setxid and its signal handler). The fixture has both
// forms: run_cmd loads it through its parameter, the handler through the global run_cmd
// stored the parameter in. cmd_getppid stores a constant, cmd_any its argument.
const FIXTURE = String.raw`
#include <stdio.h>
#include <stdlib.h>
struct cmd { int nr; long id[3]; volatile int cntr; };
static struct cmd *current;
__attribute__((noinline)) static long run_cmd(struct cmd *c) {
  current = c;
  c->cntr = 0;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(c->nr), "D"(c->id[0]) : "rcx", "r11", "memory");
  return ret;
}
__attribute__((noinline)) static void handler(int sig) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(current->nr), "D"(current->id[0]) : "rcx", "r11", "memory");
}
void (*volatile hp)(int) = handler;
__attribute__((noinline)) long cmd_getppid(void) { struct cmd c; c.nr = 110; c.id[0] = 0; return run_cmd(&c); }
__attribute__((noinline)) long cmd_any(int n) { struct cmd c; c.nr = n; c.id[0] = 0; return run_cmd(&c); }
int main(int argc, char **argv) {
  long r = cmd_getppid();
  if (CALL_ANY && argc > 2) r += cmd_any(atoi(argv[1]));
  printf("%ld\n", r);
  return 0;
}
`;

// glibc's setuid/setgid fill a struct xid_command and call __nptl_setxid(&cmd) when the
// process may have threads; the broadcast's two syscalls read the number from it.
const SETID = (call: string) => String.raw`
#include <stdio.h>
#include <unistd.h>
int main(void) { int r = ${call}; printf("%d\n", r); return 0; }
`;

jest.setTimeout(120_000);

const nr = (name: string) => syscallNumber(name)!;
let dir: string;
const source = new SummarySource();

async function resolve(name: string, code: string, flags: string[], libs: string[] = []): Promise<ProgramResolution> {
  const bin = path.join(dir, name);
  fs.writeFileSync(`${bin}.c`, code);
  sh('gcc', ['-O2', ...flags, '-o', bin, `${bin}.c`, ...libs]);
  const a = await analyzeBinary('/', bin, source);
  if (!a.resolution) throw new Error(`${bin}: ${a.error}`);
  return a.resolution;
}

beforeAll(() => {
  dir = tempDir('confine-idioms-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('number in the caller structure', () => {
  test('a reached caller storing a constant: both sites resolve to it, nothing stays unknown', async () => {
    const res = await resolve('only-const', FIXTURE, ['-DCALL_ANY=0']);
    expect(res.syscalls.has(nr('getppid'))).toBe(true);
    expect(res.unresolvedSites).toEqual([]);
  });

  test('a reached caller storing an unknown value leaves both sites unresolved for that caller, with why', async () => {
    const res = await resolve('with-any', FIXTURE, ['-DCALL_ANY=1']);
    expect(res.syscalls.has(nr('getppid'))).toBe(true);
    const mine = res.unresolvedSites.filter((u) => u.object.endsWith('/with-any'));
    // run_cmd's site and the handler's: each unknown because cmd_any is reached.
    expect(mine).toHaveLength(2);
    for (const u of mine) {
      expect(u.function).toBe('cmd_any');
      expect(u.reason).toMatch(/number loaded from the structure cmd_any passes to run_cmd/);
    }
  });
});

describe.each([['dynamic', []], ['static', ['-static']]] as [string, string[]][])('glibc setxid broadcast, %s', (kind, flags) => {
  test('setuid reached: setuid in the profile, setgid not, and no unresolved site', async () => {
    const res = await resolve(`setuid-${kind}`, SETID('setuid(getuid())'), flags);
    expect(res.syscalls.has(nr('setuid'))).toBe(true);
    expect(res.syscalls.has(nr('setgid'))).toBe(false);
    expect(res.syscalls.has(nr('setresuid'))).toBe(false);
    expect(res.unresolvedSites).toEqual([]);
  });

  test('setgid reached: setgid in the profile, setuid not', async () => {
    const res = await resolve(`setgid-${kind}`, SETID('setgid(getgid())'), flags);
    expect(res.syscalls.has(nr('setgid'))).toBe(true);
    expect(res.syscalls.has(nr('setuid'))).toBe(false);
    expect(res.unresolvedSites).toEqual([]);
  });
});

// libcap 2.66 makes capset/prctl/setuid/… through syscall() from _cap_syscall3/6, which it
// calls only through its private table of function pointers (`multithread`,
// `singlethread`), each call passing a constant number. Declared here so the test needs
// libcap2 (the runtime library), not libcap-dev.
const CAP = String.raw`
#include <stdio.h>
typedef struct _cap_struct *cap_t;
extern cap_t cap_get_proc(void);
extern int cap_set_proc(cap_t);
int main(void) { cap_t c = cap_get_proc(); printf("%d\n", cap_set_proc(c)); return 0; }
`;

describe('libcap function table', () => {
  test('capset through the table is resolved, what is not reached is not allowed, nothing stays unknown', async () => {
    const res = await resolve('libcap', CAP, [], ['-l:libcap.so.2']);
    expect(res.syscalls.has(nr('capset'))).toBe(true);
    // cap_launch's chroot goes through the same table; cap_launch is not reached.
    expect(res.syscalls.has(nr('chroot'))).toBe(false);
    expect(res.unresolvedSites).toEqual([]);
  });
});
