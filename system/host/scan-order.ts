/**
 * The order `confine analyze` hands objects to its scan workers. Largest first keeps the
 * workers evenly loaded to the end, but a program is walked only once every object it
 * loads is scanned, so a small library many programs load (libc, libz) scanned last holds
 * every walk back to the end, where the walks then run one after another on an idle
 * machine (0.7 s of libcrypto's walk waited on libz this way). So: the largest objects
 * first on all workers but one, then the objects several programs load, then the rest,
 * each group largest first. With one program, that is largest first.
 */
export interface ScanCandidate<K> {
  key: K;
  size: number;
  /** How many of the programs to walk load it. */
  users: number;
}

export function scanOrder<K>(objects: readonly ScanCandidate<K>[], workers: number): K[] {
  const bySize = [...objects].sort((a, b) => b.size - a.size);
  const first = bySize.slice(0, Math.max(0, workers - 1));
  const rest = bySize.slice(first.length);
  return [...first, ...rest.filter((o) => o.users > 1), ...rest.filter((o) => o.users <= 1)].map((o) => o.key);
}
