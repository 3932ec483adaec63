/**
 * Execs whose file name does not name a file of the image: `fexecve` and
 * `execveat(fd, "", AT_EMPTY_PATH)` (the kernel records `/dev/fd/N`), `execveat(dirfd,
 * name)` (`/dev/fd/N/name`), `/proc/self/fd/N`, `/proc/self/exe`. The program behind
 * them is what `/proc/PID/exe` shows while the process runs it — a file of the image,
 * or one that cannot be had (a memfd, a file deleted or written at run time). Pure.
 */
import type { TraceEvent } from './trace-lines';

/** Whether an exec's file name reaches the program through a descriptor or /proc (both mounted over the image at run time). */
export function namesProgramIndirectly(filename: string): boolean {
  return /^\/(dev\/fd|proc)\//.test(filename) || /^\/dev\/std(in|out|err)$/.test(filename);
}

/** `/proc/self/exe`: the program the exec'ing process was running (process-tree.ts TreeExec.previous). */
export function isSelfExe(filename: string): boolean {
  return /^\/proc\/(self|thread-self)\/exe$/.test(filename);
}

export type ExeLink = { path: string } | { unobtainable: string };

/**
 * What `readlink /proc/PID/exe` (in container terms, see maps.ts) says about the program
 * a process runs: a path to look up in the image, or why there is no file to analyse.
 */
export function programOfExeLink(link: string): ExeLink {
  const memfd = /^\/memfd:(.*?)(?: \(deleted\))?$/.exec(link);
  if (memfd) return { unobtainable: `a program held in memory (memfd_create "${memfd[1]}"), not a file` };
  if (link.endsWith(' (deleted)')) return { unobtainable: `${link.slice(0, -' (deleted)'.length)}, deleted after it was started` };
  if (!link.startsWith('/')) return { unobtainable: `an object that is not a file (${link})` };
  return { path: link };
}

/**
 * How long before its exec record the kernel may already show a new program in
 * /proc/PID/exe (it switches the exe in begin_new_exec and records the exec once the
 * ELF is loaded: microseconds, more on a loaded host): generous, as a doubt only fails.
 */
export const EXE_SWITCH_SLACK_MS = 1000;

/** /proc/PID/exe read for an exec at `t`, finished at `readAt` (the trace's clock), showing `shown`. */
export interface ExeRead {
  pid: number;
  t: number;
  readAt: number;
  shown: string;
}

/**
 * Whether an event seen after the read means the read may show another program than
 * the one that exec ran: the pid exec'd again before the read finished (or just after,
 * a program the read could have shown), or it exited before (its pid may be another
 * process's by then).
 */
export function contradictsExeRead(e: TraceEvent, read: ExeRead): boolean {
  if (e.kind === 'lost' || e.t <= read.t) return false;
  if (e.kind === 'exit') return e.pid === read.pid && e.t <= read.readAt;
  if (e.kind !== 'exec' || (e.pid !== read.pid && e.oldPid !== read.pid)) return false;
  if (e.t <= read.readAt) return true;
  const otherProgram = e.filename.startsWith('/') && !namesProgramIndirectly(e.filename) && e.filename !== read.shown;
  return e.t <= read.readAt + EXE_SWITCH_SLACK_MS && !otherProgram;
}
