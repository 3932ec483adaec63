/**
 * Probes: the smallest workload that proves a sample server is up and serving, used
 * by the integration tests, by verify (stages/verify.ts: it must pass under the
 * profile) and by run-and-trace (system/probe/probe-window.ts: repeated through the trace
 * window, so a program a server execs only on a request — postfix's smtpd, a shell
 * PHP's shell_exec starts — is traced and analysed). A probe covers only the request
 * path it takes: other requests' programs are still seen only if the analysis of the
 * traced programs reaches them (tools/bench/out-of-corpus.sh --deep). Probes only ever talk
 * to 127.0.0.1: published ports are bound there, and nothing else on this machine is
 * reachable anyway.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { ConfineError } from '../../pipeline/errors';

export interface HttpProbe {
  kind: 'http';
  /** Host port (the published side of `-p HOST:CONTAINER`). */
  port: number;
  path: string;
  expectStatus: number;
  /** Optional substring the body must contain. */
  expectBody?: string;
}

export interface TcpProbe {
  kind: 'tcp';
  port: number;
  /** Written after connecting; omit to just read what the server says first (a greeting). */
  send?: string;
  /** Substring the reply must contain (decoded as latin1, so binary greetings work). */
  expect: string;
}

export type Probe = HttpProbe | TcpProbe;

export interface ProbeOptions {
  /** Per attempt. */
  timeoutMs?: number;
  /** Extra attempts after the first; servers take a few seconds to start. */
  retries?: number;
  /** Pause between attempts. */
  retryDelayMs?: number;
  /** No new attempt starts after this long, whatever `retries` says (bounds the worst case when attempts hang). */
  deadlineMs?: number;
  /** Stops retrying, e.g. when the container has already exited and waiting is pointless. */
  signal?: AbortSignal;
}

export interface ProbeResult {
  ok: boolean;
  /** What was seen on the last attempt (or why it failed), one line. */
  detail: string;
  attempts: number;
  elapsedMs: number;
}

const HOST = '127.0.0.1';
const MAX_READ = 64 * 1024;

type Attempt = { ok: boolean; detail: string };

/** Runs a probe until it passes or the attempts run out; never throws. */
export async function runProbe(probe: Probe, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const retries = Math.max(0, opts.retries ?? 0);
  const retryDelayMs = opts.retryDelayMs ?? 500;
  const start = Date.now();
  let last: Attempt = { ok: false, detail: 'not attempted' };
  let attempts = 0;
  for (let i = 0; i <= retries; i++) {
    if (i > 0) {
      await sleep(retryDelayMs, opts.signal);
      if (opts.deadlineMs !== undefined && Date.now() - start >= opts.deadlineMs) break;
    }
    if (opts.signal?.aborted) {
      last = { ok: false, detail: `${last.detail} (stopped: ${String(opts.signal.reason ?? 'aborted')})` };
      break;
    }
    attempts++;
    last = probe.kind === 'http' ? await httpAttempt(probe, timeoutMs) : await tcpAttempt(probe, timeoutMs);
    if (last.ok) break;
  }
  return { ok: last.ok, detail: last.detail, attempts, elapsedMs: Date.now() - start };
}

function httpAttempt(p: HttpProbe, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `http 127.0.0.1:${p.port}${p.path}: no answer within ${timeoutMs} ms` }), timeoutMs);
    // agent:false: a fresh connection per attempt, so a half-started server's
    // dead keep-alive socket is never reused.
    const req = http.get({ host: HOST, port: p.port, path: p.path, agent: false, headers: { Connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_READ) chunks.push(c);
        size += c.length;
      });
      res.on('error', (e) => done({ ok: false, detail: `http 127.0.0.1:${p.port}${p.path}: ${e.message}` }));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        const where = `http 127.0.0.1:${p.port}${p.path}`;
        if (status !== p.expectStatus) {
          done({ ok: false, detail: `${where}: status ${status}, expected ${p.expectStatus}` });
        } else if (p.expectBody !== undefined && !body.includes(p.expectBody)) {
          done({ ok: false, detail: `${where}: status ${status} but body lacks ${JSON.stringify(p.expectBody)}` });
        } else {
          done({ ok: true, detail: `${where}: status ${status}, ${size} bytes` });
        }
      });
    });
    req.on('error', (e) => done({ ok: false, detail: `http 127.0.0.1:${p.port}${p.path}: ${e.message}` }));
  });
}

