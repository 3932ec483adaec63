import { parseRunOptions } from '../system/docker/run-options';
import { ConfineError } from '../pipeline/errors';
import type { RunConfig } from '../stages/config';
import { ImageEntry, parseImageList } from '../formats/image-list';

/** The per-image stages a queued job may stop after (batch-wide ones run at the submitter). */
export const QUEUE_STAGES = ['run-and-trace', 'extract-binaries', 'symbol-scan', 'syscall-resolve', 'profile-emit'] as const;

/** The options of a batch that reach workers: what decides the per-image stages' outputs, and nothing that names a host path. */
export interface QueueOptions {
  durationSec: number;
  allBinaries: boolean;
  finegrained: boolean;
  /** --narrow-past-unknown-sites: narrow the profile past unresolved syscall sites (default: the image keeps the base profile). */
  narrowPastUnknownSites: boolean;
  forms: RunConfig['forms'];
  force: boolean;
  until: (typeof QUEUE_STAGES)[number];
}

/**
 * What one image job carries: the image's line of the list, verbatim, so a worker
 * parses it with the very parser (and refusals) a local run uses, and the batch's
 * options. Never a host path: a worker reads only its own store and engine.
 */
export interface ImageJobData {
  v: 1;
  batch: string;
  line: string;
  /** Where the line was in the submitter's list, for messages only. */
  lineNo: number;
  options: QueueOptions;
}

/** The original text of every parsed list line, keyed by image name. */
export function listLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split('\n').map((l) => l.replace(/\r$/, ''));
}

export function imageJobData(batch: string, entry: ImageEntry, lines: string[], options: QueueOptions): ImageJobData {
  return { v: 1, batch, line: lines[entry.line - 1], lineNo: entry.line, options };
}

/**
 * Checks a job taken from the queue as untrusted input: anyone who can write to the
 * Redis could have put it there. The line goes through the list parser and the
 * docker-run option parser (privileged, host namespaces and devices refused there);
 * binds are refused here too, since a bind from the queue would hand a host path to
 * whoever wrote the job.
 */
export function readImageJob(data: unknown): { entry: ImageEntry; options: QueueOptions } {
  const bad = (msg: string) => new ConfineError('bad-input', `queued job: ${msg}`);
  if (!data || typeof data !== 'object') throw bad('not an object');
  const d = data as Partial<ImageJobData>;
  if (d.v !== 1) throw bad(`unknown job version ${String(d.v)}; is this worker older than the submitter?`);
  if (typeof d.line !== 'string' || d.line.includes('\n') || d.line.length > 16384) throw bad('the list line is missing or not one line');
  if (typeof d.batch !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(d.batch)) throw bad('bad batch id');
  const lineNo = Number.isInteger(d.lineNo) && d.lineNo! > 0 ? d.lineNo! : 1;
  const where = `queue:${d.batch}`;
  const parsed = parseImageList(d.line, where);
  if (parsed.errors.length) throw parsed.errors[0];
  if (parsed.images.length !== 1) throw bad('the list line holds no image');
  const entry: ImageEntry = { ...parsed.images[0], line: lineNo };
  // A Docker reference's characters only: it reaches engine calls, logs and the summary.
  if (!/^([A-Za-z0-9][A-Za-z0-9._/:@+-]{0,511})?$/.test(entry.ref)) throw new ConfineError('bad-input', 'the image reference has characters no Docker reference has', { file: where, line: lineNo, image: entry.name });
  const spec = parseRunOptions(entry.extraOptions, { file: where, line: lineNo, image: entry.name });
  if (spec.binds.length) {
    throw new ConfineError('bad-input', `bind mounts (${spec.binds.join(', ')}) are refused for queued images: a worker mounts no host path or named volume a queue client chose`, { file: where, line: lineNo, image: entry.name });
  }
  return { entry, options: readOptions(d.options, bad) };
}

function readOptions(o: unknown, bad: (m: string) => Error): QueueOptions {
  if (!o || typeof o !== 'object') throw bad('no options');
  const x = o as Record<string, unknown>;
  const bool = (k: string) => {
    if (typeof x[k] !== 'boolean') throw bad(`option ${k} must be true or false`);
    return x[k] as boolean;
  };
  const duration = x.durationSec;
  if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 1 || duration > 86400) throw bad('durationSec must be a whole number of seconds, 1 to 86400');
  const forms = x.forms;
  if (!Array.isArray(forms) || forms.some((f) => f !== 'oci' && f !== 'spo')) throw bad('forms must list oci and/or spo');
  const until = x.until;
  if (typeof until !== 'string' || !(QUEUE_STAGES as readonly string[]).includes(until)) throw bad(`until must be one of ${QUEUE_STAGES.join(', ')}`);
  return { durationSec: duration, allBinaries: bool('allBinaries'), finegrained: bool('finegrained'), narrowPastUnknownSites: x.narrowPastUnknownSites === undefined ? false : bool('narrowPastUnknownSites'), forms: [...new Set(forms)] as QueueOptions['forms'], force: bool('force'), until: until as QueueOptions['until'] };
}
