/**
 * How tight the profiles are (issue #12): per image, the syscalls its emitted profile
 * allows, what static analysis finds under three indirect-call rules, and what the
 * kernel saw the container make, with medians and the issue's targets.
 *
 * - allowed: names in the ALLOW rules of results/NAME.seccomp.json (the count the run
 *   summary prints; a mismatch with the profile-emit artifact is reported).
 * - direct / reachAT / wholeAT: `byRule` of the image's latest syscall-resolve artifact
 *   (read through formats/report/artifacts.ts like `confine explain`): direct edges only; the
 *   profile's rule (only what reached code and live data point at); sysfilter's
 *   whole-program address-taken rule.
 * - seen: the container run under a profile that allows nothing and logs everything
 *   (system/verify/calibrate.ts logOnlyProfile), for verify's duration, with its probe
 *   (images/probes.json); distinct syscalls the kernel logged for the container's
 *   processes, runc's init after the filter included (every profile allows those too).
 *   A run that lost kernel log records is measured again (three runs at most), as the
 *   go-caddy integration test does. `seen-not-allowed` lists what the kernel saw that
 *   the profile would deny: each is a false negative of the profile.
 *
 * Containers publish their ports on 127.0.0.1 only, and on a free port chosen here (the
 * probe follows it) so a run never collides with another session using the list's ports.
 *
 * Usage: tools/bench/tightness.sh [-i LIST] [--skip-profiles] [--duration SEC] [--cache DIR]
 *          [-r RESULTS] [--probes FILE] [--json FILE] [NAME...]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import { $ } from 'zx';
import { parseRunOptions, toCreateOptions } from '../../system/docker/run-options';
import { loadProbes, Probe } from '../../system/probe/probe';
import type { DockerProfile } from '../../formats/profile/seccomp-types';
import { CacheReader } from '../../formats/report/artifacts';
import { parseImageList, ImageEntry } from '../../formats/image-list';
import { logOnlyProfile } from '../../system/verify/calibrate';
import { verifyImage, VerifyImageResult } from '../../system/verify/verify-image';

const repo = path.resolve(__dirname, '..', '..');
const confine = path.join(repo, 'bin', 'confine');
$.quiet = true;

const { values: opt, positionals: names } = parseArgs({
  allowPositionals: true,
  options: {
    images: { type: 'string', short: 'i', default: path.join(repo, 'images', 'images.list') },
    'skip-profiles': { type: 'boolean', default: false },
    // `confine verify`'s default --verify-duration.
    duration: { type: 'string', default: '10' },
    'profile-duration': { type: 'string', default: '5' },
    cache: { type: 'string', default: path.join(repo, '.confine-cache') },
    results: { type: 'string', short: 'r', default: path.join(repo, 'results') },
    probes: { type: 'string', default: path.join(repo, 'images', 'probes.json') },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  process.stdout.write(`Usage: tools/bench/tightness.sh [-i LIST] [--skip-profiles] [--duration SEC] [--profile-duration SEC]
         [--cache DIR] [-r RESULTS] [--probes FILE] [--json FILE] [NAME...]
  -i LIST               image list (default images/images.list); NAMEs restrict it
  --skip-profiles       do not run \`confine profiles\` first (use what --cache and -r hold)
  --duration SEC        each kernel-seen run (default 10, as \`confine verify\`)
  --profile-duration    --duration of \`confine profiles\` (default 5)
  --cache DIR, -r DIR   artifact cache and results (default the checkout's .confine-cache and results)
  --probes FILE         probes (default images/probes.json)
  --json FILE           per-image details (default RESULTS/tightness.json)
`);
  process.exit(0);
}
const durationSec = Number(opt.duration);
if (!Number.isInteger(durationSec) || durationSec < 1) throw new Error(`--duration expects whole seconds ≥ 1, got '${opt.duration}'`);
const MAX_RUNS = 3;

/** Issue #12's targets on the allowed count. */
const MEDIAN_TARGET = 105;
const TARGETS: Record<string, number> = { nginx: 110, redis: 100, memcached: 100, apache2: 98, caddy: 110 };

const docker = new Dockerode();
const runLabel = `tightness-${process.pid}`;
// owner-pid: confine runs of other sessions remove `confine=1` containers of dead owners only.
const labels = { 'confine.bench': 'tightness', 'confine.run': runLabel, 'confine.owner-pid': String(process.pid) };

