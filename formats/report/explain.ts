import { formatUnresolvedSite } from '../../analysis/link/unresolved-sites';
import type { ExtractArtifact, ProfileArtifact, ResolveArtifact } from '../../schemas/types';
import type { CacheReader } from './artifacts';

type Chain = ResolveArtifact['provenance'][string];
type ArgRule = NonNullable<ResolveArtifact['argRules']>[string];
type ProfileArgRule = NonNullable<ProfileArtifact['argRules']>[number];

export interface Explanation {
  image: string;
  syscall: string;
  allowed: boolean;
  /** Why, in the order that decided it: the static chain, the runtime's measured needs, a -g list. */
  reasons: ('static' | 'runtime' | 'override' | 'exec')[];
  /** When only the --exec-too programs need it: what needs it (exec programs by path, or the runtime's docker exec path), and the list as asked. */
  exec?: { by: string[]; asked: string[] };
  chain?: Chain;
  /** The extracted copy of the object holding the call site (its sha256), when the extract artifact is there. */
  siteDigest?: string;
  /**
   * Reached syscall sites of the image whose number is unknown: any of them may make
   * this syscall, so "not allowed" is only as good as this list is empty.
   */
  unresolved: ResolveArtifact['unresolved'];
  /** Why the profile is the base profile whole (not hardened: a reached site's number is unknown), when it is. */
  fallback?: string;
  /** What was missing to answer fully. */
  notes: string[];
  /** The argument rule the analysis found (socket families), with a chain per allowed value. */
  args?: ArgRule;
  /** What the profile wrote for it: the values it allows, or why it has no condition. */
  profileArgs?: ProfileArgRule;
}

/**
 * Why an image's profile allows a syscall, from the artifacts of its latest run. Pure:
 * the caller fetches the artifacts.
 */
export function explainSyscall(
  image: string,
  syscall: string,
  a: { resolve?: ResolveArtifact; profile?: ProfileArtifact; extract?: ExtractArtifact },
): Explanation {
  const notes: string[] = [];
  if (!a.resolve) notes.push(`no syscall-resolve artifact for ${image} in the cache; run confine profiles first`);
  if (!a.profile) notes.push(`no profile-emit artifact for ${image} in the cache`);
  const reasons: Explanation['reasons'] = [];
  const chain = a.resolve?.provenance[syscall];
  if (chain) reasons.push('static');
  if (a.profile?.runtimeSyscalls.includes(syscall)) reasons.push('runtime');
  if (a.resolve?.overrides.includes(syscall)) reasons.push('override');
  const execAdded = a.profile?.execToo?.added.find((x) => x.syscall === syscall);
  if (execAdded) reasons.push('exec');
  const inResolve = a.resolve?.syscalls.includes(syscall) ?? false;
  const allowed = a.profile ? a.profile.allowed.includes(syscall) : inResolve;
  if (allowed && !reasons.length) notes.push(`${syscall} is allowed but the cache keeps no chain for it (an older syscall-resolve version?)`);
  let siteDigest: string | undefined;
  if (chain && a.extract) {
    const f = a.extract.files.find((x) => x.path === chain.siteObject) ?? a.extract.files.find((x) => x.resolvedPath === chain.siteObject);
    if (f) siteDigest = f.digest.replace(/^sha256:/, '');
  }
  const unresolved = a.resolve?.unresolved ?? [];
  const args = allowed ? a.resolve?.argRules?.[syscall] : undefined;
  const profileArgs = allowed ? a.profile?.argRules?.find((r) => r.name === syscall) : undefined;
  return {
    ...(args ? { args } : {}), ...(profileArgs ? { profileArgs } : {}),
    image, syscall, allowed, reasons: allowed ? reasons : [],
    ...(execAdded && allowed ? { exec: { by: execAdded.by, asked: a.profile!.execToo!.asked } } : {}),
    ...(chain && allowed ? { chain } : {}), ...(siteDigest && allowed ? { siteDigest } : {}),
    unresolved,
    ...(a.profile?.fallback ? { fallback: a.profile.fallback.reason } : {}),
    notes,
  };
}

export async function explainFromCache(reader: CacheReader, image: string, syscall: string): Promise<Explanation> {
  const [resolve, profile, extract] = await Promise.all([
    reader.artifact(image, 'syscall-resolve'),
    reader.artifact(image, 'profile-emit'),
    reader.artifact(image, 'extract-binaries'),
  ]);
  return explainSyscall(image, syscall, { ...(resolve ? { resolve } : {}), ...(profile ? { profile } : {}), ...(extract ? { extract } : {}) });
}

