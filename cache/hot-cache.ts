import NodeCache from 'node-cache';

/**
 * Keeps recently used artifacts (a parsed libc graph, a scan shared by many images)
 * in memory within one run, so a hundred images sharing glibc read it from disk once.
 * Values are never cloned: artifacts are treated as immutable.
 */
export class HotCache {
  private cache = new NodeCache({ useClones: false, stdTTL: 600, checkperiod: 120, maxKeys: 5000 });

  get<T>(key: string): T | undefined {
    return this.cache.get<T>(key);
  }

  set(key: string, value: unknown): void {
    try {
      this.cache.set(key, value);
    } catch {
      // maxKeys reached: the disk store still has it; memory stays bounded.
    }
  }
}
