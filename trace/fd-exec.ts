/**
 * Execs whose file name does not name a file of the image: `fexecve` and
 * `execveat(fd, "", AT_EMPTY_PATH)` (the kernel records `/dev/fd/N`), `execveat(dirfd,
 * name)` (`/dev/fd/N/name`), `/proc/self/fd/N`, `/proc/self/exe`. The program behind
 * them is what `/proc/PID/exe` shows while the process runs it — a file of the image,
 * or one that cannot be had (a memfd, a file deleted or written at run time). Pure.
 */

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