interface Row {
  name: string;
  allowed?: number;
  direct?: number;
  reachAT?: number;
  wholeAT?: number;
  seen?: number;
  ratio?: number;
  seenNotAllowed: string[];
  notes: string[];
  seenNames?: string[];
  /** Logged runs it took (more when records were lost). */
  runs?: number;
  /** pass / FAIL / none (no probe for this image) / - (not run). */
  probe: string;
}

async function main(): Promise<number> {
  const listText = readFileSync(opt.images, 'utf8');
  const parsed = parseImageList(listText, opt.images);
  for (const e of parsed.errors) process.stderr.write(`${e.message}\n`);
  let images = parsed.images.filter((im) => names.length === 0 || names.includes(im.name));
  const unknown = names.filter((n) => !parsed.images.some((im) => im.name === n));
  if (unknown.length) throw new Error(`not in ${opt.images}: ${unknown.join(', ')}`);
  const present: ImageEntry[] = [];
  for (const im of images) {
    if (await docker.getImage(im.ref).inspect().then(() => true, () => false)) present.push(im);
    else process.stdout.write(`${im.name}: image ${im.ref} is not in the engine (make images); skipped\n`);
  }
  images = present;
  if (!images.length) throw new Error('no image to measure');

  process.stdout.write(
    `tightness: ${new Date().toISOString()}  HEAD ${(await $`git -C ${repo} rev-parse --short HEAD`.nothrow()).stdout.trim()}  ` +
      `${os.cpus().length} cores, load ${fmtLoad()}  kernel-seen runs ${durationSec} s each\n`,
  );
  if (!opt['skip-profiles']) await ensureProfiles(images);

  const reader = new CacheReader(opt.cache);
  const probes = loadProbes(opt.probes);
  const rows: Row[] = [];
  for (const im of images) {
    const row = await measureImage(im, reader, probes[im.name]);
    rows.push(row);
    process.stdout.write(`  ${im.name}: allowed ${row.allowed ?? '-'}, kernel saw ${row.seen ?? '-'}${row.notes.length ? ` — ${row.notes.join('; ')}` : ''}\n`);
  }
  process.stdout.write(`\n${formatTable(rows)}\n`);
  process.stdout.write(`load at end ${fmtLoad()}\n`);
  const jsonFile = opt.json ?? path.join(opt.results, 'tightness.json');
  writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), durationSec, rows }, null, 2) + '\n');
  process.stdout.write(`details (kernel-seen names per image): ${jsonFile}\n`);
  // Exit 1 when a figure is missing, a probe failed or the kernel saw what the profile denies.
  return rows.some((r) => r.allowed === undefined || r.seen === undefined || r.probe === 'FAIL' || r.seenNotAllowed.length) ? 1 : 0;
}

/**
 * `confine profiles` on the images (reused from the cache when nothing changed). The
 * list's -p flags are dropped for it: without --probes nothing talks to the ports, and
 * publishing them would collide with other runs that use the same list.
 */
