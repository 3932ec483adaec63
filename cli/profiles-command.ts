import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ContentStore, writeFileAtomic } from '../cache/content-store';
import { canonicalJson } from '../cache/canonical-json';
import { ConfineError } from '../pipeline/errors';
import { Ledger } from '../pipeline/ledger';
import { PlainReporter, Reporter, TtyReporter } from '../pipeline/reporter';
import { drawingStderr } from '../pipeline/terminal-text';
import { runPipeline } from '../pipeline/runner';
import { validateArtifact } from '../schemas/validate';
import type { RunConfig } from '../stages/config';
import { parseImageList } from '../formats/image-list';
import { allStages, STAGE_NAMES } from '../stages';
import { Services } from '../stages/services';
import { removeLeftovers, type Leftover } from '../system/docker/leftovers';
import { stateDir } from '../system/docker/ownership';
import { readProfile } from '../formats/profile/read-profile';
import { loadProbes } from '../system/probe/probe';
import { parseExecTooList } from '../formats/exec-too-list';
import type { QueuedBatch } from '../distributed/submit';
import { existingPath, outputDir, parse, positiveInt, UsageError, writableDir } from './args';
import { formatAbis, formatProfileTable, formatSummary, formatUnresolvedSites, summarise } from './summary';

/** Signals this close together are one interrupt delivered twice, not a user's second Ctrl-C. */
const SAME_INTERRUPT_MS = 1000;

const HELP_TITLE = {
  profiles: 'confine profiles — trace images, analyse what they run, emit seccomp profiles',
  verify: 'confine verify — profiles, then run each image under its profile (with its --probes probe) and\nagain logging instead of denying: every syscall the kernel logs is a false negative (= profiles --verify)',
};

export const profilesHelp = (mode: 'profiles' | 'verify' = 'profiles') => `${HELP_TITLE[mode]}

Usage: confine ${mode} -i IMAGE_LIST [options]

Inputs (the seed's createProfiles letters):
  -i, --images FILE           image list: rank;name;download-name;categories;downloads;official[;docker-run flags]
  -l, --libc-callgraph FILE   the seed's glibc call graph (optional: derived from each image's libc otherwise)
  -m, --musl-callgraph FILE   the seed's musl call graph (optional)
  -f, --libc-so FILE          the glibc shared object -l was made from (optional)
  -n, --musl-so FILE          the musl shared object -m was made from (optional)
  -p, --default-profile FILE  Docker's default seccomp profile, or the seed's {"default": [...]} form
  -g, --go-syscalls DIR       DIR/NAME.syscalls: syscall numbers to add to image NAME's profile
  -c, --other-callgraphs DIR  other libraries' call graphs in the seed's format (--finegrained)
Outputs:
  -o, --output DIR            extracted files, stored once each by sha256 (default: ./out)
  -r, --results DIR           profiles and reports (default: ./results)
      --cache DIR             artifact cache and ledger (default: ./.confine-cache)
      --forms oci,spo         also write each profile as the OCI runtime-spec linux.seccomp object
                              (NAME.oci.json) and/or a Kubernetes Security Profiles Operator
                              SeccompProfile (NAME.spo.json)
Behaviour:
      --duration SEC          how long each container runs while traced (default: 30)
      --jobs N                containers at once (default: 2)
      --no-pull               fail an image missing from the engine instead of pulling it
                              (pulls use the credentials of ~/.docker/config.json)
      --until STAGE           run the stages up to and including STAGE
      --only STAGE            run only STAGE; what it needs must be cached already
      --force                 recompute the selected stages even when cached
      --finegrained           the seed's stricter mode using the -c call graphs
      --allbinaries           analyse every ELF executable in the image, not only the executed ones
      --exec-too PROGRAM[,…]  programs an operator may run with \`docker exec\` (which runs under the
                              profile): each a path in the image or a name in its PATH, analysed like an
                              executed program with what it may run in turn; \`shell\` is /bin/sh plus
                              ls, cat, ps, env, id where the image has them. A program the image lacks
                              fails that image. An image's own \`--exec-too LIST\` (or \`none\`) in the
                              list's options field replaces this for it. The run table shows the cost.
      --narrow-past-unknown-sites
                              RISKY: narrow the profile even when a reached syscall site's number
                              could not be recovered — a syscall made there may then be blocked
                              (an outage). Without it (the default) such an image keeps the base
                              profile (Docker's default, or -p) and is reported "not hardened",
                              with the sites and why, in the run table, run-summary.json, stats
                              and the report
      --strict                accepted for compatibility and changes nothing: what it asked for
                              (keep the base profile past an unknown site) is now the default
      --verify                also run each image under its profile, then with the same allowlist
                              logging instead of denying, and report every syscall the kernel
                              logged as a false negative (the verify stage)
      --probes FILE           per-image probes, sent to 127.0.0.1 (the -p ports of the list) while the
                              image is traced, so programs it runs only for a request are traced too
                              (a failing probe is a warning there), and during verify, where it must
                              pass (JSON: {"NAME": {"kind": "http"|"tcp", "port": N, ...}}, see
                              images/probes.json). Adding or changing an image's probe re-traces it
      --verify-duration SEC   how long each verify run lasts (default: 10)
      --queue URL             run the per-image stages on \`confine worker\`s taking jobs from this
                              Redis (redis://HOST:PORT, rediss:// for TLS); --cache must be the
                              store the workers share; the batch-wide stats run here
  -d, --debug                 print every stage start, log line and progress message
  -h, --help                  this text

Stages, in order: ${STAGE_NAMES.join(' → ')}
Exit status: 0 every image succeeded; 1 some image failed (see the table); 2 bad usage; 130 interrupted.
A rerun reuses every stage whose inputs did not change and retries what failed; it also
writes again a profile (any form) deleted or edited under -r, and traces again an image
whose --probes probe never passed while it was traced.`;

