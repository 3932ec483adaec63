import * as path from 'node:path';
import type { ProfileArtifact, ResolveArtifact, TraceArtifact, VerifyArtifact } from '../../schemas/types';
import type { CacheReader } from './artifacts';
import { imageLanguages } from './artifacts';
import type { DetailReportRow, SummaryReportRow } from './seed-report';

/** Everything known about one image of a run, from its stages' artifacts. */
export interface ImageRunFacts {
  rank: number;
  name: string;
  trace?: TraceArtifact;
  resolve?: ResolveArtifact;
  profile?: ProfileArtifact;
  verify?: VerifyArtifact;
  languages: string[];
  /** The first failed stage's error, as `stage: kind: message`. */
  error?: string;
  seconds?: number;
}

const LIBC = /^(libc[.-]|ld-musl|ld-linux)/;

/**
 * The seed's two report rows for an image. Blocked counts are relative to `universe`
 * (our x86-64 table); "beyond Docker's default" counts syscalls Docker's default
 * profile allows that ours blocks.
 */
export function reportRows(f: ImageRunFacts, universe: readonly string[], dockerAllowed: ReadonlySet<string>): { summary: SummaryReportRow; detail?: DetailReportRow } {
  const dockerBlocked = universe.filter((s) => !dockerAllowed.has(s));
  const allowed = new Set(f.profile?.allowed ?? []);
  const blocked = f.profile ? universe.filter((s) => !allowed.has(s)) : [];
  const blockedSet = new Set(blocked);
  const beyond = blocked.filter((s) => dockerAllowed.has(s)).length;
  const union = new Set([...blocked, ...dockerBlocked]).size;
  let direct = 0;
  let libc = 0;
  for (const p of Object.values(f.resolve?.provenance ?? {})) {
    if (p.siteObject === p.binary) direct++;
    else if (LIBC.test(path.posix.basename(p.siteObject))) libc++;
  }
  const fn = f.verify ? f.verify.falseNegatives.length : null;
  // A profile kept whole (a reached site's number is unknown) hardens nothing beyond the base.
  const hardened = !!f.profile && !f.profile.fallback && (fn === null || fn === 0);
  const summary: SummaryReportRow = {
    rank: f.rank,
    name: f.name,
    launched: !!f.trace,
    stillRunning: !!f.trace && !f.trace.exitedEarly,
    installStatus: false,
    blocked: blocked.length,
    blockedBeyondDefault: beyond,
    blockedTotalInclDefault: f.profile ? union : dockerBlocked.length,
    hardened,
    error: f.error ?? (fn ? `verify: ${fn} false negative(s)` : f.profile?.fallback ? `not hardened: ${f.profile.fallback.reason}` : ''),
    directSyscalls: direct,
    libcSyscalls: libc,
    seconds: f.seconds ?? null,
    languages: f.languages,
    remaining: f.profile ? dockerBlocked.filter((s) => !blockedSet.has(s)).length : null,
    allowed: f.profile ? f.profile.allowedCount : null,
    unresolvedSites: f.resolve ? f.resolve.unresolvedSites : null,
    falseNegatives: fn,
  };
  if (!f.profile) return { summary };
  return {
    summary,
    detail: {
      rank: f.rank, name: f.name, blocked: blocked.length, blockedBeyondDefault: beyond, blockedTotalInclDefault: union,
      directSyscalls: direct, libcSyscalls: libc, blockedSyscalls: blocked,
      allowed: summary.allowed, unresolvedSites: summary.unresolvedSites, falseNegatives: fn,
    },
  };
}

/** Collects an image's facts from the cache (latest artifacts via the ledger); `profile` may be given by the caller. */
export async function gatherFacts(reader: CacheReader, image: { rank: number; name: string }, profile?: ProfileArtifact): Promise<ImageRunFacts> {
  const stages = ['run-and-trace', 'extract-binaries', 'symbol-scan', 'syscall-resolve', 'profile-emit', 'verify'];
  let error: string | undefined;
  let failedAt = stages.length;
  for (const [i, s] of stages.entries()) {
    const rec = await reader.record(image.name, s);
    if (rec?.status === 'failed' || rec?.status === 'interrupted') {
      error = `${s}: ${rec.error ? `${rec.error.kind}: ${rec.error.message}` : rec.status}`;
      failedAt = i;
      break;
    }
  }
  // An artifact from an earlier run of a stage that failed (or comes after one that failed) this time is stale.
  const fresh = (s: string) => stages.indexOf(s) < failedAt;
  const trace = fresh('run-and-trace') ? await reader.artifact(image.name, 'run-and-trace') : undefined;
  const resolve = fresh('syscall-resolve') ? await reader.artifact(image.name, 'syscall-resolve') : undefined;
  if (!profile && fresh('profile-emit')) profile = await reader.artifact(image.name, 'profile-emit');
  const verify = fresh('verify') ? await reader.artifact(image.name, 'verify') : undefined;
  return {
    rank: image.rank,
    name: image.name,
    ...(trace ? { trace } : {}),
    ...(resolve ? { resolve } : {}),
    ...(profile ? { profile } : {}),
    ...(verify ? { verify } : {}),
    languages: await imageLanguages(reader, image.name),
    ...(error ? { error } : {}),
  };
}
