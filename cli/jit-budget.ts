import { setFlagsFromString } from 'node:v8';

/**
 * V8 optimises a function after it has run for an "interrupt budget" of bytecode. With
 * the default, the analysis's large loops (range facts, the decoder, the walk) are
 * optimised before their rarer branches have run, deoptimise when those do, and are
 * compiled again: measured on tools/bench/analyze-vs-objdump.sh, TurboFan compiling took
 * ~30% of a cold analyze's CPU, each scan worker compiling the same code. A budget about
 * 8x the default lets each function gather its type feedback first: cold analyze was
 * ~17% faster (5.8 s → 4.8 s, 2 cores), with fewer deoptimisations and no slower steady
 * state. Flags are process-wide, so it must run before any worker thread starts.
 * CONFINE_V8_DEFAULTS=1 leaves V8's defaults (to compare).
 */
export const JIT_INTERRUPT_BUDGET = 1_000_000;

export function tuneJit(): void {
  if (process.env.CONFINE_V8_DEFAULTS === '1') return;
  setFlagsFromString(`--interrupt-budget=${JIT_INTERRUPT_BUDGET}`);
}
