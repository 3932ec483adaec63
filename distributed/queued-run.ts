import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../cache/content-store';
import type { RunResult } from '../pipeline/runner';
import type { RunConfig } from '../stages/config';
import type { ImageEntry } from '../formats/image-list';
import { UsageError } from '../pipeline/errors';
import { dnsName } from '../formats/profile/spo-profile';
import { checkQueue, parseQueueUrl } from './connection';
import { imageJobData, listLines, QUEUE_STAGES, QueueOptions } from './image-job';
import { QueuedBatch } from './submit';
import { storeResultsDir } from './worker';

/** Options naming a host path (workers read none from the submitter) or not run through the queue yet. */
const NOT_WITH_QUEUE: [string, string][] = [
  ['libc-callgraph', '-l'], ['musl-callgraph', '-m'], ['libc-so', '-f'], ['musl-so', '-n'], ['default-profile', '-p'],
  ['go-syscalls', '-g'], ['other-callgraphs', '-c'], ['output', '-o'], ['only', '--only'], ['verify', '--verify'], ['probes', '--probes'],
];

/** `confine profiles --queue`: checks the options and puts the batch on the queue; the runner takes outcomes from it. */
export async function submitQueuedBatch(args: {
  url: string;
  values: Record<string, unknown>;
  config: RunConfig;
  images: ImageEntry[];
  listText: string;
  runId: string;
  until?: string;
  force: boolean;
  status: (line: string) => void;
  signal: AbortSignal;
}): Promise<QueuedBatch> {
  for (const [key, flag] of NOT_WITH_QUEUE) {
    if (args.values[key] !== undefined && args.values[key] !== false) {
      throw new UsageError(`${flag} cannot be used with --queue: workers read no file of the submitter's machine${key === 'output' ? ' (extracted files stay in the store, under its out/)' : ''}`);
    }
  }
  const target = parseQueueUrl(args.url);
  const until = args.until === undefined || args.until === 'stats' ? 'profile-emit' : args.until;
  if (!(QUEUE_STAGES as readonly string[]).includes(until)) throw new UsageError(`--until ${args.until} cannot be used with --queue`);
  const options: QueueOptions = {
    durationSec: args.config.durationSec,
    allBinaries: args.config.allBinaries,
    finegrained: args.config.finegrained,
    narrowPastUnknownSites: args.config.narrowPastUnknownSites,
    forms: args.config.forms,
    force: args.force,
    until: until as QueueOptions['until'],
  };
  const lines = listLines(args.listText);
  // Job ids derive from it: unique across submitters on other machines too.
  const batchId = `${args.runId.replace(/[^A-Za-z0-9_.-]/g, '-')}-${randomBytes(4).toString('hex')}`;
  const batch = new QueuedBatch({
    target,
    batch: batchId,
    jobs: args.images.map((e) => ({ unit: e.name, data: imageJobData(batchId, e, lines, options) })),
    attempts: 3,
    backoffMs: 5000,
    status: args.status,
    signal: args.signal,
  });
  await checkQueue(target);
  args.status(`queue: submitting ${args.images.length} image(s) to ${target.display}`);
  await batch.submit();
  return batch;
}

/**
 * Workers write each profile under the store's results/; the submitter's -r gets a
 * byte-for-byte copy, as a local run would have written there.
 */
export async function copyProfiles(result: RunResult, config: RunConfig): Promise<void> {
  for (const u of result.units) {
    const p = result.outputs.get(u.unit)?.get('profile-emit') as { profileFile?: string; imageName?: string } | undefined;
    if (!p?.profileFile || !p.imageName) continue;
    const names = [path.basename(p.profileFile), ...config.forms.map((f) => `${dnsName(p.imageName!)}.${f}.json`)];
    for (const name of names) {
      const data = await fs.readFile(path.join(storeResultsDir(config.cacheDir), name));
      await writeFileAtomic(path.join(config.resultsDir, name), data);
    }
  }
}
