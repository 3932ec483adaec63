/**
 * A probe run through a trace window (run-and-trace): first retried until the server
 * answers it (as verify waits for it), then repeated while the window lasts, a bounded
 * number of times. A program a server execs only to serve a request (postfix's smtpd,
 * a shell PHP's shell_exec starts) is traced only if a request arrives while the trace
 * runs; repeating covers paths taken from the second request on (a worker forked after
 * the first, a module loaded lazily). Never throws: a failed probe does not make the
 * trace wrong, so the caller only warns (verify is where a failing probe counts).
 */
import { sleep, type ProbeOptions, type ProbeResult } from './probe';

export interface ProbeWindowOptions {
  /** Aborted when the trace window ends (or the container exits): no request starts after. */
  signal: AbortSignal;
  /** The window's length: how long to wait for the first pass at most. */
  windowMs: number;
  /** Requests in all, the first passing one included (the bound on load we put on the server). */
  maxRequests?: number;
  /** Pause between repeated requests. */
  intervalMs?: number;
  /** Pause between attempts while waiting for the server to answer. */
  retryDelayMs?: number;
}

export interface ProbeWindowResult {
  /** The probe passed at least once: the server was up and served it. */
  ready: boolean;
  /** Requests after which the probe passed / failed; attempts while waiting for readiness are not counted as failures. */
  passed: number;
  failed: number;
  /** Attempts made while waiting for the first pass (including it). */
  readyAttempts: number;
  /** The last failing attempt's detail, one line. */
  lastFailure?: string;
}

export const PROBE_WINDOW_DEFAULTS = { maxRequests: 20, intervalMs: 500, retryDelayMs: 250 } as const;

/** `attempt` runs the probe once with the options given (runProbe bound to a probe). */
export async function probeThroughWindow(attempt: (o: ProbeOptions) => Promise<ProbeResult>, o: ProbeWindowOptions): Promise<ProbeWindowResult> {
  const maxRequests = Math.max(1, o.maxRequests ?? PROBE_WINDOW_DEFAULTS.maxRequests);
  const intervalMs = o.intervalMs ?? PROBE_WINDOW_DEFAULTS.intervalMs;
  const retryDelayMs = o.retryDelayMs ?? PROBE_WINDOW_DEFAULTS.retryDelayMs;
  const out: ProbeWindowResult = { ready: false, passed: 0, failed: 0, readyAttempts: 0 };

  // Retries bounded by the window, not a count: a server may take most of it to start.
  const first = await attempt({ retries: Math.ceil(o.windowMs / Math.max(1, retryDelayMs)), retryDelayMs, deadlineMs: o.windowMs, signal: o.signal });
  out.readyAttempts = first.attempts;
  if (!first.ok) {
    if (first.attempts > 0) out.lastFailure = first.detail;
    return out;
  }
  out.ready = true;
  out.passed = 1;

  while (out.passed + out.failed < maxRequests && !o.signal.aborted) {
    await sleep(intervalMs, o.signal);
    if (o.signal.aborted) break;
    const r = await attempt({ retries: 0, signal: o.signal });
    // No attempt made: the window ended between the check and the call.
    if (r.attempts === 0) break;
    if (r.ok) out.passed++;
    else {
      out.failed++;
      out.lastFailure = r.detail;
    }
  }
  return out;
}

/** One stage-log line; `warning` when the probe never passed or some request failed. */
export function describeProbeWindow(r: ProbeWindowResult): { line: string; warning: boolean } {
  if (!r.ready) {
    const why = r.lastFailure ? `after ${r.readyAttempts} attempt(s); last: ${r.lastFailure}` : 'no attempt was made before the window ended';
    return {
      line: `warning: the probe never passed during the trace window (${why}); programs the server runs only for a request may be missing from the trace`,
      warning: true,
    };
  }
  const n = r.passed + r.failed;
  if (r.failed > 0) return { line: `warning: probe: ${r.passed} of ${n} requests passed during the trace window; last failure: ${r.lastFailure}`, warning: true };
  return { line: `probe: ${n} request(s) passed during the trace window`, warning: false };
}
