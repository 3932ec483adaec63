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
  /** The exit status; undefined when the container was gone before the engine told it. */
  code: number | undefined;
}

const POLL_MS = 250;

/**
 * Call before `start`. Resolves once the container has exited after starting, or is
 * removed; never rejects. Polling ends with it, so a caller that removes the container
 * in a `finally` (as every caller here does) never leaves a timer behind.
 */
export function watchExit(container: Dockerode.Container, pollMs = POLL_MS): Promise<ContainerExit> {
  return new Promise<ContainerExit>((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
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
      // A failed wait says nothing about the container: the poll decides.
      () => undefined,
    );
    const poll = async () => {
      if (done) return;
      try {
        const s = (await container.inspect()).State;
        // 'created' before start; 'exited' or 'dead' after. A container that was
        // started and ended has a FinishedAt; one never started keeps the zero time.
        if (s && !s.Running && (s.Status === 'exited' || s.Status === 'dead') && !s.FinishedAt.startsWith('0001-')) {
          return settle({ code: s.ExitCode });
        }
      } catch (e) {
        if (statusCode(e) === 404) return settle({ code: undefined });
        // Any other error (the engine busy, restarting): ask again at the next tick.
      }
      if (!done) timer = setTimeout(poll, pollMs);
    };
    timer = setTimeout(poll, pollMs);
  });
}
