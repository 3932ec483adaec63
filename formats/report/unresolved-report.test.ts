import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Papa from 'papaparse';
import { canonicalJson } from '../../cache/canonical-json';
import { summarise } from '../../cli/summary';
import type { RunResult } from '../../pipeline/runner';
import type { ProfileArtifact, ResolveArtifact } from '../../schemas/types';
import { explainSyscall, formatExplanation } from './explain';
import { reportRows } from './report-rows';
import { writeStatsOutputs } from './stats-run';
import { ImageUnresolved, UNRESOLVED_CSV, unresolvedFromRunSummary } from './unresolved-report';

const sites: ResolveArtifact['unresolved'] = [
  { object: '/lib/x86_64-linux-gnu/libc.so.6', site: 0x86768, function: 'sighandler_setxid', reasons: ['rax written by mov from memory'], binaries: ['/bin/sh', '/usr/sbin/nginx'] },
  { object: '/usr/sbin/nginx', site: 0x4010, function: 'ngx_call', reasons: ['return value of call to 0x20', 'search limit reached'], binaries: ['/usr/sbin/nginx'] },
];
const resolve: ResolveArtifact = {
  method: 'static-analysis', syscalls: ['write'], perBinary: [], overrides: [], unresolvedSites: sites.length, unresolved: sites,
  provenance: { write: { binary: '/usr/sbin/nginx', site: 0x10, siteObject: '/usr/sbin/nginx', steps: [{ object: '/usr/sbin/nginx', function: 'main', via: 'entry' }] } },
};
const profile: ProfileArtifact = {
  imageId: 'sha256:x', imageName: 'web', profileFile: 'p', allowed: ['write'], allowedCount: 1, blockedCount: 372,
  dockerDefaultAllowedCount: 300, runtimeSyscalls: [], addedBeyondDefault: [], unresolvedSites: sites.length,
};
const keptProfile: ProfileArtifact = { ...profile, allowedCount: 300, fallback: { reason: '2 reached syscall sites with a number the analysis could not recover (any syscall may be made there), so the image keeps the base profile' } };

describe('confine explain lists the unresolved sites', () => {
  test('for a blocked syscall: every site, with why and from where, as something that could make it', () => {
    const e = explainSyscall('web', 'mount', { resolve, profile });
    expect(e.allowed).toBe(false);
    expect(e.unresolved).toEqual(sites);
    const text = formatExplanation(e);
    expect(text).toContain('2 reached syscall sites with a number the analysis could not recover (any of them could make mount, which the profile blocks)');
    expect(text).toContain('/lib/x86_64-linux-gnu/libc.so.6@0x86768 in sighandler_setxid: rax written by mov from memory  (reached from /bin/sh, /usr/sbin/nginx)');
    expect(text).toContain('/usr/sbin/nginx@0x4010 in ngx_call: return value of call to 0x20; search limit reached');
  });

  test('for an allowed syscall, and why the image is not hardened', () => {
    const e = explainSyscall('web', 'write', { resolve, profile: keptProfile });
    expect(e.fallback).toBe(keptProfile.fallback!.reason);
    const text = formatExplanation(e);
    expect(text).toContain(`the profile is the base profile, not narrowed: ${keptProfile.fallback!.reason}`);
    expect(text).toContain('0x86768');
  });

  test('nothing unresolved: no such lines', () => {
    const text = formatExplanation(explainSyscall('web', 'mount', { resolve: { ...resolve, unresolved: [], unresolvedSites: 0 }, profile }));
    expect(text).not.toContain('could not recover');
  });
});

describe('report rows', () => {
  test('a profile kept whole (unresolved sites) is not counted as hardened, and says why', () => {
    const facts = { rank: 1, name: 'web', languages: ['CCPP'], resolve, profile: keptProfile };
    const r = reportRows(facts, ['read', 'write', 'mount'], new Set(['read', 'write']));
    expect(r.summary.hardened).toBe(false);
    expect(r.summary.error).toBe(`not hardened: ${keptProfile.fallback!.reason}`);
    expect(r.summary.unresolvedSites).toBe(2);
    expect(reportRows({ ...facts, profile }, ['read', 'write', 'mount'], new Set(['read', 'write'])).summary.hardened).toBe(true);
  });
});

describe('the stats CSV and the HTML page list every unresolved site', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'confine-unresolved-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const list: ImageUnresolved[] = [
    { image: 'web', sites, fallback: keptProfile.fallback!.reason },
    { image: 'db', sites: [sites[0]] },
  ];

  test('one CSV line per image and site', async () => {
    const r = await writeStatsOutputs({ summary: [], details: [], images: new Map(), cves: [], outDir: out, failures: [], unresolved: list, title: 't' });
    expect(r.files).toContain(path.join(out, UNRESOLVED_CSV));
    const rows = Papa.parse<Record<string, string>>(readFileSync(path.join(out, UNRESOLVED_CSV), 'utf8'), { header: true, delimiter: ';', skipEmptyLines: true }).data;
    expect(rows.map((x) => [x.Image, x.Object, x.Site, x.Profile])).toEqual([
      ['web', '/lib/x86_64-linux-gnu/libc.so.6', '0x86768', 'not hardened (base profile)'],
      ['web', '/usr/sbin/nginx', '0x4010', 'not hardened (base profile)'],
      ['db', '/lib/x86_64-linux-gnu/libc.so.6', '0x86768', 'narrowed anyway'],
    ]);
    expect(rows[1].Reasons).toBe('return value of call to 0x20 | search limit reached');
    expect(rows[0]['Reached From']).toBe('/bin/sh /usr/sbin/nginx');
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    const section = html.slice(html.indexOf('<h2>Unresolved syscall sites</h2>'), html.indexOf('<h2>Images that failed or are not hardened</h2>'));
    expect(section).toContain('ngx_call');
    expect(section.match(/<td>0x86768<\/td>/g)).toHaveLength(2);
    expect(section).toContain('<td>not hardened (base profile)</td>');
  });

  test('confine stats on report files reads the lists back from run-summary.json', () => {
    const result = {
      before: { unit: '*', stages: [] }, after: { unit: '*', stages: [] }, interrupted: false,
      units: [{ unit: 'web', stages: [] }, { unit: 'db', stages: [] }, { unit: 'clean', stages: [] }],
      outputs: new Map<string, Map<string, unknown>>([
        ['web', new Map<string, unknown>([['syscall-resolve', resolve], ['profile-emit', keptProfile]])],
        ['db', new Map<string, unknown>([['syscall-resolve', { ...resolve, unresolved: [sites[0]] }], ['profile-emit', profile]])],
        ['clean', new Map<string, unknown>([['syscall-resolve', { ...resolve, unresolved: [] }], ['profile-emit', profile]])],
      ]),
    } as RunResult;
    const json = JSON.parse(canonicalJson({ runId: 'r', rows: summarise(result), listErrors: [] }));
    expect(unresolvedFromRunSummary(json)).toEqual(list);
    expect(unresolvedFromRunSummary({})).toEqual([]);
  });
});
