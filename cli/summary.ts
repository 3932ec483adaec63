import { fieldSafe } from '../pipeline/terminal-text';
import { formatUnresolvedSite, type UnresolvedSite } from '../analysis/link/unresolved-sites';
import type { RunResult, UnitOutcome } from '../pipeline/runner';
import { NARROW_PAST_UNKNOWN_SITES } from '../formats/profile/choose-profile';

/** How tables show an image whose profile is the base profile whole. */
export const NOT_HARDENED = 'not hardened';
import { execCostOf, formatExecCostLine, formatExecCount, type ExecCost } from '../formats/report/exec-cost';
import type { ProfileArtifact } from '../schemas/types';

export interface SummaryRow {
  image: string;
  done: number;
  reused: number;
  failed: number;
  skipped: number;
  interrupted: number;
  error?: string;
  /** Every reached syscall site whose number was not recovered (when syscall-resolve has an output). */
  unresolvedSites?: UnresolvedSite[];
  /** Why the image is not hardened (its profile is the base profile whole: a reached site's number is unknown), when it is not. */
  profileFallback?: string;
  /** Whether the image got a narrowed profile (absent when profile-emit has no output). */
  hardened?: boolean;
  /** What the --exec-too programs cost the profile, when it allows some. */
  execToo?: ExecCost;
  /** Whether the profile admits each compat syscall ABI (i386, x32), and why. */
  abis?: AbiFigure[];
}

interface AbiFigure {
  abi: string;
  kept: boolean;
  reason: string;
}

interface ResolveFigures {
  unresolved?: UnresolvedSite[];
}

export function summarise(result: RunResult): SummaryRow[] {
  const row = (u: UnitOutcome, label = u.unit): SummaryRow => {
    const count = (s: string) => u.stages.filter((o) => o.status === s).length;
    const firstError = u.stages.find((o) => o.error)?.error;
    const outputs = result.outputs.get(u.unit);
    const resolve = outputs?.get('syscall-resolve') as ResolveFigures | undefined;
    const profile = outputs?.get('profile-emit') as ProfileFigures | undefined;
    return {
      image: label, done: count('done'), reused: count('reused'), failed: count('failed'),
      skipped: count('skipped'), interrupted: count('interrupted'),
      ...(firstError ? { error: firstError.describe() } : {}),
      ...(resolve?.unresolved ? { unresolvedSites: resolve.unresolved } : {}),
      ...(profile?.fallback ? { profileFallback: profile.fallback.reason } : {}),
      ...(profile ? { hardened: !profile.fallback } : {}),
      ...(profile?.execToo ? { execToo: execCostOf(profile)! } : {}),
      ...(profile?.abis ? { abis: profile.abis } : {}),
    };
  };
  const rows = result.units.map((u) => row(u));
  if (result.before.stages.length) rows.unshift(row(result.before, '(before all images)'));
  if (result.after.stages.length) rows.push(row(result.after, '(after all images)'));
  return rows;
}

/** A fixed-width table for the terminal; the error column is last so it can run long. */
export function formatSummary(rows: SummaryRow[]): string {
  const head = ['image', 'done', 'reused', 'failed', 'skipped', 'error'];
  // Errors quote image text: one field must stay one line, whatever a path holds.
  const cells = rows.map((r) => [fieldSafe(r.image), String(r.done), String(r.reused), String(r.failed + r.interrupted), String(r.skipped), fieldSafe(r.error ?? '')]);
  const widths = head.slice(0, 5).map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) => c.map((v, i) => (i < 5 ? v.padEnd(widths[i]) : v)).join('  ').trimEnd();
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w)).concat('-----')), ...cells.map(fmt)].join('\n');
}

interface ProfileFigures {
  execToo?: ProfileArtifact['execToo'];
  allowedCount: number;
  blockedCount: number;
  dockerDefaultAllowedCount: number;
  unresolvedSites?: number;
  fallback?: { reason: string };
  abis?: AbiFigure[];
}

interface VerifyFigures {
  falseNegatives: unknown[];
  probeOk?: boolean;
}

/**
 * Per image: allowed / blocked next to Docker's default, false negatives when verify
 * ran, and the batch median — the figures people look for first.
 */
