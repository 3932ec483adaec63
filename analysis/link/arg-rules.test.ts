import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { analyzeBinary } from '../../system/host/analyze-programs';
import { SummarySource } from '../../system/host/summary-source';
import { compile, tempDir } from '../x86/test-fixtures';
import type { ProgramResolution } from './link';

// socket(AF_INET) in main; socket(AF_UNIX) through a wrapper of our own (the domain
// is its parameter, a constant at its only call); socketpair(AF_UNIX).
const FIXED = String.raw`
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
__attribute__((noinline)) static int open_sock(int domain) { return socket(domain, SOCK_STREAM, 0); }
int main(int argc, char **argv) {
  int a = socket(AF_INET, SOCK_DGRAM, 0);
  int b = open_sock(AF_UNIX);
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  return (a < 0) + (b < 0) + argc;
}
`;

// The domain comes from the command line: no rule is possible.
const FROM_ARGV = String.raw`
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  return socket(argc > 1 ? atoi(argv[1]) : AF_INET, SOCK_STREAM, 0) < 0;
}
`;

// The wrapper is also called through a pointer with a family from argv.
const THROUGH_POINTER = String.raw`
#include <stdlib.h>
#include <sys/socket.h>
__attribute__((noinline)) int open_sock(int domain) { return socket(domain, SOCK_STREAM, 0); }
int (*volatile fp)(int) = open_sock;
int main(int argc, char **argv) {
  int a = open_sock(AF_INET);
  return a + fp(argc > 1 ? atoi(argv[1]) : AF_UNIX);
}
`;

// ioctl requests: a constant at our call (FIONBIO), and libc's own in isatty (TCGETS, or
// TIOCGWINSZ in musl); a request from argv.
const IOCTL = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = 1;
  ioctl(0, FIONBIO, &n);
  if (argc > 2) ioctl(0, strtoul(argv[2], 0, 0), &n);
  return isatty(1) + (argc > 1 ? 0 : 1);
}
`;

const IOCTL_FIXED = IOCTL.replace(/if \(argc > 2\)[^\n]*\n/, '');

// tcsetattr makes ioctl(fd, TCSETS + optional_actions): the constant TCSADRAIN is added
// to in libc (glibc: lea 0x5402(%r9),%esi) after the program passes it. The pty comes
// from posix_openpt/unlockpt/ptsname, whose requests are libc's own constants.
const TTY = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>
int main(void) {
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m)) return 1;
  int s = open(ptsname(m), O_RDWR | O_NOCTTY);
  struct termios t;
  if (s < 0 || tcgetattr(s, &t)) return 2;
  return tcsetattr(s, TCSADRAIN, &t) ? 3 : 0;
}
`;

const SOCKET = 41;
const SOCKETPAIR = 53;
const AF_UNIX = 1;
const AF_INET = 2;

const VARIANTS: [string, string[], string][] = [
  ['dynamic', ['-O2'], 'gcc'],
  ['static', ['-O2', '-static'], 'gcc'],
  ['musl-static', ['-O2', '-static'], 'musl-gcc'],
];

let dir: string;
const source = new SummarySource();
const res: Record<string, ProgramResolution> = {};
const bins: Record<string, string> = {};

