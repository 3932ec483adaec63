import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * A file's bytes in shared memory: posting them to a scan worker then shares the
 * buffer instead of copying it. A copy of the bench's 72 MB of objects cost about
 * 0.2 s of this thread and as much again on the workers before they could start.
 * Reads to the end as `readFileSync` does (a file that shrank gives what is there).
 */
export function readFileShared(hostPath: string): Buffer {
  const fd = openSync(hostPath, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.from(new SharedArrayBuffer(size));
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n === 0) return bytes.subarray(0, done);
      done += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}
