/**
 * Programs an object may run by a constant absolute path: NUL-terminated strings in its
 * bytes that look like one (`/bin/sh`, which glibc's system() and popen() run, or a
 * helper a server execs by its full path). Found over the whole file, like library
 * names (analysis/summary/dlopen-names.ts); which of them name a program in the image is the
 * extraction's to decide, and whether reached code really refers to one the walk's
 * (stages/syscall-resolve.ts): a stray match only costs a scan.
 *
 * Not seen: names searched in PATH (`execvp("sh", …)`) and paths built at run time or
 * read from configuration (a login shell from /etc/passwd) — the documented limit;
 * tracing a workload that runs them (probes) covers those.
 */
import { asBuffer, isNameByte } from './dlopen-names';

const MAX_LEN = 200;
const START = Buffer.from([0, 0x2f]);
/**
 * Distinct paths kept per object. Real programs hold tens to hundreds; a hostile file of
 * hundreds of MB made of "\0/aa\0/ab…" would otherwise fill memory in the index pass.
 */
export const MAX_PATHS = 50_000;

export function absolutePathsIn(bytes: Uint8Array): string[] {
  const out = new Set<string>();
  const buf = asBuffer(bytes);
  for (let i = buf.indexOf(START); i >= 0 && out.size < MAX_PATHS; i = buf.indexOf(START, i + 1)) {
    const start = i + 1;
    let end = start + 1;
    while (end < buf.length && end - start <= MAX_LEN && isNameByte(buf[end])) end++;
    // A directory or a bare "/" names no program; a string cut by a byte outside the set is no path.
    if (end >= buf.length || buf[end] !== 0 || end - start < 3 || buf[end - 1] === 0x2f) continue;
    const path = buf.toString('latin1', start, end);
    out.add(path);
    // The linker merges a string into the tail of a longer one ("/sbin/ip" inside
    // "/usr/sbin/ip"): code may refer to any '/' suffix.
    for (let i = path.indexOf('/', 1); i > 0; i = path.indexOf('/', i + 1)) if (path.length - i >= 3) out.add(path.slice(i));
  }
  return [...out].sort();
}