beforeAll(async () => {
  dir = tempDir('confine-args-');
  for (const [name, flags, cc] of VARIANTS) {
    for (const [prog, text] of [['fixed', FIXED], ['argv', FROM_ARGV], ['pointer', THROUGH_POINTER], ['ioctl', IOCTL], ['ioctl-fixed', IOCTL_FIXED], ['tty', TTY]]) {
      const bin = compile(dir, `${prog}-${name}.c`, text, `${prog}-${name}`, flags, cc);
      const a = await analyzeBinary('/', bin, source);
      if (!a.resolution) throw new Error(`${bin}: ${a.error}`);
      res[`${prog}-${name}`] = a.resolution;
      bins[`${prog}-${name}`] = bin;
    }
  }
}, 180_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The families the program really asked for, from strace. */
function tracedFamilies(bin: string, args: string[] = []): Set<number> {
  return traced(bin, args, 'socket,socketpair', /\b(?:socket|socketpair)\((0x[0-9a-f]+|\d+)/);
}

/** The argument values strace saw for some syscalls (printed raw: numbers, not names). */
function traced(bin: string, args: string[], calls: string, re: RegExp): Set<number> {
  const log = path.join(dir, `strace-${path.basename(bin)}-${calls}-${args.join('_')}.log`);
  try {
    execFileSync('strace', ['-f', '-qq', '-e', `trace=${calls}`, '-e', `raw=${calls}`, '-o', log, bin, ...args], { stdio: 'ignore' });
  } catch {
    // the exit status does not matter
  }
  const out = new Set<number>();
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const m = re.exec(line);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

describe.each(VARIANTS.map((v) => v[0]))('%s', (name) => {
  test('constant families, directly and through a wrapper parameter, become the allowed values', () => {
    const r = res[`fixed-${name}`];
    const sock = r.argRules.get(SOCKET);
    expect(sock).toBeDefined();
    expect(sock!.unconditional).toBeUndefined();
    expect(sock!.arg).toBe(0);
    expect(sock!.values).toEqual(expect.arrayContaining([AF_INET, AF_UNIX]));
    // Nothing the program cannot ask for: no packet or netlink sockets.
    expect(sock!.values).not.toContain(17);
    expect(sock!.values).not.toContain(16);
    const pair = r.argRules.get(SOCKETPAIR);
    expect(pair?.unconditional).toBeUndefined();
    expect(pair?.values).toEqual([AF_UNIX]);
  });

  test('every family the program uses at run time is allowed', () => {
    const r = res[`fixed-${name}`];
    const traced = tracedFamilies(bins[`fixed-${name}`]);
    expect(traced.size).toBeGreaterThan(0);
    for (const f of traced) expect(r.argRules.get(SOCKET)!.values.concat(r.argRules.get(SOCKETPAIR)!.values)).toContain(f);
  });

  test('a family from argv leaves socket unconditional, naming the site', () => {
    const r = res[`argv-${name}`];
    const sock = r.argRules.get(SOCKET);
    expect(sock).toBeDefined();
    expect(sock!.unconditional).toBeDefined();
    expect(sock!.unconditional!.reason.length).toBeGreaterThan(0);
    expect(sock!.unconditional!.object).toBe(bins[`argv-${name}`]);
    // The family really is whatever the caller says.
    expect(tracedFamilies(bins[`argv-${name}`], ['10'])).toEqual(new Set([10]));
  });
});

test.each(VARIANTS.map((v) => v[0]))('%s: a wrapper also called through a pointer leaves socket unconditional', (name) => {
  const sock = res[`pointer-${name}`].argRules.get(SOCKET);
  expect(sock?.unconditional).toBeDefined();
  expect(sock!.unconditional!.reason).toMatch(/address-taken|indirect-call target/);
  expect(tracedFamilies(bins[`pointer-${name}`], ['10'])).toEqual(new Set([2, 10]));
});

test.each(VARIANTS.map((v) => v[0]))('%s: ioctl requests', (name) => {
  const IOCTL_NR = 16;
  const FIONBIO = 0x5421;
  const r = res[`ioctl-${name}`].argRules.get(IOCTL_NR);
  // The request from argv leaves ioctl unconditional.
  expect(r?.unconditional).toBeDefined();
  expect(traced(bins[`ioctl-${name}`], ['x', '0x5410'], 'ioctl', /ioctl\(\w+, (0x[0-9a-f]+)/)).toContain(0x5410);
  // Without that call the requests are the constants, ours and libc's own.
  const fixed = res[`ioctl-fixed-${name}`].argRules.get(IOCTL_NR);
  expect(fixed?.unconditional).toBeUndefined();
  expect(fixed!.values).toContain(FIONBIO);
  const seen = traced(bins[`ioctl-fixed-${name}`], [], 'ioctl', /ioctl\(\w+, (0x[0-9a-f]+)/);
  expect(seen).toContain(FIONBIO);
  expect(seen.size).toBeGreaterThan(1); // isatty's request too
  for (const v of seen) expect(fixed!.values).toContain(v);
});

test('socket() also found by dlsym (its name in the program) stays unconditional', async () => {
  const src = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int a = socket(AF_INET, SOCK_STREAM, 0);
  int (*f)(int, int, int) = (int (*)(int, int, int))dlsym(RTLD_DEFAULT, "socket");
  return a + f(argc > 1 ? atoi(argv[1]) : AF_UNIX, SOCK_STREAM, 0);
}
`;
  const bin = compile(dir, 'dlsym.c', src, 'dlsym', ['-O2'], 'gcc');
  const a = await analyzeBinary('/', bin, source);
  const sock = a.resolution!.argRules.get(SOCKET)!;
  expect(sock.unconditional?.reason).toMatch(/looked up by name/);
  expect(tracedFamilies(bin, ['10'])).toEqual(new Set([AF_INET, 10]));
}, 60_000);

test.each(VARIANTS.map((v) => v[0]))('%s: tcsetattr(TCSADRAIN) allows TCSETSW, with arithmetic followed into the caller', (name) => {
  const r = res[`tty-${name}`].argRules.get(16);
  expect(r?.unconditional).toBeUndefined();
  expect(r!.values).toEqual(expect.arrayContaining([0x5401, 0x5403]));
  expect(r!.values).not.toContain(0x5402); // TCSANOW's TCSETS is not asked for
  const seen = traced(bins[`tty-${name}`], [], 'ioctl', /ioctl\(\w+, (0x[0-9a-f]+)/);
  expect(seen).toContain(0x5403);
  for (const v of seen) expect(r!.values).toContain(v);
});

test('a syscall the program does not reach gets no rule', () => {
  expect(res['argv-dynamic'].argRules.has(SOCKETPAIR)).toBe(false);
});
