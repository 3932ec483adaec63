import { nameHash } from '../summary/name-hashes';
import type { ObjectSummary } from '../summary/object-summary';
import { syscallNumber } from '../syscalls/table';
import { resolveProgram, type ProgramInput } from './link';
import { CELL_FN, CELL_NAME } from './program-objects';

/*
 * The library models (analysis/link/library-models.ts) on hand-built summaries shaped
 * like glibc 2.36's: libc.so.6 with its built-in nss_dns and nss_files functions, the
 * leaf table builders that store their addresses, the by-name lookup and the callers
 * that name what they look up; ld.so with dl_main's chain-load execve.
 */

const nr = (name: string) => syscallNumber(name)!;
const empty = (over: Partial<ObjectSummary>): ObjectSummary => ({
  functions: [], imports: [], exports: [], inits: [], addressTaken: [], importsAddressTaken: [], paramWrappers: [], importArgs: [], unresolved: [], regions: [],
  stats: { instructions: 0, syscallSites: 0, unknownTargets: 0 }, ...over,
});

// libc's functions, by index.
const LOOKUP = 0; // __nss_lookup_function: calls through the module's array (indirect call)
const GET_FUNCTION = 1; // __nss_module_get_function: loads the module (calls the builders' caller), refers to the name array
const MODULE_LOAD = 2; // module_load_builtin's caller: hands the builders on (takes them)
const DNS_TABLE = 3; // __nss_dns_functions: the leaf builder
const FILES_TABLE = 4; // __nss_files_functions
const DNS_GAI = 5; // _nss_dns_gethostbyname4_r → sendmmsg
const DNS_CANON = 6; // _nss_dns_getcanonname_r → recvfrom
const FILES_PW = 7; // _nss_files_getpwuid_r → openat
const GETADDRINFO = 8; // names "gethostbyname4_r" and "getcanonname_r"
const GETPWUID = 9; // names "getpwuid_r"
const STACK_CHK = 10;
const FGETPWENT = 11; // passes _nss_files_parse_pwent on as a callback: not a table
const PARSE_PW = 12; // _nss_files_parse_pwent → getppid (stands for anything)
const FGETENT = 13; // calls the callback it is given

const h = (s: string) => nameHash(s);

/** A libc like glibc 2.36's nss core; `over` changes a function (by index) or the whole summary. */
function libc(fnOver: Record<number, object> = {}, over: Partial<ObjectSummary> = {}): ObjectSummary {
  const functions: ObjectSummary['functions'] = [
    { a: 0x100, n: '__nss_lookup_function', e: [GET_FUNCTION], ic: true },
    { a: 0x200, n: '__nss_module_get_function', e: [MODULE_LOAD], d: [0], h: [h('endaliasent')] },
    { a: 0x300, t: [DNS_TABLE, FILES_TABLE] },
    { a: 0x400, e: [STACK_CHK], t: [DNS_GAI, DNS_CANON] },
    { a: 0x500, t: [FILES_PW, PARSE_PW] },
    { a: 0x600, n: '_nss_dns_gethostbyname4_r', s: [{ at: 0x610, nr: [nr('sendmmsg')] }] },
    { a: 0x700, n: '_nss_dns_getcanonname_r', s: [{ at: 0x710, nr: [nr('recvfrom')] }] },
    { a: 0x800, n: '_nss_files_getpwuid_r', s: [{ at: 0x810, nr: [nr('openat')] }] },
    { a: 0x900, n: 'getaddrinfo', e: [LOOKUP], h: [h('gethostbyname4_r'), h('getcanonname_r')] },
    { a: 0xa00, n: 'getpwuid_r', e: [LOOKUP], h: [h('getpwuid_r')] },
    { a: 0xb00, n: '__stack_chk_fail', s: [{ at: 0xb10, nr: [nr('exit_group')] }] },
    { a: 0xc00, n: 'fgetpwent_r', e: [FGETENT], t: [PARSE_PW] },
    { a: 0xd00, n: '_nss_files_parse_pwent', s: [{ at: 0xd10, nr: [nr('getppid')] }] },
    { a: 0xe00, n: '__nss_fgetent_r', ic: true },
  ].map((f, i) => ({ ...f, ...(fnOver[i] ?? {}) }));
  const exports = ['__nss_lookup_function', '_nss_dns_gethostbyname4_r', '_nss_dns_getcanonname_r', '_nss_files_getpwuid_r', 'getaddrinfo', 'getpwuid_r', '__stack_chk_fail', 'fgetpwent_r', '_nss_files_parse_pwent']
    .map((name) => ({ name: `${name}@@GLIBC_PRIVATE`, fn: functions.findIndex((f) => f.n === name) }));
  // nss_function_name_array: every name, live once the lookup is reached (its strings as cells here).
  const regions = [{ a: 0x5000, c: ['endaliasent', 'getcanonname_r', 'gethostbyname4_r', 'getpwuid_r'].map((s, i): [number, number, number] => [0x5000 + 19 * i, CELL_NAME, h(s)]) }];
  return empty({ functions, exports, regions, ...over });
}

