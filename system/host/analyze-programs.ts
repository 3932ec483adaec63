import * as path from 'node:path';
import { fingerprintKey } from '../../cache/fingerprint';
import type { ProgramObject } from '../../analysis/link/link';
import { asConfineError } from '../../pipeline/errors';
import type { ObjectSummary } from '../../schemas/types';
import { at } from '../../analysis/scan/timing-stamp';
import type { ScanPool } from '../../analysis/scan/scan-pool';
import { SPLIT_MIN_BYTES } from '../../analysis/x86/split-threshold';
import type { FoundObject, ObjectFiles } from './host-resolver';
import { objectsOf, planProgram, type PlannedObject, type ProgramPlan } from './program-plan';
import { scanOrder } from './scan-order';
import { fromStored, resolutionFingerprint, toStored, type AnalyzedBinary, type StoredAnalysis } from './stored-analysis';
import type { SummarySource } from './summary-source';

/*
 * `confine analyze`'s work, without its command line: plan each program (load order
 * under a root), scan its objects (on workers), walk it (analysis/link/link.ts), and
 * keep or reuse each program's whole answer by content (stored-analysis.ts).
 */

/** Analyses one program found at `rootPath` inside `root`. */
export async function analyzeBinary(root: string, rootPath: string, source: SummarySource): Promise<AnalyzedBinary> {
  return analyzePlan(planProgram(root, rootPath), source);
}

async function analyzePlan(plan: ProgramPlan, source: SummarySource, pool?: ScanPool): Promise<AnalyzedBinary> {
  // The walk (and the x86 code its argument rules load) only when a program is walked: a warm run reuses every result.
  const { openedByHashes, resolveWithLayerFigure } = require('../../analysis/link/link') as typeof import('../../analysis/link/link');
  const rootPath = plan.rootPath;
  const art = await source.get(plan.bytes, rootPath, pool);
  if (!art.analysis) return { path: rootPath, error: art.error ?? `${art.format}: no code to analyse`, missing: [] };
  if (!plan.order) throw plan.failure;
  const order = plan.order;
  const summaryOf = async (o: FoundObject): Promise<ProgramObject | undefined> => {
    const s = await source.get(o.bytes, o.rootPath, pool);
    return s.analysis ? { path: o.rootPath, summary: s.analysis } : undefined;
  };
  const libraries: ProgramObject[] = [];
  const missing = order.missing.map((m) => `${m.name} (needed by ${m.neededBy})`);
  for (const l of order.libraries) {
    const s = await summaryOf(l);
    if (s) libraries.push(s);
    else missing.push(`${l.rootPath} (not analysable)`);
  }
  const loader = order.loader ? await summaryOf(order.loader) : undefined;
  for (const c of order.candidates) {
    const s = await summaryOf(c.object);
    if (s) libraries.push({ ...s, openedBy: openedByHashes(c.object.rootPath, c.object.info.soname, c.names) });
  }
  const resolution = resolveWithLayerFigure({ executable: { path: rootPath, summary: art.analysis as ObjectSummary }, libraries, ...(loader ? { loader } : {}) });
  return { path: rootPath, resolution, missing, ...(art.go ? { go: art.go } : {}) };
}

/**
 * Analyses several programs. With a store, each program's whole answer is cached
 * under its inputs' contents (see resolutionFingerprint): an unchanged rerun hashes
 * the files, reads one small entry per program and scans nothing. Otherwise the
 * objects of every program still to resolve are scanned on the pool's workers (in
 * scan-order.ts's order: largest, then shared, then the rest), and each program is
 * walked on this thread once its own objects are in.
 */
