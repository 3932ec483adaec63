/**
 * Files a process has mapped, from `/proc/PID/maps`. Measured on this host (6.18,
 * Docker 20.10, overlay2): read from the host, the paths of a container's mappings
 * already appear as inside the container (`/usr/lib/x86_64-linux-gnu/libc.so.6`),
 * because the kernel prints a path relative to the reader's root and the
 * container's root is not under ours, so it stops at the container's own root. If a
 * kernel printed the host path instead, it would start with the container's
 * GraphDriver MergedDir, which `toContainerPath` strips.
 */
const PSEUDO = /^(\/dev\/|\/memfd:|\/SYSV|\/anon_hugepage|\/\[)/;

/**
 * The distinct regular-file paths in a maps text (pseudo files, memfds and deleted files
 * left out); `executableOnly`: only files mapped with execute permission (code).
 */
export function mappedPaths(maps: string, executableOnly = false): string[] {
  const out = new Set<string>();
  for (const line of maps.split('\n')) {
    // addr perms offset dev inode path — path starts after the 5th field and may contain spaces.
    const m = /^\S+\s+(\S+)\s+\S+\s+\S+\s+(\d+)\s+(\/.*)$/.exec(line);
    if (!m || m[2] === '0') continue;
    if (executableOnly && !m[1].includes('x')) continue;
    const p = m[3];
    if (p.endsWith(' (deleted)') || PSEUDO.test(p)) continue;
    out.add(p);
    // The kernel writes a newline in a mapped file's name as \012 (and leaves a real
    // backslash alone): both readings are candidates; the one not in the image is skipped.
    if (p.includes('\\012')) out.add(p.replace(/\\012/g, '\n'));
  }
  return [...out];
}

/** A path as the host printed it → the same file's path inside the container. */
export function toContainerPath(p: string, mergedDir?: string): string {
  if (mergedDir) {
    const prefix = mergedDir.replace(/\/+$/, '');
    if (p === prefix) return '/';
    if (p.startsWith(prefix + '/')) return p.slice(prefix.length);
  }
  return p;
}

/** Resolves a relative exec filename against the process's cwd (both in container terms). */
export function resolveExecPath(filename: string, cwd: string): string {
  if (filename.startsWith('/')) return filename;
  const parts = (cwd.replace(/\/+$/, '') + '/' + filename).split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (!part || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}
