/** Index of the last element of an ascending array that is ≤ value, or -1 when none is. */
export function lastAtOrBefore(sorted: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= value) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best;
}