const PROFILES_OPTIONS = {
  images: { type: 'string', short: 'i' },
  'libc-callgraph': { type: 'string', short: 'l' },
  'musl-callgraph': { type: 'string', short: 'm' },
  'libc-so': { type: 'string', short: 'f' },
  'musl-so': { type: 'string', short: 'n' },
  'default-profile': { type: 'string', short: 'p' },
  'go-syscalls': { type: 'string', short: 'g' },
  'other-callgraphs': { type: 'string', short: 'c' },
  output: { type: 'string', short: 'o' },
  results: { type: 'string', short: 'r' },
  cache: { type: 'string' },
  forms: { type: 'string' },
  duration: { type: 'string' },
  jobs: { type: 'string' },
  'no-pull': { type: 'boolean' },
  until: { type: 'string' },
  only: { type: 'string' },
  force: { type: 'boolean' },
  finegrained: { type: 'boolean' },
  allbinaries: { type: 'boolean' },
  'exec-too': { type: 'string' },
  strict: { type: 'boolean' },
  'narrow-past-unknown-sites': { type: 'boolean' },
  verify: { type: 'boolean' },
  probes: { type: 'string' },
  'verify-duration': { type: 'string' },
  queue: { type: 'string' },
  debug: { type: 'boolean', short: 'd' },
  help: { type: 'boolean', short: 'h' },
} as const;

type ProfilesValues = ReturnType<typeof parse<typeof PROFILES_OPTIONS>>['values'];

/**
 * `confine profiles`, and `confine verify` (the same run with the verify stage on,
 * stopping after it unless --until/--only say otherwise).
 */
export async function profilesCommand(argv: string[], mode: 'profiles' | 'verify' = 'profiles'): Promise<number> {
  const { values } = parse(argv, PROFILES_OPTIONS);
  if (values.help) {
    process.stdout.write(profilesHelp(mode) + '\n');
    return 0;
  }
  const config = runConfigOf(values, mode);

  // Named in messages as the user typed it (`/tmp/x/images.list:2`, not `../../tmp/x/images.list:2`).
  const listText = readFileSync(config.imageList, 'utf8');
  const list = parseImageList(listText, values.images!); // runConfigOf refused a missing -i
  for (const e of list.errors) process.stderr.write(`confine: ${e.describe()}\n`);
  if (!list.images.length) {
    process.stderr.write('confine: no usable image in the list\n');
    return list.errors.length ? 1 : 2;
  }

  config.outDir = writableDir('-o', config.outDir, 'output');
  config.resultsDir = writableDir('-r', config.resultsDir, 'output');
  config.cacheDir = writableDir('--cache', config.cacheDir, 'cache');
  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  const services = new Services(runId, { pull: !values['no-pull'] });
  const reporter: Reporter = process.stderr.isTTY && !config.debug ? new TtyReporter(drawingStderr()) : new PlainReporter(undefined, config.debug);
  const ac = new AbortController();
  const interrupts = stopOnInterrupt(ac);

  let queued: QueuedBatch | undefined;
  try {
    const until = values.until ?? (mode === 'verify' && !values.only ? 'verify' : undefined);
    // With --queue the images run on workers' engines: this machine needs none.
    // Loaded on use: a local run need not load BullMQ.
    const queueRun = values.queue ? (require('../distributed/queued-run') as typeof import('../distributed/queued-run')) : undefined;
    if (values.queue) {
      queued = await queueRun!.submitQueuedBatch({
        url: values.queue, values, config, images: list.images, listText, runId, until, force: !!values.force, signal: ac.signal,
        status: (line) => (reporter instanceof TtyReporter ? reporter.progress('(batch)', 'queue', line.replace(/^queue: /, '')) : process.stderr.write(line + '\n')),
      });
    } else await cleanLeftovers(services, reporter);
    const ledger = new Ledger(path.join(config.cacheDir, 'ledger.jsonl'));
    await reportResume(ledger, reporter);
    const result = await runPipeline<RunConfig>({
      stages: allStages(services, config),
      units: list.images.map((i) => ({ id: i.name, data: i })),
      config,
      store: new ContentStore(config.cacheDir, validateArtifact),
      ledger,
      reporter,
      runId,
      jobs: config.jobs,
      until,
      only: values.only,
      force: !!values.force,
      signal: ac.signal,
      delegate: queued?.delegate,
    });
    if (queued) {
      await queueRun!.copyProfiles(result, config);
      await queued.finish();
    }
    reporter.close();
    const rows = summarise(result);
    await writeRunResults(rows, result, config, list, runId);
    if (result.interrupted) return 130;
    const failed = rows.some((r) => r.failed > 0 || r.interrupted > 0) || list.errors.length > 0;
    return failed ? 1 : 0;
  } finally {
    await queued?.close();
    reporter.close();
    interrupts.remove();
  }
}