export async function analyzePrograms(root: string, rootPaths: string[], source: SummarySource): Promise<AnalyzedBinary[]> {
  const store = source.store;
  const t = phaseTimer();
  const files: ObjectFiles = new Map();
  // A program that cannot be read is that program's error, not the whole command's.
  const unreadable = new Map<number, string>();
  const reader = source.reader();
  const plans = rootPaths.map((rp, i) => {
    try {
      return planProgram(root, rp, files, source.trees.listing, reader);
    } catch (e) {
      unreadable.set(i, `cannot read it: ${(e as Error).message}`);
      return { rootPath: rp, bytes: new Uint8Array(0), failure: e };
    }
  });
  t('plan (read files, load order)');
  // OpenSSL's SHA-256 runs at >1 GB/s here (SHA-NI): inline beats WebCrypto's copy to its thread pool.
  plans.forEach((p, i) => {
    if (!unreadable.has(i)) for (const o of objectsOf(p)) if (o.digest === undefined) source.digestOfFile(path.join(root, o.rootPath), o.bytes);
  });
  t('hash');
  const fps = plans.map((p) => (store && p.order ? resolutionFingerprint(p, source) : undefined));
  const results: (AnalyzedBinary | undefined)[] = await Promise.all(
    fps.map(async (fp, i) => {
      const unread = unreadable.get(i);
      if (unread !== undefined) return { path: rootPaths[i], error: unread, missing: [] };
      if (!store || !fp) return undefined;
      const got = await store.read<StoredAnalysis>(fingerprintKey(fp));
      return got.status === 'hit' ? fromStored(got.artifact) : undefined;
    }),
  );
  t(`program entries (${results.filter(Boolean).length}/${plans.length} reused)`);

  // Only objects a walk will read: an executable the scan will refuse (not x86-64) has no walk.
  const jobs = new Map<string, PlannedObject>();
  const users = new Map<string, number>();
  plans.forEach((p, i) => {
    if (results[i]) return;
    const walks = p.info !== undefined && p.info.elfClass === 64 && p.info.machine === EM_X86_64 && (p.info.type === 'exec' || p.info.type === 'dyn');
    const mine = new Set<string>();
    for (const o of walks ? objectsOf(p) : objectsOf(p).slice(0, 1)) {
      const d = source.objectDigest(o);
      if (!jobs.has(d)) jobs.set(d, o);
      mine.add(d);
    }
    for (const d of mine) users.set(d, (users.get(d) ?? 0) + 1);
  });
  // Every program's entry was reused: nothing to scan or walk.
  if (jobs.size === 0) return results as AnalyzedBinary[];
  // A file with that much code (or more) may be large enough to decode on several workers.
  const large = [...jobs.values()].filter((o) => o.bytes.length >= SPLIT_MIN_BYTES).length;
  // Loaded here, so that a warm run never loads the decoder the workers use.
  const { ScanPool } = require('../../analysis/scan/scan-pool') as typeof import('../../analysis/scan/scan-pool');
  const pool = new ScanPool(ScanPool.sizeFor(jobs.size, large), store);
  try {
    const order = scanOrder([...jobs].map(([key, o]) => ({ key, size: o.bytes.length, users: users.get(key) ?? 1 })), pool.size);
    const started = order.map((key) => jobs.get(key)!).map((o) => source.get(o.bytes, o.rootPath, pool));
    // Each program is walked as soon as its own objects are scanned (libc's while a large
    // Go binary is still being scanned), on this otherwise idle thread.
    const walks = plans.map(async (plan, i) => {
      if (results[i]) return results[i]!;
      const r = await analyzePlan(plan, source, pool);
      t(`walk ${plan.rootPath}`);
      const fp = fps[i];
      // An answer that cannot be kept is still the answer: not caching it only costs a walk next time.
      if (store && fp && r.resolution) {
        await store.write(fp, toStored(r)).catch((e: Error) => process.stderr.write(`confine analyze: ${plan.rootPath}: answer not cached: ${e.message}\n`));
      }
      return r;
    });
    const settled = await Promise.allSettled(walks);
    await Promise.allSettled(started);
    t(`scan ${jobs.size} objects (${pool.size} workers) and walk ${plans.length - results.filter(Boolean).length} programs`);
    // One program failing (no load order, a broken library) is that program's error entry.
    for (let i = 0; i < plans.length; i++) {
      const w = settled[i];
      results[i] = w.status === 'fulfilled' ? w.value : { path: plans[i].rootPath, error: asConfineError(w.reason).message, missing: [] };
    }
    await pool.flush();
    t('wait for workers to write scan entries');
  } finally {
    await pool.close();
  }
  return results as AnalyzedBinary[];
}

const EM_X86_64 = 62;

/** CONFINE_ANALYZE_TIMING=1: wall time per phase on stderr (for tools/bench/ and profiling), else nothing. */
function phaseTimer(): (what: string) => void {
  if (!process.env.CONFINE_ANALYZE_TIMING) return () => undefined;
  process.env.CONFINE_ANALYZE_T0 ??= String(performance.timeOrigin);
  let last = performance.now();
  return (what) => {
    const now = performance.now();
    process.stderr.write(`[analyze] ${at()}${what}: ${((now - last) / 1000).toFixed(2)} s\n`);
    last = now;
  };
}