export function formatProfileTable(result: RunResult): string | undefined {
  const rows: string[][] = [];
  const allowed: number[] = [];
  const execLines: string[] = [];
  let dockerDefault: number | undefined;
  for (const u of result.units) {
    const p = result.outputs.get(u.unit)?.get('profile-emit') as ProfileFigures | undefined;
    if (!p) continue;
    const v = result.outputs.get(u.unit)?.get('verify') as VerifyFigures | undefined;
    dockerDefault = p.dockerDefaultAllowedCount;
    allowed.push(p.allowedCount);
    rows.push([
      u.unit, String(p.allowedCount), String(p.blockedCount), String(p.dockerDefaultAllowedCount),
      String(p.unresolvedSites ?? '-'), p.fallback ? NOT_HARDENED : p.unresolvedSites ? 'narrowed anyway' : 'narrowed',
      v ? String(v.falseNegatives.length) : '-', v ? (v.probeOk === undefined ? 'none' : v.probeOk ? 'pass' : 'FAIL') : '-',
      compatAbis(p),
    ]);
    const cost = execCostOf(p);
    rows[rows.length - 1].push(cost ? formatExecCount(cost) : '-');
    if (cost) execLines.push(formatExecCostLine(u.unit, cost));
  }
  if (!rows.length) return undefined;
  const head = ['image', 'allowed', 'blocked', "docker default allows", 'unresolved sites', 'profile', 'false negatives', 'probe', 'compat ABIs', 'docker exec'];
  // The exec column only when some image allows exec programs.
  if (!execLines.length) {
    head.pop();
    rows.forEach((r) => r.pop());
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const sorted = [...allowed].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const exec = execLines.length ? ['', 'docker exec (--exec-too: programs analysed so an exec into the container runs under its profile):', ...execLines.map((l) => `  ${l}`)] : [];
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt), '', `median allowed: ${median} syscalls over ${rows.length} image(s); Docker's default allows ${dockerDefault}`, ...exec].join('\n');
}

/** The compat ABIs a profile admits: `none`, `i386`, `i386 x32`; `base` when not narrowed. */
function compatAbis(p: ProfileFigures): string {
  if (!p.abis) return 'base';
  const kept = p.abis.filter((a) => a.kept).map((a) => a.abi);
  return kept.length ? kept.join(' ') : 'none';
}

/**
 * Per image, which compat syscall ABIs (i386, x32) its profile admits: refused unless
 * reached code uses one, and then the reason, so every kept ABI can be checked.
 */
export function formatAbis(rows: SummaryRow[]): string | undefined {
  const withAbis = rows.filter((r) => r.abis?.length);
  if (!withAbis.length) return undefined;
  const allRefused = withAbis.filter((r) => r.abis!.every((a) => !a.kept)).map((r) => r.image);
  const out = [`compat syscall ABIs (each a second way into the kernel; kept only when reached code uses it):`];
  if (allRefused.length) out.push(`  i386 and x32 refused, no reached site uses them: ${allRefused.join(', ')}`);
  for (const r of withAbis.filter((x) => !allRefused.includes(x.image))) {
    for (const a of r.abis!) out.push(`  ${r.image}: ${a.abi} ${a.kept ? 'kept' : 'refused'}: ${a.reason}`);
  }
  return out.join('\n');
}

/**
 * Every reached syscall site whose number was not recovered, per image, for the end of
 * the run: never silent, since a syscall made at one of them may be missing from a
 * narrowed profile. Undefined when there are none.
 */
export function formatUnresolvedSites(rows: SummaryRow[]): string | undefined {
  const withSites = rows.filter((r) => r.unresolvedSites?.length);
  if (!withSites.length) return undefined;
  const out = [`unresolved syscall sites (number not recovered: any syscall may be made there, so the image keeps the base profile and is not hardened; ${NARROW_PAST_UNKNOWN_SITES} narrows anyway):`];
  for (const r of withSites) {
    const n = r.unresolvedSites!.length;
    const fate = r.profileFallback ? ` — ${NOT_HARDENED} (base profile)` : r.hardened ? ` — profile narrowed anyway (${NARROW_PAST_UNKNOWN_SITES}): a syscall made there may be blocked` : '';
    out.push(`  ${r.image}: ${n} site${n === 1 ? '' : 's'}${fate}`);
    for (const u of r.unresolvedSites!) out.push(`    ${formatUnresolvedSite(u)}  (from ${u.binaries.join(', ')})`);
  }
  return out.join('\n');
}