/** Containers left by a run that was killed (kill -9, a crash) are found by label and removed. */
export async function cleanLeftovers(services: Services, reporter: Reporter): Promise<void> {
  let docker;
  try {
    docker = await services.docker();
  } catch (e) {
    // No engine: the stages that need it will fail per image with this message.
    reporter.log('*', 'setup', (e as ConfineError).message ?? String(e), false);
    return;
  }
  let removed: unknown[] = [];
  try {
    removed = await removeLeftovers(docker, {
      onlyDeadOwners: true,
      onError: (id, msg) => process.stderr.write(`confine: warning: could not remove leftover container ${id.slice(0, 12)}: ${msg}\n`),
      onUnproven: (list) => process.stderr.write(unprovenWarning(list)),
    });
  } catch (e) {
    // Cleaning up after an earlier run must never stop this one.
    process.stderr.write(`confine: warning: could not remove leftovers of an earlier run: ${(e as Error).message}\n`);
  }
  if (removed.length) process.stderr.write(`confine: removed ${removed.length} container(s) left by an earlier run that was killed\n`);
}

/**
 * Containers a confine made that the secret cannot prove ours are never removed
 * (system/docker/ownership.ts), but a killed run's container that outlived its secret must not
 * go unnoticed: it is listed with the command that removes it.
 */

/** The run's configuration from the options, every input checked before any work starts. */
function runConfigOf(values: ProfilesValues, mode: 'profiles' | 'verify'): RunConfig {
  if (!values.images) throw new UsageError('-i IMAGE_LIST is required');
  if (values.until && values.only) throw new UsageError('--until and --only cannot be used together');
  // Workers take their options from the job; a per-image list travels with the image.
  if (values.queue && values['exec-too'] !== undefined) throw new UsageError("--exec-too is not passed to --queue workers; write it per image in the list's options field (… ;--exec-too shell)");
  for (const [opt, v] of [['--until', values.until], ['--only', values.only]] as const) {
    if (v !== undefined && ![...STAGE_NAMES, 'verify'].includes(v)) throw new UsageError(`${opt} ${v}: unknown stage; stages are ${STAGE_NAMES.join(', ')}`);
  }
  const config: RunConfig = {
    imageList: existingPath('-i', values.images, 'file')!,
    glibcCallgraph: existingPath('-l', values['libc-callgraph'], 'file'),
    muslCallgraph: existingPath('-m', values['musl-callgraph'], 'file'),
    glibcObject: existingPath('-f', values['libc-so'], 'file'),
    muslObject: existingPath('-n', values['musl-so'], 'file'),
    defaultProfile: existingPath('-p', values['default-profile'], 'file'),
    goSyscallsDir: existingPath('-g', values['go-syscalls'], 'dir'),
    otherCallgraphsDir: existingPath('-c', values['other-callgraphs'], 'dir'),
    outDir: outputDir('-o', values.output ?? 'out'),
    resultsDir: outputDir('-r', values.results ?? 'results'),
    forms: parseForms(values.forms),
    cacheDir: outputDir('--cache', values.cache ?? '.confine-cache'),
    durationSec: positiveInt('--duration', values.duration, 30, 1),
    jobs: positiveInt('--jobs', values.jobs, 2, 1),
    debug: !!values.debug,
    finegrained: !!values.finegrained,
    allBinaries: !!values.allbinaries,
    ...(values['exec-too'] !== undefined ? { execToo: execTooOption(values['exec-too']) } : {}),
    // --strict (values.strict) is the default now: accepted, nothing to set.
    narrowPastUnknownSites: !!values['narrow-past-unknown-sites'],
    verify: !!values.verify || mode === 'verify',
    verifyDurationSec: positiveInt('--verify-duration', values['verify-duration'], 10, 1),
    probesFile: existingPath('--probes', values.probes, 'file'),
  };
  if (config.probesFile) loadProbes(config.probesFile); // a malformed probes file is refused before any work

  if (config.defaultProfile) {
    // A broken -p would fail every image at the last stage: refuse it before any work.
    const base = readProfile(config.defaultProfile);
    if (!base.ok) throw new ConfineError('bad-input', `-p ${values['default-profile']}: ${base.error.message}`);
  }
  return config;
}

