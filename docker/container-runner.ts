import { promises as fs } from 'node:fs';
import type Dockerode from 'dockerode';
import { ConfineError } from '../pipeline/errors';
import { ExecTracer } from '../trace/tracefs';
import { ProcessTree } from '../trace/trace-lines';
import { dockerMessage, statusCode } from './client';
import { ownLabels } from './leftovers';
import { Limits, RunSpec, toCreateOptions } from './run-options';

export interface TraceOptions {
  docker: Dockerode;
  /** Image ID (content digest). */
  image: string;
  spec: RunSpec;
  durationSec: number;
  runLabel: string;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
  /** Run while the container runs (e.g. a probe against 127.0.0.1), so its work is traced too. */
  probe?: () => Promise<void>;
  limits?: Limits;
}

export interface TraceResult {
  imageId: string;
  containerId: string;
  startedAt: string;
  durationSec: number;
  exitedEarly: boolean;
  exitCode?: number;
  execs: { pid: number; ppid?: number; path: string; comm?: string; tMs: number }[];
  executedPaths: string[];
  mappedObjects: string[];
  logTail: string;
  notes: string[];
}

const SAMPLE_MS = 250;
const LOG_TAIL_BYTES = 4096;

/**
 * Runs the image for `durationSec` (or until it exits) and records every program
 * executed in the container's process tree — via a private tracefs instance started
 * before the container, so nothing it runs at start-up is missed — and every file its
 * processes map (dlopen'd libraries never appear in DT_NEEDED). The container is
 * stopped and removed in every case: success, error, exit, or abort.
 */
export async function traceContainer(opts: TraceOptions): Promise<TraceResult> {
  const notes: string[] = [];
  const tracer = await ExecTracer.start();
  let container: Dockerode.Container | undefined;
  try {
    try {
      container = await opts.docker.createContainer(toCreateOptions(opts.spec, opts.image, ownLabels(opts.runLabel), opts.limits));
    } catch (e) {
      if (statusCode(e) === 404) throw new ConfineError('image-not-found', `image ${opts.image} is not in the local Docker engine: ${dockerMessage(e)}`);
      throw new ConfineError('container-start-failed', dockerMessage(e));
    }
    const exited = container.wait().then((r: { StatusCode: number }) => r.StatusCode, () => undefined);
    const startedAt = new Date();
    try {
      await container.start();
    } catch (e) {
      throw new ConfineError('container-start-failed', dockerMessage(e));
    }
    const info = await container.inspect();
    const initPid = info.State.Pid;
    opts.onProgress?.(`running (pid ${initPid}) for ${opts.durationSec} s`);

    const tree = initPid > 0 ? new ProcessTree(initPid) : undefined;
    const mapped = new Set<string>();
    let exitCode: number | undefined;
    let exitedEarly = false;
    exited.then((code) => {
      exitCode = code;
      exitedEarly = true;
    });
    const probe = opts.probe?.().catch((e) => notes.push(`probe failed: ${(e as Error).message}`));

    const deadline = Date.now() + opts.durationSec * 1000;
    while (Date.now() < deadline && !exitedEarly && !opts.signal?.aborted) {
      if (tree) {
        for (const e of tracer.take()) tree.feed(e);
        await sampleMaps(tree.members, mapped);
      }
      const left = Math.ceil((deadline - Date.now()) / 1000);
      opts.onProgress?.(`tracing: ${tree?.execs.length ?? 0} execs, ${mapped.size} mapped files, ${left} s left`);
      await Promise.race([sleep(SAMPLE_MS), exited]);
    }
    await probe;
    if (opts.signal?.aborted) throw new ConfineError('interrupted', 'interrupted while tracing');
    // Read before stopping: our own stop makes `exited` resolve too.
    const ranOut = !exitedEarly;
    if (exitedEarly) notes.push(`container exited after ${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)} s with status ${exitCode}`);

    await stopQuietly(container);
    await tracer.stop();
    if (tree) for (const e of tracer.take()) tree.feed(e);

    const execs = (tree?.execs ?? [])
      // runc's own re-exec of itself as the container's init is the host's runc, not the image's.
      .filter((e) => e.filename !== '/proc/self/exe')
      .map((e) => ({ pid: e.pid, path: e.filename, comm: e.comm, tMs: e.t }));
    const executedPaths = [...new Set(execs.map((e) => e.path))];
    for (const p of executedPaths) if (!p.startsWith('/')) notes.push(`relative exec path '${p}' recorded as given`);
    return {
      imageId: opts.image,
      containerId: container.id,
      startedAt: startedAt.toISOString(),
      durationSec: opts.durationSec,
      exitedEarly: !ranOut,
      ...(!ranOut && exitCode !== undefined ? { exitCode } : {}),
      execs,
      executedPaths,
      mappedObjects: [...mapped].sort(),
      logTail: await logTail(container),
      notes,
    };
  } finally {
    if (container) await removeQuietly(container);
    await tracer.stop();
  }
}

/**
 * Files mapped by the traced processes. /proc/PID/maps shows paths as the process
 * sees them inside its mount namespace (checked on overlay2: `/usr/lib/…/libc.so.6`),
 * which is what extraction needs. Processes may exit between listing and reading.
 */
async function sampleMaps(pids: Set<number>, into: Set<string>): Promise<void> {
  await Promise.all(
    [...pids].map(async (pid) => {
      let text: string;
      try {
        text = await fs.readFile(`/proc/${pid}/maps`, 'utf8');
      } catch {
        return;
      }
      for (const line of text.split('\n')) {
        const slash = line.indexOf('/');
        if (slash < 0) continue;
        const file = line.slice(slash).replace(/ \(deleted\)$/, '');
        if (!file.startsWith('/dev/') && !file.startsWith('/memfd:')) into.add(file);
      }
    }),
  );
}

/** Bounded: a container that printed gigabytes costs us 4 KB. */
async function logTail(container: Dockerode.Container): Promise<string> {
  try {
    const buf = (await container.logs({ stdout: true, stderr: true, tail: 100, follow: false })) as unknown as Buffer;
    return demux(buf).slice(-LOG_TAIL_BYTES);
  } catch {
    return '';
  }
}

/** Docker multiplexes stdout/stderr in 8-byte-framed chunks when there is no TTY. */
function demux(buf: Buffer): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
    const len = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return i === 0 ? buf.toString('utf8') : Buffer.concat(out).toString('utf8');
}

async function stopQuietly(c: Dockerode.Container): Promise<void> {
  await c.stop({ t: 2 }).catch(() => undefined);
}

async function removeQuietly(c: Dockerode.Container): Promise<void> {
  await c.remove({ force: true, v: true }).catch(() => undefined);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