function tcpAttempt(p: TcpProbe, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const where = `tcp 127.0.0.1:${p.port}`;
    let got = '';
    let settled = false;
    const done = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(a);
    };
    const timer = setTimeout(
      () => done({ ok: false, detail: `${where}: ${JSON.stringify(p.expect)} not seen within ${timeoutMs} ms (got ${preview(got)})` }),
      timeoutMs,
    );
    const sock = net.connect({ host: HOST, port: p.port }, () => {
      if (p.send !== undefined) sock.write(p.send);
    });
    sock.on('data', (c: Buffer) => {
      if (got.length < MAX_READ) got += c.toString('latin1');
      if (got.includes(p.expect)) done({ ok: true, detail: `${where}: got ${preview(got)}` });
    });
    // docker's userland proxy accepts and then closes while the server is not yet
    // listening: a close without the expected reply is a failed attempt.
    sock.on('end', () => done({ ok: false, detail: `${where}: closed after ${preview(got)}` }));
    sock.on('error', (e) => done({ ok: false, detail: `${where}: ${e.message}` }));
  });
}

function preview(s: string): string {
  if (s.length === 0) return 'nothing';
  // Printable ASCII only: greetings are binary (MariaDB's starts with a length header).
  const clean = s.replace(/[^\x20-\x7e]+/g, '.');
  return JSON.stringify(clean.length > 80 ? clean.slice(0, 80) + '...' : clean);
}

/** Resolves after `ms`, or at once when `signal` aborts (its listener removed either way). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Reads and checks a probes file: `{ "IMAGE-NAME": Probe, ... }`. Throws a
 * ConfineError (bad-input / missing-file) that names the file and the entry.
 */
export function loadProbes(path: string): Record<string, Probe> {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfineError(code === 'ENOENT' ? 'missing-file' : 'bad-input', `cannot read probes file: ${(e as Error).message}`, { file: path });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfineError('bad-input', `probes file is not JSON: ${(e as Error).message}`, { file: path });
  }
  return validateProbes(data, path);
}

/** The checks of loadProbes, on already parsed data; `file` is only for messages. */
export function validateProbes(data: unknown, file: string): Record<string, Probe> {
  if (!isObject(data)) {
    throw new ConfineError('bad-input', 'probes file must be an object mapping image names to probes', { file });
  }
  const out: Record<string, Probe> = {};
  for (const [name, raw] of Object.entries(data)) {
    const bad = (msg: string) => new ConfineError('bad-input', `probe "${name}": ${msg}`, { file, image: name });
    if (!isObject(raw)) throw bad('must be an object');
    const port = raw.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw bad(`port must be an integer 1..65535, got ${JSON.stringify(port)}`);
    }
    const known = raw.kind === 'http' ? ['kind', 'port', 'path', 'expectStatus', 'expectBody'] : ['kind', 'port', 'send', 'expect'];
    if (raw.kind === 'http') {
      if (typeof raw.path !== 'string' || !raw.path.startsWith('/')) throw bad(`path must be a string starting with "/", got ${JSON.stringify(raw.path)}`);
      const st = raw.expectStatus;
      if (typeof st !== 'number' || !Number.isInteger(st) || st < 100 || st > 599) throw bad(`expectStatus must be an HTTP status 100..599, got ${JSON.stringify(st)}`);
      if (raw.expectBody !== undefined && typeof raw.expectBody !== 'string') throw bad('expectBody must be a string');
      out[name] = { kind: 'http', port, path: raw.path, expectStatus: st, ...(raw.expectBody !== undefined ? { expectBody: raw.expectBody as string } : {}) };
    } else if (raw.kind === 'tcp') {
      if (typeof raw.expect !== 'string' || raw.expect.length === 0) throw bad('expect must be a non-empty string (a probe that accepts anything proves nothing)');
      if (raw.send !== undefined && typeof raw.send !== 'string') throw bad('send must be a string');
      out[name] = { kind: 'tcp', port, expect: raw.expect, ...(raw.send !== undefined ? { send: raw.send as string } : {}) };
    } else {
      throw bad(`kind must be "http" or "tcp", got ${JSON.stringify(raw.kind)}`);
    }
    const extra = Object.keys(raw).filter((k) => !known.includes(k));
    if (extra.length) throw bad(`unknown field(s) ${extra.join(', ')}`);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
