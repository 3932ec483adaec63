import { lastAtOrBefore } from './sorted';
import type { FunctionStart } from './types';

/**
 * The start of a function an FDE or symbol sizes whose code strictly contains `x` (it
 * starts before `x` and ends after it), or undefined. Aliases at one start count with
 * their largest size; a running maximum of the ends finds `x` inside an earlier long
 * extent too. Data-derived starts (data-starts.ts) and section starts (from-elf.ts) both
 * ask it: neither may cut a function whose extent the file states.
 */
export function sizedExtentContaining(starts: readonly FunctionStart[]): (x: number) => number | undefined {
  const size = new Map<number, number>();
  for (const s of starts) if (s.size && s.size > 0) size.set(s.addr, Math.max(size.get(s.addr) ?? 0, s.size));
  const addrs = [...size.keys()].sort((a, b) => a - b);
  const maxEnd: number[] = [];
  let reach = -Infinity;
  for (const a of addrs) maxEnd.push((reach = Math.max(reach, a + size.get(a)!)));
  return (x) => {
    // The last extent starting before x (addresses are integers); walk back while an earlier one may still cover it.
    for (let i = lastAtOrBefore(addrs, x - 1); i >= 0 && maxEnd[i] > x; i--) if (addrs[i] + size.get(addrs[i])! > x) return addrs[i];
    return undefined;
  };
}