/** A program whose main calls the given libc exports. */
function program(calls: string[], lib = libc(), extra: Partial<ProgramInput> = {}): ProgramInput {
  const exe = empty({ functions: [{ a: 0, n: '_start', e: [1] }, { a: 16, n: 'main', i: calls.map((_, i) => i) }], imports: calls, entry: 0 });
  return { executable: { path: '/exe', summary: exe }, libraries: [{ path: '/libc.so.6', summary: lib }], ...extra };
}

const has = (input: ProgramInput, name: string) => resolveProgram(input).syscalls.has(nr(name));

describe('nss built-in modules: a module function is a target only once reached code names it', () => {
  test('a program that only looks up passwd entries does not get nss_dns', () => {
    const p = program(['getpwuid_r']);
    expect(has(p, 'openat')).toBe(true);
    expect(has(p, 'sendmmsg')).toBe(false);
    expect(has(p, 'recvfrom')).toBe(false);
  });

  test('getaddrinfo names gethostbyname4_r and getcanonname_r: both dns functions are kept, with a chain through the table', () => {
    const p = program(['getaddrinfo']);
    const r = resolveProgram(p);
    expect(r.syscalls.has(nr('sendmmsg'))).toBe(true);
    expect(r.syscalls.has(nr('recvfrom'))).toBe(true);
    // Named, but by no reached code: nss_files' getpwuid_r is not a target.
    expect(r.syscalls.has(nr('openat'))).toBe(false);
    const step = r.provenance.get(nr('sendmmsg'))!.steps.find((s) => s.function === '_nss_dns_gethostbyname4_r')!;
    expect(step.via).toBe('indirect');
    expect(step.takenBy).toMatch(/materialised by \/libc\.so\.6:0x400/);
  });

  test('a name the walk meets before the table is taken releases it as well as one it meets after', () => {
    // getaddrinfo reached first (main calls it first), then the lookup; and the other order.
    expect(has(program(['getaddrinfo', 'getpwuid_r']), 'sendmmsg')).toBe(true);
    expect(has(program(['getpwuid_r', 'getaddrinfo']), 'sendmmsg')).toBe(true);
  });

  test('live data naming a function does not release it: the name array holds every name', () => {
    // The name array is live (the lookup refers to it) and holds "gethostbyname4_r".
    const p = program(['getpwuid_r']);
    const r = resolveProgram(p);
    expect(r.perObject[1].reachedFunctions).toBeGreaterThan(0);
    expect(r.syscalls.has(nr('sendmmsg'))).toBe(false);
    // A function that only refers to the array's start releases the first name only (endaliasent), not the others.
    expect(r.syscalls.has(nr('recvfrom'))).toBe(false);
  });

  test('without the value layer, every function the table holds is a target', () => {
    const p = program(['getpwuid_r'], libc(), { valueLayer: false });
    expect(has(p, 'sendmmsg')).toBe(true);
    expect(has(p, 'recvfrom')).toBe(true);
  });

  test('a callback passed on (one parse function) is no table: kept whatever is named', () => {
    expect(has(program(['fgetpwent_r']), 'getppid')).toBe(true);
    // Even by a leaf that stores it (into a struct someone else calls through): one function is no module table.
    expect(has(program(['fgetpwent_r', 'getpwuid_r'], libc({ [FGETPWENT]: { e: undefined } })), 'getppid')).toBe(true);
  });

  test('a builder that is not a leaf (calls something, or makes an indirect call) is not a table', () => {
    expect(has(program(['getpwuid_r'], libc({ [DNS_TABLE]: { e: [GETPWUID] } })), 'sendmmsg')).toBe(true);
    expect(has(program(['getpwuid_r'], libc({ [DNS_TABLE]: { ic: true } })), 'sendmmsg')).toBe(true);
    // Or takes something besides module functions.
    expect(has(program(['getpwuid_r'], libc({ [DNS_TABLE]: { t: [DNS_GAI, DNS_CANON, GETPWUID] } })), 'sendmmsg')).toBe(true);
  });

  test('an object without the by-name lookup (glibc before 2.34: libnss_dns.so.2 on its own) is not modelled', () => {
    const lib = libc();
    const without = { ...lib, exports: lib.exports.filter((e) => !e.name.startsWith('__nss_lookup_function')) };
    expect(has(program(['getpwuid_r'], without), 'sendmmsg')).toBe(true);
  });

  test('a lookup name in another object\'s reached code counts (libnss_compat asks for "getcanonname_r" here)', () => {
    const compat = empty({ functions: [{ a: 0, n: 'compat_init', h: [h('getcanonname_r')] }], exports: [{ name: 'compat_init', fn: 0 }] });
    const p = program(['getpwuid_r', 'compat_init']);
    p.libraries.push({ path: '/libnss_compat.so.2', summary: compat });
    expect(has(p, 'recvfrom')).toBe(true);
    expect(has(p, 'sendmmsg')).toBe(false);
  });
});

