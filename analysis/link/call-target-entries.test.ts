import * as fs from 'fs';
import { analyzeCommand } from '../../cli/analyze-command';
import { parseElf, readDynamicInfo } from '../elf';
import { compile, straceNames, tempDir } from '../x86/test-fixtures';
import { readObject } from '../summary/object-image';
import { decodeObject } from '../summary/decode-object';
import { summarizeObject } from '../summary/object-summary';

/**
 * musl's dynamically linked libc.so makes its cancellable syscalls (accept, read, write,
 * connect, …) through `__syscall_cp_asm`, hand-written code with no symbol and no FDE
 * that sits right after `memset` and takes the number in %rsi (and two arguments on the
 * stack). Its only entry is a direct call from `__syscall_cp_c`: the number must climb
 * from there to each wrapper's constant, as for any wrapper that starts at a symbol.
 */
const MUSL_LIBC = '/usr/lib/x86_64-linux-musl/libc.so';

const PROGRAM = String.raw`
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
int main(void) {
  int p[2];
  char buf[4] = "abc";
  if (pipe(p) == 0) {
    write(p[1], buf, 3);
    read(p[0], buf, 3);
    close(p[0]);
    close(p[1]);
  }
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t n = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  bind(l, (struct sockaddr *)&a, sizeof a);
  listen(l, 1);
  accept(l, 0, 0);
  getsockname(l, (struct sockaddr *)&a, &n);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  connect(c, (struct sockaddr *)&a, sizeof a);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in ua = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t un = sizeof ua;
  bind(u, (struct sockaddr *)&ua, sizeof ua);
  getsockname(u, (struct sockaddr *)&ua, &un);
  sendto(u, buf, 3, 0, (struct sockaddr *)&ua, un);
  recvfrom(u, buf, 3, 0, 0, 0);
  struct timespec ts = { 0, 1000 };
  nanosleep(&ts, 0);
  return 0;
}
`;

/** x86-64 numbers of the cancellable calls the program makes. */
const CANCELLABLE: Record<string, number> = { read: 0, write: 1, close: 3, nanosleep: 35, connect: 42, accept: 43, sendto: 44, recvfrom: 45 };

let dir: string;
let prog: string;
beforeAll(() => {
  dir = tempDir('confine-musl-cp-');
  prog = compile(dir, 'cp.c', PROGRAM, 'cp', ['-O2'], 'musl-gcc');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the fixture is a dynamically linked musl program that makes the cancellable syscalls', () => {
  const buf = new Uint8Array(fs.readFileSync(prog));
  expect(readDynamicInfo(buf, prog).interp).toBe('/lib/ld-musl-x86_64.so.1');
  const made = straceNames([prog], dir);
  for (const name of Object.keys(CANCELLABLE)) expect(made).toContain(name);
});

test("musl libc.so: each cancellable wrapper is credited with its own number, through __syscall_cp_asm's call-target entry", () => {
  const buf = new Uint8Array(fs.readFileSync(MUSL_LIBC));
  const image = readObject(parseElf(buf, MUSL_LIBC), buf);
  const s = summarizeObject(image, decodeObject(image)!.code);
  const numbersOf = (name: string): number[] => {
    const fn = s.functions.find((f) => f.n === name);
    expect(fn).toBeDefined();
    return (fn!.s ?? []).flatMap((x) => x.nr);
  };
  for (const [name, nr] of Object.entries(CANCELLABLE)) {
    if (name === 'nanosleep') continue; // nanosleep → clock_nanosleep → __syscall_cp: credited to clock_nanosleep
    expect({ name, numbers: numbersOf(name) }).toEqual({ name, numbers: expect.arrayContaining([nr]) });
  }
  expect(numbersOf('clock_nanosleep')).toContain(CANCELLABLE.nanosleep);
  // The site in __syscall_cp_asm is no dead end any more.
  expect(s.unresolved.filter((u) => /no predecessor/.test(u.reason))).toEqual([]);
});

async function analyze(argv: string[]): Promise<string> {
  let out = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((x) => ((out += String(x)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    expect(await analyzeCommand(argv)).toBe(0);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  return out;
}

test('a musl-dynamic program: the analysis finds every syscall it makes, with no unresolved site on the cancellation path', async () => {
  const j = JSON.parse(await analyze([prog, '--json']));
  const found = new Set<string>(j.binaries[0].syscalls);
  const missed = [...straceNames([prog], dir)].filter((n) => !found.has(n));
  expect(missed).toEqual([]);
  const unresolved = (await analyze([prog, '-v'])).split('\n').filter((l) => /^ +unresolved /.test(l));
  expect(unresolved.filter((l) => /no predecessor|memset/.test(l))).toEqual([]);
});