export function formatExplanation(e: Explanation, indent = ''): string {
  const out: string[] = [];
  if (!e.allowed) {
    out.push(`${indent}${e.image}: ${e.syscall} is not allowed`);
  } else {
    out.push(`${indent}${e.image}: ${e.syscall} is allowed`);
    if (e.chain) {
      out.push(`${indent}  reached from ${e.chain.binary}:`);
      e.chain.steps.forEach((s, i) => {
        out.push(`${indent}  ${i + 1}. ${s.function}  in ${s.object}${s.via ? `  (${s.via})` : ''}`);
        // An indirect edge is only as good as the reference behind it: show it, so a person can judge.
        if (s.takenBy) out.push(`${indent}       a target because ${s.takenBy}`);
        // A guarded edge (the value layer) is followed only because some value satisfies its guard: say which.
        if (s.kept) out.push(`${indent}       kept: ${s.kept}`);
      });
      out.push(`${indent}  → syscall site at 0x${e.chain.site.toString(16)} in ${e.chain.siteObject}${e.siteDigest ? `  (sha256 ${e.siteDigest})` : ''}`);
      if (e.chain.kept) out.push(`${indent}    kept: ${e.chain.kept}`);
    }
    if (e.args || e.profileArgs) out.push(...formatArgs(e, indent));
    if (e.reasons.includes('runtime')) out.push(`${indent}  the container runtime makes it after the seccomp filter is installed (measured by runtime calibration)`);
    if (e.reasons.includes('override')) out.push(`${indent}  listed for this image in the -g syscalls file`);
    if (e.exec) out.push(`${indent}  allowed only for docker exec (--exec-too ${e.exec.asked.join(',')}): needed by ${e.exec.by.join(', ')}`);
  }
  if (e.fallback) out.push(`${indent}  the profile is the base profile, not narrowed: ${e.fallback}`);
  if (e.unresolved.length) {
    const n = e.unresolved.length;
    out.push(
      `${indent}  ${n} reached syscall site${n === 1 ? '' : 's'} with a number the analysis could not recover` +
        (e.allowed ? ':' : ` (any of them could make ${e.syscall}, which the profile blocks):`),
    );
    for (const u of e.unresolved) out.push(`${indent}    ${formatUnresolvedSite(u)}  (reached from ${u.binaries.join(', ')})`);
  }
  for (const n of e.notes) out.push(`${indent}  note: ${n}`);
  return out.join('\n');
}

/** The argument rule: each allowed value with the chain that reaches a function supplying it, or why there is none. */
function formatArgs(e: Explanation, indent: string): string[] {
  const out: string[] = [];
  const p = e.profileArgs;
  const a = e.args;
  const arg = a?.arg ?? p?.arg ?? 0;
  if (p?.unconditional || a?.unconditional) {
    out.push(`${indent}  argument ${arg}: no condition, because ${p?.unconditional ?? `${a!.unconditional!.reason} (${a!.unconditional!.object}:${a!.unconditional!.function} site 0x${a!.unconditional!.site.toString(16)})`}`);
    return out;
  }
  const written = p?.values ? new Set(p.values) : undefined;
  const names = new Map((a?.values ?? []).map((v) => [v.value, v.name ?? String(v.value)]));
  const listed = p?.values ?? (a?.values ?? []).map((v) => v.value);
  out.push(`${indent}  argument ${arg} limited to ${listed.map((v) => names.get(v) ?? String(v)).join(', ')}${p ? '' : ' (found by the analysis; the profile artifact does not say what it wrote)'}`);
  for (const v of a?.values ?? []) {
    const refused = written && !written.has(v.value);
    out.push(`${indent}  ${v.name ? `${v.name} (${v.value})` : v.value}${refused ? ' — used by the program but refused by the base profile' : ''}: supplied by ${v.function} in ${v.object}, reached from ${v.binary}:`);
    v.steps.forEach((s, i) => out.push(`${indent}    ${i + 1}. ${s.function}  in ${s.object}${s.via ? `  (${s.via})` : ''}`));
  }
  const fromProgram = new Set((a?.values ?? []).map((v) => v.value));
  for (const v of p?.values ?? []) {
    if (!fromProgram.has(v)) out.push(`${indent}  ${v}: made by the container runtime after the filter is installed (measured by runtime calibration)`);
  }
  return out;
}