/** Ctrl-C or SIGTERM stops the run (containers are removed); a second one, a second later, quits at once. */
function stopOnInterrupt(ac: AbortController): { remove: () => void } {
  let firstSignalAt: number | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    // A second Ctrl-C means now — but not one that is the same interrupt delivered twice
    // (tsx relays a signal its child already got when the child is busy for 30 ms; a
    // signal to the process group reaches both): those come within a second.
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt > SAME_INTERRUPT_MS) process.exit(130);
      return;
    }
    firstSignalAt = Date.now();
    process.stderr.write(`\nconfine: ${sig}: stopping; removing containers (press Ctrl-C again to quit at once)\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    remove: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The run table and figures on stdout, and run-summary.json beside the profiles. */
async function writeRunResults(rows: ReturnType<typeof summarise>, result: Parameters<typeof summarise>[0], config: RunConfig, list: ReturnType<typeof parseImageList>, runId: string): Promise<void> {
  process.stdout.write(formatSummary(rows) + '\n');
  const figures = formatProfileTable(result);
  if (figures) process.stdout.write('\n' + figures + '\n');
  const abis = formatAbis(rows);
  if (abis) process.stdout.write('\n' + abis + '\n');
  const unresolved = formatUnresolvedSites(rows);
  if (unresolved) process.stdout.write('\n' + unresolved + '\n');
  const summaryFile = path.join(config.resultsDir, 'run-summary.json');
  await writeFileAtomic(summaryFile, canonicalJson({ runId, rows, listErrors: list.errors.map((e) => e.describe()) }) + '\n');
}

export function unprovenWarning(list: Leftover[]): string {
  const shown = list.slice(0, 20).map((c) => `  ${c.name ?? c.id.slice(0, 12)}  (image ${c.image}${c.run ? `, run ${c.run}` : ''})`);
  return [
    `confine: warning: ${list.length} container(s) made by confine are left, but the installation secret in ${stateDir()} cannot prove them this installation's`,
    `  (the secret was deleted or replaced since they were made, or another user's or CONFINE_STATE_DIR's confine made them), so they are not removed:`,
    ...shown,
    ...(list.length > shown.length ? [`  and ${list.length - shown.length} more`] : []),
    `  if they are yours, remove them with: docker rm -f -v ${list.map((c) => c.id.slice(0, 12)).join(' ')}`,
    '',
  ].join('\n');
}

async function reportResume(ledger: Ledger, _reporter: Reporter): Promise<void> {
  const latest = await ledger.latest();
  const counts = { done: 0, failed: 0, running: 0 };
  for (const rec of latest.values()) {
    if (rec.status === 'done' || rec.status === 'reused') counts.done++;
    else if (rec.status === 'failed') counts.failed++;
    else if (rec.status === 'running' || rec.status === 'interrupted') counts.running++;
  }
  if (counts.running || counts.failed) {
    process.stderr.write(
      `confine: resuming: the last run left ${counts.running} stage(s) unfinished and ${counts.failed} failed; they run again, ${counts.done} finished stage(s) are reused when unchanged\n`,
    );
  }
}

function execTooOption(value: string): string[] {
  try {
    return parseExecTooList(value);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function parseForms(value: string | undefined): RunConfig['forms'] {
  if (!value) return [];
  const forms = value.split(',').map((f) => f.trim()).filter(Boolean);
  for (const f of forms) if (f !== 'oci' && f !== 'spo') throw new UsageError(`--forms ${value}: '${f}' is not a form; use oci, spo or oci,spo`);
  return [...new Set(forms)] as RunConfig['forms'];
}
