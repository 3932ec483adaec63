/**
 * CONFINE_ANALYZE_TIMING lines carry when they were written, in seconds since the
 * analysing process started, so the lines of its worker threads line up on one clock
 * (each thread's performance.now() starts at that thread's own start).
 */
export function at(): string {
  const now = performance.timeOrigin + performance.now();
  const t0 = Number(process.env.CONFINE_ANALYZE_T0 ?? now);
  return `@${((now - t0) / 1000).toFixed(2)} `;
}
