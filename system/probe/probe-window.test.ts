import type { ProbeOptions, ProbeResult } from './probe';
import { describeProbeWindow, probeThroughWindow } from './probe-window';

/** A probe whose attempts answer from a script: `ready` attempts fail before the server is up, then `answers` in turn (true = pass). */
function scripted(notReadyFor: number, answers: boolean[] = []) {
  const calls: ProbeOptions[] = [];
  let waited = 0;
  let i = 0;
  const attempt = async (o: ProbeOptions): Promise<ProbeResult> => {
    calls.push(o);
    if (o.signal?.aborted) return { ok: false, detail: 'stopped', attempts: 0, elapsedMs: 0 };
    if (calls.length === 1) {
      // The readiness call: runProbe retries inside it, up to o.retries.
      const tries = Math.min(notReadyFor + 1, (o.retries ?? 0) + 1);
      waited = tries;
      const ok = notReadyFor < tries;
      return { ok, detail: ok ? 'up' : 'connection refused', attempts: waited, elapsedMs: 0 };
    }
    const ok = answers[i++] ?? true;
    return { ok, detail: ok ? 'ok' : `request ${calls.length} refused`, attempts: 1, elapsedMs: 0 };
  };
  return { attempt, calls };
}

const open = () => new AbortController().signal;

describe('probeThroughWindow', () => {
  test('waits for the first pass, then repeats up to the bound', async () => {
    const s = scripted(3);
    const r = await probeThroughWindow(s.attempt, { signal: open(), windowMs: 10_000, maxRequests: 5, intervalMs: 1 });
    expect(r).toEqual({ ready: true, passed: 5, failed: 0, readyAttempts: 4 });
    expect(s.calls).toHaveLength(5);
    // Readiness retries are bounded by the window, not by verify's count of 20.
    expect(s.calls[0]).toMatchObject({ deadlineMs: 10_000, retries: 40, retryDelayMs: 250 });
    for (const c of s.calls.slice(1)) expect(c.retries).toBe(0);
  });

  test('a failed request is counted and the loop goes on', async () => {
    const s = scripted(0, [true, false, true]);
    const r = await probeThroughWindow(s.attempt, { signal: open(), windowMs: 1000, maxRequests: 4, intervalMs: 1 });
    expect(r).toEqual({ ready: true, passed: 3, failed: 1, readyAttempts: 1, lastFailure: 'request 3 refused' });
    expect(describeProbeWindow(r)).toEqual({ line: 'warning: probe: 3 of 4 requests passed during the trace window; last failure: request 3 refused', warning: true });
  });

  test('a probe that never passes makes no repeated requests and is a warning', async () => {
    const s = scripted(1_000_000);
    const r = await probeThroughWindow(s.attempt, { signal: open(), windowMs: 2000, maxRequests: 5, intervalMs: 1 });
    expect(r).toEqual({ ready: false, passed: 0, failed: 0, readyAttempts: 9, lastFailure: 'connection refused' });
    expect(s.calls).toHaveLength(1);
    const d = describeProbeWindow(r);
    expect(d.warning).toBe(true);
    expect(d.line).toMatch(/^warning: the probe never passed during the trace window \(after 9 attempt\(s\); last: connection refused\)/);
  });

  test('stops when the window ends, however high the bound', async () => {
    const window = new AbortController();
    let n = 0;
    const attempt = async (o: ProbeOptions): Promise<ProbeResult> => {
      if (o.signal?.aborted) return { ok: false, detail: 'stopped', attempts: 0, elapsedMs: 0 };
      if (++n === 3) window.abort('window over');
      return { ok: true, detail: 'ok', attempts: 1, elapsedMs: 0 };
    };
    const r = await probeThroughWindow(attempt, { signal: window.signal, windowMs: 1000, maxRequests: 1000, intervalMs: 1 });
    expect(r).toEqual({ ready: true, passed: 3, failed: 0, readyAttempts: 1 });
    expect(describeProbeWindow(r)).toEqual({ line: 'probe: 3 request(s) passed during the trace window', warning: false });
  });

  test('a window already over makes no request', async () => {
    const window = new AbortController();
    window.abort();
    const s = scripted(0);
    const r = await probeThroughWindow(s.attempt, { signal: window.signal, windowMs: 1000 });
    expect(r).toEqual({ ready: false, passed: 0, failed: 0, readyAttempts: 0 });
    expect(describeProbeWindow(r).line).toMatch(/no attempt was made before the window ended/);
  });
});
