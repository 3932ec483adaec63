/**
 * When a container we are about to start exits, and with what status.
 *
 * Docker's `wait` (condition `next-exit`) alone can miss the exit: its request is sent
 * before `start`, but nothing tells us when the engine has registered it, so a program
 * that exits at once can be gone first, and `next-exit` then waits for an exit that never
 * comes. That hung a calibration run (a test timed out and left its container). So the
 * wait is backed by `inspect`: once the engine reports the container exited, that is the
 * answer, whichever comes first.
 */
import type Dockerode from 'dockerode';
import { statusCode } from './client';

export interface ContainerExit {
  /** The exit status; undefined when the engine could not tell it (the container was removed, or the engine stopped answering). */
  code: number | undefined;
}

/** Polls this often for the first seconds (where the race is), then less often. */
const POLL_MS = 250;
const POLL_LATER_MS = 1000;
const FAST_POLLS = 20;
/** After the wait failed, this many inspects failing in a row mean the engine is gone. */
const FAILED_INSPECTS = 3;

/**
 * Call before `start`. Resolves once the container has exited after starting, is
 * removed, or the engine stops answering; never rejects. Polling ends with it, so a
 * caller that removes the container in a `finally` (as every caller here does) never
 * leaves a timer behind.
 */
export function watchExit(container: Dockerode.Container, pollMs = POLL_MS): Promise<ContainerExit> {
  return new Promise<ContainerExit>((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let waitFailed = false;
    let failedInspects = 0;
    let polls = 0;
    // A wait that missed its exit would hold its socket open, and the process with it.
    const stopWaiting = new AbortController();
    const settle = (exit: ContainerExit) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stopWaiting.abort();
      resolve(exit);
    };
    container.wait({ condition: 'next-exit', abortSignal: stopWaiting.signal }).then(
      (r: { StatusCode?: number }) => settle({ code: r?.StatusCode }),
      // A failed wait alone says nothing about the container: the poll decides.
      () => (waitFailed = true),
    );
    const poll = async () => {
      if (done) return;
      try {
        const s = (await container.inspect()).State;
        failedInspects = 0;
        // 'created' before start; 'exited' or 'dead' after. A container that was
        // started and ended has a FinishedAt; one never started keeps the zero time.
        if (s && !s.Running && (s.Status === 'exited' || s.Status === 'dead') && !s.FinishedAt.startsWith('0001-')) {
          return settle({ code: s.ExitCode });
        }
      } catch (e) {
        if (statusCode(e) === 404) return settle({ code: undefined });
        // The engine busy or restarting: ask again, unless the wait failed too, several times over.
        if (waitFailed && ++failedInspects >= FAILED_INSPECTS) return settle({ code: undefined });
      }
      if (!done) timer = setTimeout(poll, ++polls < FAST_POLLS ? pollMs : Math.max(pollMs, POLL_LATER_MS));
    };
    timer = setTimeout(poll, pollMs);
  });
}