describe("ld.so's chain-load execve", () => {
  const DL_MAIN = 1;
  const loader = (over: Partial<ObjectSummary> = {}, fnOver: object = {}): ObjectSummary =>
    empty({
      functions: [
        { a: 0x1000, n: '_start', e: [DL_MAIN] },
        { a: 0x2000, s: [{ at: 0x2100, nr: [nr('execve')] }, { at: 0x2200, nr: [nr('mmap')] }], ...fnOver },
      ],
      entry: 0,
      regions: [{ a: 0x9000, c: [[0x9000, CELL_FN, DL_MAIN]] }],
      dataExports: [{ name: '_rtld_global_ro@@GLIBC_PRIVATE', r: 0 }],
      ...over,
    });
  const withLoader = (l: ObjectSummary, extra: Partial<ProgramInput> = {}): ProgramInput => program([], libc(), { loader: { path: '/ld.so', summary: l }, ...extra });

  test('dropped when ld.so is the PT_INTERP of another program; its other syscalls stay', () => {
    const r = resolveProgram(withLoader(loader()));
    expect(r.syscalls.has(nr('mmap'))).toBe(true);
    expect(r.syscalls.has(nr('execve'))).toBe(false);
  });

  test('kept without the value layer', () => {
    expect(resolveProgram(withLoader(loader(), { valueLayer: false })).syscalls.has(nr('execve'))).toBe(true);
  });

  test('kept when ld.so is the program itself (run as a command)', () => {
    const l = loader();
    expect(resolveProgram({ executable: { path: '/ld.so', summary: l }, libraries: [], loader: { path: '/ld.so', summary: l } }).syscalls.has(nr('execve'))).toBe(true);
    expect(resolveProgram({ executable: { path: '/ld.so', summary: l }, libraries: [] }).syscalls.has(nr('execve'))).toBe(true);
  });

  test('kept when the loader is also libc (musl: the program\'s execve binds to it) or is not glibc\'s', () => {
    const musl = loader({ exports: [{ name: 'execve', fn: DL_MAIN }] });
    expect(resolveProgram(withLoader(musl)).syscalls.has(nr('execve'))).toBe(true);
    expect(resolveProgram(withLoader(loader({ dataExports: [] }))).syscalls.has(nr('execve'))).toBe(true);
  });

  test('kept when ld.so has a second execve site the model does not know', () => {
    const two = loader({}, { s: [{ at: 0x2100, nr: [nr('execve')] }, { at: 0x2300, nr: [nr('execve')] }] });
    expect(resolveProgram(withLoader(two)).syscalls.has(nr('execve'))).toBe(true);
  });
});
