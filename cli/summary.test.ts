import type { RunResult } from '../pipeline/runner';
import { formatAbis, formatProfileTable, formatUnresolvedSites, summarise } from './summary';

const site = (object: string, addr: number, reason: string, binaries: string[]) => ({ object, site: addr, function: 'f', reasons: [reason], binaries });

function result(): RunResult {
  const ok = (stage: string) => ({ stage, status: 'done' as const, ms: 1 });
  const stages = [ok('syscall-resolve'), ok('profile-emit')];
  const profile = (extra: object) => ({ allowedCount: 100, blockedCount: 273, dockerDefaultAllowedCount: 300, ...extra });
  return {
    before: { unit: '*', stages: [] },
    after: { unit: '*', stages: [] },
    units: [
      { unit: 'narrow', stages },
      { unit: 'kept', stages },
      { unit: 'clean', stages },
    ],
    outputs: new Map<string, Map<string, unknown>>([
      ['narrow', new Map<string, unknown>([
        ['syscall-resolve', { unresolved: [site('/lib/libc.so.6', 0x86768, 'rax written by mov from memory', ['/bin/ls', '/bin/sh'])] }],
        ['profile-emit', profile({ unresolvedSites: 1 })],
      ])],
      ['kept', new Map<string, unknown>([
        ['syscall-resolve', { unresolved: [site('/app', 0x10, 'return value of call to 0x20', ['/app']), site('/app', 0x30, 'search limit reached', ['/app'])] }],
        ['profile-emit', profile({ unresolvedSites: 2, allowedCount: 300, fallback: { reason: '2 reached syscall sites ... keeps the base profile' } })],
      ])],
      ['clean', new Map<string, unknown>([
        ['syscall-resolve', { unresolved: [] }],
        ['profile-emit', profile({ unresolvedSites: 0 })],
      ])],
    ]),
    interrupted: false,
  };
}

test('run-summary rows carry every unresolved site, whether the image is hardened, and why not', () => {
  const rows = summarise(result());
  expect(rows.map((r) => [r.image, r.unresolvedSites?.length, r.hardened, r.profileFallback])).toEqual([
    ['narrow', 1, true, undefined],
    ['kept', 2, false, '2 reached syscall sites ... keeps the base profile'],
    ['clean', 0, true, undefined],
  ]);
  expect(rows[0].unresolvedSites![0]).toMatchObject({ object: '/lib/libc.so.6', site: 0x86768, binaries: ['/bin/ls', '/bin/sh'] });
});

test('the end-of-run table counts them and says which profiles were kept whole; the list names every site', () => {
  const r = result();
  const table = formatProfileTable(r)!;
  const line = (img: string) => table.split('\n').find((l) => l.startsWith(img))!.split(/\s{2,}/);
  expect(table.split('\n')[0]).toMatch(/unresolved sites\s+profile/);
  expect(line('narrow').slice(4, 6)).toEqual(['1', 'narrowed anyway']);
  expect(line('kept').slice(4, 6)).toEqual(['2', 'not hardened']);
  expect(line('clean').slice(4, 6)).toEqual(['0', 'narrowed']);
  const list = formatUnresolvedSites(summarise(r))!;
  expect(list).toContain('narrow: 1 site — profile narrowed anyway (--narrow-past-unknown-sites): a syscall made there may be blocked');
  expect(list).toContain('kept: 2 sites — not hardened (base profile)');
  expect(list).toContain('/lib/libc.so.6@0x86768 in f: rax written by mov from memory  (from /bin/ls, /bin/sh)');
  expect(list).toContain('/app@0x10 in f: return value of call to 0x20');
  expect(list).toContain('/app@0x30 in f: search limit reached');
  expect(list).not.toContain('clean');
});

test('no unresolved site anywhere: no list', () => {
  const r = result();
  r.units = r.units.filter((u) => u.unit === 'clean');
  expect(formatUnresolvedSites(summarise(r))).toBeUndefined();
});

test('an image with --exec-too programs shows their cost: a column, and a line naming what each added syscall is for', () => {
  const r = result();
  (r.outputs.get('clean')!.get('profile-emit') as Record<string, unknown>).execToo = {
    asked: ['shell'],
    programs: [{ name: 'sh', path: '/bin/sh' }, { name: 'ls', path: '/usr/bin/ls' }],
    missingTools: ['ps'],
    allowedWithout: 95,
    added: [{ syscall: 'fchown', by: ["the runtime's docker exec path (runc exec)"] }, { syscall: 'vfork', by: ['/bin/sh'] }],
  };
  const table = formatProfileTable(r)!;
  expect(table.split('\n')[0]).toMatch(/compat ABIs\s+docker exec$/);
  expect(table.split('\n').find((l) => l.startsWith('clean'))).toMatch(/\s95 → 100 with shell$/);
  expect(table.split('\n').find((l) => l.startsWith('narrow'))).toMatch(/\s-$/);
  expect(table).toContain("clean 95 → 100 with shell: /bin/sh, /usr/bin/ls; not in the image: ps; adds fchown (the runtime's docker exec path (runc exec)), vfork (/bin/sh)");
  expect(summarise(r).find((s) => s.image === 'clean')!.execToo).toMatchObject({ allowedWithout: 95, allowedWith: 100, programs: ['/bin/sh', '/usr/bin/ls'] });
});

test('without --exec-too anywhere the table has no exec column', () => {
  expect(formatProfileTable(result())!.split('\n')[0]).not.toMatch(/docker exec/);
});

test('per image, which compat ABIs the profile admits, and why a kept one is kept', () => {
  const r = result();
  const refused = [{ abi: 'i386', kept: false, reason: 'no reached syscall site uses it' }, { abi: 'x32', kept: false, reason: 'no reached syscall site uses it' }];
  (r.outputs.get('narrow')!.get('profile-emit') as { abis?: unknown }).abis = refused;
  (r.outputs.get('clean')!.get('profile-emit') as { abis?: unknown }).abis = [{ abi: 'i386', kept: true, reason: 'reached code uses it: /app@0x10 in f: int $0x80' }, refused[1]];
  const rows = summarise(r);
  expect(rows.find((x) => x.image === 'clean')!.abis![0].kept).toBe(true);
  const table = formatProfileTable(r)!;
  const last = (img: string) => table.split('\n').find((l) => l.startsWith(img))!.split(/\s{2,}/).pop();
  expect([last('narrow'), last('kept'), last('clean')]).toEqual(['none', 'base', 'i386']);
  const text = formatAbis(rows)!;
  expect(text).toContain('i386 and x32 refused, no reached site uses them: narrow');
  expect(text).toContain('clean: i386 kept: reached code uses it: /app@0x10 in f: int $0x80');
  expect(text).not.toMatch(/^\s+kept:/m); // the image not hardened has no ABI decision of its own
});
