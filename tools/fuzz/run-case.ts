/**
 * One fuzz case: a mutated binary through the ELF reader and symbol-scan exactly as
 * the stage calls them, then through the checks the content store applies before it
 * writes the artifact. Anything thrown that is not a ConfineError is a crash.
 */
import { createHash } from 'node:crypto';
import { parseElf } from '../../analysis/elf';
import { ConfineError } from '../../pipeline/errors';
import { scanFile } from '../../analysis/scan/scan-file';
import { canonicalJson } from '../../cache/canonical-json';
import { validateArtifact } from '../../schemas/validate';
import { Layout, layoutOf, mutate, Mutant, rng } from './mutate';
import type { Seed } from './corpus';

export type Outcome =
  | 'scanned' // scanFile returned an analysed or not-analysed ELF artifact
  | 'malformed' // scanFile returned format 'malformed' (the typed error, as a value)
  | 'not-elf'
  | 'confine-error' // scanFile threw a ConfineError (the image's stage fails with it; allowed, counted)
  | 'crash' // anything else thrown
  | 'schema-invalid'; // a value the content store would refuse to write: the stage would fail

export interface CaseResult {
  i: number;
  seed: string;
  ops: string[];
  outcome: Outcome;
  /** parseElf alone: accepted, or the ConfineError kind it threw. */
  parse: string;
  ms: number;
  detail?: string;
}

export interface Prepared {
  seeds: Seed[];
  layouts: Layout[];
  cumulative: number[];
}

export function prepare(seeds: Seed[]): Prepared {
  let sum = 0;
  const cumulative = seeds.map((s) => (sum += s.weight));
  return { seeds, layouts: seeds.map((s) => layoutOf(s.bytes)), cumulative };
}

/** Case i of run `seed`: the same (seed, i) always gives the same bytes. */
export function caseInput(p: Prepared, seed: number, i: number): { seedIndex: number; mutant: Mutant } {
  const r = rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
  const total = p.cumulative[p.cumulative.length - 1];
  const x = r() * total;
  const seedIndex = Math.max(0, p.cumulative.findIndex((c) => x < c));
  return { seedIndex, mutant: mutate(p.seeds[seedIndex].bytes, p.layouts[seedIndex], r) };
}

export function runCase(p: Prepared, seed: number, i: number, fault?: 'hang' | 'memory' | 'crash'): CaseResult {
  const { seedIndex, mutant } = caseInput(p, seed, i);
  const label = `fuzz-${seed}-${i}`;
  const t0 = performance.now();
  let parse = 'ok';
  try {
    parseElf(mutant.bytes, label);
  } catch (e) {
    parse = e instanceof ConfineError ? e.kind : `THROW ${(e as Error)?.name}`;
  }
  const base = { i, seed: p.seeds[seedIndex].name, ops: mutant.ops, parse };
  const done = (outcome: Outcome, detail?: string): CaseResult => ({ ...base, outcome, ms: Math.round(performance.now() - t0), ...(detail ? { detail } : {}) });
  if (parse.startsWith('THROW')) return done('crash', `parseElf threw a non-ConfineError: ${parse}`);
  try {
    const digest = `sha256:${createHash('sha256').update(mutant.bytes).digest('hex')}`;
    if (fault) injectFault(fault);
    const v = scanFile(mutant.bytes, digest, label);
    canonicalJson(v);
    const invalid = validateArtifact('confine/elf-scan/v1', v);
    if (invalid) return done('schema-invalid', invalid);
    return done(v.format === 'malformed' ? 'malformed' : v.format === 'not-elf' ? 'not-elf' : 'scanned');
  } catch (e) {
    if (e instanceof ConfineError && e.kind !== 'internal') return done('confine-error', `${e.kind}: ${e.message}`);
    const err = e as Error;
    return done('crash', `${err?.name}: ${err?.message}\n${(err?.stack ?? '').split('\n').slice(1, 6).join('\n')}`);
  }
}

/** What the harness must catch, planted on purpose (--self-test): proves a clean run means something. */
function injectFault(fault: 'hang' | 'memory' | 'crash'): void {
  if (fault === 'crash') (undefined as unknown as { x: number }).x;
  const keep: number[][] = [];
  for (;;) if (fault === 'memory') keep.push(new Array(1 << 20).fill(1));
}