async function ensureProfiles(images: ImageEntry[]): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'confine-tightness-'));
  try {
    const list = path.join(work, 'images.list');
    const raw = readFileSync(opt.images, 'utf8').replace(/^\uFEFF/, '').split('\n');
    const lines = images.map((im) => {
      const fields = raw[im.line - 1].replace(/\r$/, '').split(';');
      return [...fields.slice(0, 6), ...(fields.length > 6 ? [stripPorts(fields.slice(6).join(';'))] : [])].join(';');
    });
    writeFileSync(list, lines.join('\n') + '\n');
    const t0 = performance.now();
    const p = await $({ cwd: repo })`${confine} profiles -i ${list} --duration ${opt['profile-duration']} --cache ${opt.cache} -r ${opt.results}`.nothrow();
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    const reused = (p.stderr.match(/: reused/g) ?? []).length;
    const done = (p.stderr.match(/: done/g) ?? []).length;
    process.stdout.write(`confine profiles: ${s} s, stages done ${done}, reused ${reused}, exit ${p.exitCode}\n`);
    // A failed image is shown in its row (no profile); the others are still measured.
    if (p.exitCode !== 0) process.stdout.write(p.stdout.split('\n\n')[0].replace(/^/gm, '  ') + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function stripPorts(extra: string): string {
  return extra.replace(/(^| )(-p|--publish)[ =][^ ;]+/g, '').trim();
}

async function measureImage(im: ImageEntry, reader: CacheReader, probe: Probe | undefined): Promise<Row> {
  const row: Row = { name: im.name, seenNotAllowed: [], notes: [], probe: '-' };
  const emitted = await reader.artifact(im.name, 'profile-emit');
  const resolved = await reader.artifact(im.name, 'syscall-resolve');
  let allowedNames: Set<string> | undefined;
  if (!emitted) row.notes.push(`no profile-emit artifact in ${opt.cache}`);
  else {
    const file = path.join(opt.results, `${im.name}.seccomp.json`);
    try {
      allowedNames = allowRuleNames(JSON.parse(readFileSync(file, 'utf8')) as DockerProfile);
      row.allowed = allowedNames.size;
      if (row.allowed !== emitted.allowedCount) row.notes.push(`${file} has ${row.allowed} ALLOW names, the run summary ${emitted.allowedCount}`);
      if (emitted.fallback) row.notes.push('not hardened (base profile: unresolved site)');
    } catch (e) {
      row.notes.push(`cannot read ${file}: ${(e as Error).message}`);
    }
  }
  if (!resolved) row.notes.push('no syscall-resolve artifact');
  else if (!resolved.byRule) row.notes.push('syscall-resolve artifact has no byRule (older stage version)');
  else {
    row.direct = resolved.byRule.directOnly.length;
    row.reachAT = resolved.byRule.reachableAT.length;
    row.wholeAT = resolved.byRule.wholeProgramAT.length;
  }

  const image = emitted?.imageId ?? im.ref;
  if (!probe) row.notes.push('no probe: start-up only');
  // A log-everything run of a busy server can overflow the kernel's ring buffer before it
  // is read (records lost: a syscall may be missing). Each rerun allows what earlier runs
  // saw, so it logs only syscalls not seen yet (a few records, not thousands); the union
  // is complete once a run loses nothing: whatever that run made was either allowed
  // (seen before) or logged.
  const seen = new Set<string>();
  for (let attempt = 1; attempt <= MAX_RUNS; attempt++) {
    let r: VerifyImageResult;
    try {
      r = await kernelSeen(im, image, probe, seen);
    } catch (e) {
      row.notes.push(`kernel-seen run ${attempt} failed: ${(e as Error).message}`);
      break;
    }
    row.runs = attempt;
    for (const f of r.falseNegatives) seen.add(f.name);
    row.seenNames = [...seen].sort();
    row.seen = seen.size;
    row.probe = !probe ? 'none' : r.probeOk ? 'pass' : 'FAIL';
    if (probe && !r.probeOk) row.notes.push(`run ${attempt}: probe FAILED: ${r.probeDetail}`);
    if (r.exitedEarly) row.notes.push(`run ${attempt}: container exited early${r.logged.exitCode !== undefined ? ` (code ${r.logged.exitCode})` : ''}`);
    const unattributed = r.unattributed.reduce((n, u) => n + u.count, 0);
    if (unattributed) row.notes.push(`run ${attempt}: ${unattributed} records of vanished pids not attributed (another logged run was active)`);
    if (r.lostRecords === 0) {
      if (attempt > 1) row.notes.push(`seen over ${attempt} runs (runs after the first allowed what earlier runs saw; the last lost no record)`);
      break;
    }
    if (attempt === MAX_RUNS) {
      row.notes.push(`kernel log records lost in all ${MAX_RUNS} runs (${r.lostRecords} in the last): seen is a lower bound`);
      break;
    }
    process.stdout.write(`  ${im.name}: ${r.lostRecords} kernel log records lost; measuring again allowing the ${seen.size} seen so far, so only new ones are logged (run ${attempt + 1} of ${MAX_RUNS})\n`);
  }
  if (row.seen !== undefined && allowedNames) {
    row.seenNotAllowed = row.seenNames!.filter((n) => !allowedNames!.has(n));
    if (row.allowed !== undefined && row.seen > 0) row.ratio = row.allowed / row.seen;
  }
  return row;
}

/** Names in the profile's ALLOW rules, conditional ones included (as profile-emit counts them). */
function allowRuleNames(p: DockerProfile): Set<string> {
  return new Set((p.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));
}

/** One logged run of the image under a profile that allows `known` (first: nothing) and logs the rest, with its probe on a free loopback port. */
async function kernelSeen(im: ImageEntry, image: string, probe: Probe | undefined, known: ReadonlySet<string>): Promise<VerifyImageResult> {
  const spec = parseRunOptions(im.extraOptions, { file: im.file, line: im.line, image: im.name });
  let moved: Probe | undefined = probe;
  const ports = [];
  for (const p of spec.ports) {
    const hostPort = String(await freePort());
    if (probe && p.hostPort === String(probe.port)) moved = { ...probe, port: Number(hostPort) };
    ports.push({ ...p, hostPort });
  }
  if (probe && moved === probe) throw new Error(`probe port ${probe.port} is not published by the list's flags`);
  return verifyImage({
    docker,
    image,
    createOptions: toCreateOptions({ ...spec, ports }, image, {}),
    profile: logOnlyProfile(known),
    ...(moved ? { probe: moved } : {}),
    durationSec,
    logOnly: true,
    labels,
  });
}

/** A port nothing listens on now; the engine binds it a moment later (a small race, retried by the probe's failure note). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function formatTable(rows: Row[]): string {
  const head = ['image', 'allowed', 'direct', 'reachAT', 'wholeAT', 'seen', 'probe', 'allowed/seen', 'target', '', 'seen-not-allowed'];
  const n = (v?: number) => (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(1));
  const r2 = (v?: number) => (v === undefined ? '-' : `${v.toFixed(2)}×`);
  const verdict = (v: number | undefined, t: number | undefined) => (t === undefined ? '' : v === undefined ? 'MISSED (no figure)' : v <= t ? 'met' : 'MISSED');
  const cells = rows.map((r) => [
    r.name, n(r.allowed), n(r.direct), n(r.reachAT), n(r.wholeAT), n(r.seen), r.probe, r2(r.ratio),
    TARGETS[r.name] !== undefined ? `≤ ${TARGETS[r.name]}` : '', verdict(r.allowed, TARGETS[r.name]),
    r.seenNotAllowed.length ? r.seenNotAllowed.join(' ') : r.seen === undefined ? '-' : 'none',
  ]);
  const col = (f: (r: Row) => number | undefined) => median(rows.map(f).filter((v): v is number => v !== undefined));
  const medAllowed = col((r) => r.allowed);
  cells.push([
    'MEDIAN', n(medAllowed), n(col((r) => r.direct)), n(col((r) => r.reachAT)), n(col((r) => r.wholeAT)), n(col((r) => r.seen)), '', r2(col((r) => r.ratio)),
    `≤ ${MEDIAN_TARGET}`, verdict(medAllowed, MEDIAN_TARGET), '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : i === head.length - 1 ? v : v.padStart(widths[i]))).join('  ').trimEnd();
  const out = [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)];
  const notes = rows.filter((r) => r.notes.length).map((r) => `  ${r.name}: ${r.notes.join('; ')}`);
  if (notes.length) out.push('', 'notes:', ...notes);
  const fnImages = rows.filter((r) => r.seenNotAllowed.length).map((r) => r.name);
  out.push('', fnImages.length ? `FALSE NEGATIVES: the kernel saw syscalls the profile denies in ${fnImages.join(', ')}` : 'every syscall the kernel saw is allowed by the profile (0 false negatives)');
  return out.join('\n');
}

function fmtLoad(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

/** Every container this run created is removed by verifyImage; on a signal, remove what is left by our label. */
async function cleanUp(): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { label: [`confine.run=${runLabel}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
}

// An exit on a signal skips the kernel log follower's stop, which would restore printk_ratelimit.
const RATELIMIT = '/proc/sys/kernel/printk_ratelimit';
const savedRatelimit = readFileSync(RATELIMIT, 'utf8').trim();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`${sig}: removing this run's containers\n`);
    try {
      writeFileSync(RATELIMIT, savedRatelimit);
    } catch {
      /* not root: nothing was changed either */
    }
    void cleanUp().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await cleanUp();
    process.exitCode = code;
  },
  async (e) => {
    await cleanUp();
    process.stderr.write(`tightness: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
