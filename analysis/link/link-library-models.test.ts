import * as fs from 'fs';
import { analyzeBinary } from '../../system/host/analyze-programs';
import { planProgram } from '../../system/host/program-plan';
import { SummarySource } from '../../system/host/summary-source';
import type { ObjectSummary } from '../summary/object-summary';
import { syscallNumber } from '../syscalls/table';
import { compile, straceNames, tempDir } from '../x86/test-fixtures';
import { openedByHashes, resolveProgram, type ProgramInput, type ProgramObject, type ProgramResolution } from './link';

/*
 * The library models (analysis/link/library-models.ts) on this host's glibc: a program that
 * looks up passwd entries only does not get nss_dns's resolver syscalls, one that calls
 * getaddrinfo keeps them, and neither keeps ld.so's chain-load execve. Every syscall strace
 * sees is still reported. The models need glibc 2.34+ (nss_dns inside libc.so.6).
 */

const nr = (name: string) => syscallNumber(name)!;
const RESOLVER = ['sendmmsg', 'recvfrom', 'getpeername', 'setsockopt'];

const PASSWD_ONLY = String.raw`
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  struct passwd *p = getpwuid(getuid());
  struct group *g = getgrgid(getgid());
  printf("%s %s\n", p ? p->pw_name : "?", g ? g->gr_name : "?");
  return 0;
}
`;

// "localhost" is answered by /etc/hosts (nss_files): the run sends nothing.
const RESOLVES = String.raw`
#include <netdb.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  struct addrinfo hints, *res = 0;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  int r = getaddrinfo(argc > 1 ? argv[1] : "localhost", "80", &hints, &res);
  printf("%d\n", r);
  return 0;
}
`;

let dir: string;
const source = new SummarySource();
let builtinNss = false;

/** The program's resolution with the value layer on (as confine runs it) and off; its input as `confine analyze` builds it. */
async function analyze(bin: string): Promise<{ on: ProgramResolution; off: ProgramResolution }> {
  const plan = planProgram('/', bin);
  const order = plan.order!;
  const summaryOf = async (o: { bytes: Uint8Array; rootPath: string }) => (await source.get(o.bytes, o.rootPath)).analysis as ObjectSummary;
  const libraries: ProgramObject[] = [];
  for (const l of order.libraries) libraries.push({ path: l.rootPath, summary: await summaryOf(l) });
  for (const c of order.candidates) libraries.push({ path: c.object.rootPath, summary: await summaryOf(c.object), openedBy: openedByHashes(c.object.rootPath, c.object.info.soname, c.names) });
  const input: ProgramInput = { executable: { path: bin, summary: await summaryOf(plan) }, libraries, ...(order.loader ? { loader: { path: order.loader.rootPath, summary: await summaryOf(order.loader) } } : {}) };
  const on = resolveProgram(input);
  // The same input as `confine analyze`'s.
  expect([...on.syscalls].sort()).toEqual([...(await analyzeBinary('/', bin, source)).resolution!.syscalls].sort());
  return { on, off: resolveProgram({ ...input, valueLayer: false }) };
}

beforeAll(async () => {
  dir = tempDir('confine-libmodels-');
  const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'].find((p) => fs.existsSync(p));
  const s = libc ? (await source.get(fs.readFileSync(libc), libc)).analysis : undefined;
  builtinNss = !!s?.exports.some((e) => e.name.startsWith('_nss_dns_gethostbyname4_r'));
}, 60_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

jest.setTimeout(120_000);

test('a program that only looks up users and groups gets neither nss_dns nor the chain-load execve', async () => {
  if (!builtinNss) return; // glibc before 2.34: nss_dns is libnss_dns.so.2, dlopen'd by name
  const bin = compile(dir, 'passwd.c', PASSWD_ONLY, 'passwd', ['-O2']);
  const { on, off } = await analyze(bin);
  const traced = straceNames([bin], dir);
  expect([...traced].filter((s) => !on.syscalls.has(nr(s)))).toEqual([]);
  expect(RESOLVER.filter((s) => on.syscalls.has(nr(s)))).toEqual([]);
  expect(on.syscalls.has(nr('execve'))).toBe(false);
  // Without the value layer both are there: what the models remove.
  expect(RESOLVER.filter((s) => off.syscalls.has(nr(s)))).toEqual(RESOLVER);
  expect(off.syscalls.has(nr('execve'))).toBe(true);
  expect([...on.syscalls].every((n) => off.syscalls.has(n))).toBe(true);
});

test('a program that calls getaddrinfo keeps the resolver, with a chain through the module table', async () => {
  if (!builtinNss) return;
  const bin = compile(dir, 'resolves.c', RESOLVES, 'resolves', ['-O2']);
  const { on } = await analyze(bin);
  const traced = straceNames([bin], dir);
  expect([...traced].filter((s) => !on.syscalls.has(nr(s)))).toEqual([]);
  expect(RESOLVER.filter((s) => !on.syscalls.has(nr(s)))).toEqual([]);
  const steps = on.provenance.get(nr('sendmmsg'))!.steps;
  expect(steps.some((s) => /^_nss_dns_/.test(s.function) && s.via === 'indirect')).toBe(true);
});

test('ls (getpwuid, getgrgid) loses the nss_dns group and the chain-load execve', async () => {
  if (!builtinNss || !fs.existsSync('/usr/bin/ls')) return;
  const { on, off } = await analyze('/usr/bin/ls');
  expect(RESOLVER.filter((s) => on.syscalls.has(nr(s)))).toEqual([]);
  expect(on.syscalls.has(nr('execve'))).toBe(false);
  expect(RESOLVER.filter((s) => off.syscalls.has(nr(s)))).toEqual(RESOLVER);
  expect(off.syscalls.has(nr('execve'))).toBe(true);
});
