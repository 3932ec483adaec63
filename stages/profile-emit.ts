import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../cache/content-store';
import { sha256Hex } from '../cache/digest';
import { ConfineError } from '../pipeline/errors';
import type { Stage, StageContext } from '../pipeline/stage';
import { dockerDefaultAllowed } from '../formats/profile/docker-default-allowed';
import { chooseProfile, NARROW_PAST_UNKNOWN_SITES } from '../formats/profile/choose-profile';
import { profileFileName } from '../formats/profile/file-name';
import { argRulesFor } from '../formats/profile/arg-rules';
import { KERNEL_IMPLICIT_SYSCALLS } from '../formats/profile/implicit-syscalls';
import { profileForms } from '../formats/profile/spo-profile';
import { low32Comparisons } from '../formats/profile/low32-rules';
import { defaultProfile, LoadedProfile, readProfile } from '../formats/profile/read-profile';
import type { ProfileArtifact, ResolveArtifact } from '../schemas/types';
import { allSyscalls } from '../analysis/syscalls/table';
import { calibrateRuntime, calibrationKey, runtimeVersion, type RuntimePath } from '../system/verify/calibrate';
import { TRACKED_ARGS } from '../analysis/x86/syscall-args';
import { isI386AbiSite } from '../analysis/summary/object-summary';
import { formatUnresolvedSite } from '../analysis/link/unresolved-sites';
import { ABI_ARCH, AbiDecision, AbiUse, admitsAbi, COMPAT_ABIS, CompatAbi, decideAbis, X32_SYSCALL_BIT, x32SyscallName } from '../formats/profile/abis';
import type { DockerProfile } from '../formats/profile/seccomp-types';
import type { CalibrationArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import type { ImageEntry } from '../formats/image-list';
import type { Services } from './services';

// stats reads the profiles back by this name, without this stage's Docker imports.
export { profileFileName };

/**
 * Writes the image's Docker seccomp profile: Docker's default (or -p) with every
 * syscall the image cannot reach removed, keeping the default's conditional rules for
 * the ones that stay.
 */
export function profileEmitStage(services: Services): Stage<{ 'syscall-resolve': ResolveArtifact }, ProfileArtifact, RunConfig> {
  return {
    name: 'profile-emit',
    version: 14, // 14: the i386 and x32 ABIs are kept only when reached code uses them (abis) (history: CHANGELOG.md)
    schema: 'confine/profile/v2',
    scope: 'image',
    needs: ['syscall-resolve'],
    resource: 'io',
    configSlice: (c) => ({ resultsDir: c.resultsDir, forms: c.forms, narrowPastUnknownSites: c.narrowPastUnknownSites }),
    // The base profile's content, not its path, decides the output.
    externalInputs: async (unit, config) => ({
      base: config.defaultProfile ? sha256Hex(await fs.readFile(config.defaultProfile)) : 'built-in',
      name: (unit.data as ImageEntry).name,
      // The output names the image it is for (verify runs it); nothing before this stage does.
      image: await services.imageId((unit.data as ImageEntry).ref),
      // A new engine or runc may make other syscalls after the filter is installed.
      runtime: calibrationKey(await runtimeVersion(await services.docker())),
    }),
    // The files on disk must still be the ones written (an edited, truncated or deleted one is rewritten).
    stillValid: async (out) => (await Promise.all(writtenFiles(out).map(({ file, sha256 }) => unchanged(file, sha256)))).every(Boolean),
    run: async (deps, ctx, unit, config) => {
      const image = unit.data as ImageEntry;
      const resolved = deps['syscall-resolve'];
      const base = loadBase(config);
      const runtime = await measuredRuntime(services, ctx);
      // docker exec starts a process through runc's exec path, which makes calls of its
      // own after the filter: measured too when the image is to allow exec programs.
      const execRuntime = resolved.execToo ? await measuredRuntime(services, ctx, 'exec') : undefined;
      const initExtra = [...runtime.syscalls, ...KERNEL_IMPLICIT_SYSCALLS];
      const extra = [...new Set([...initExtra, ...(execRuntime?.syscalls ?? [])])];
      const abiUses = compatAbiUses(resolved);
      // An x32 call is allowed by its name, as the profile names every ABI's calls.
      const x32Names = abiUses.flatMap((u) => (u.name ? [u.name] : []));
      const needed = new Set([...resolved.syscalls, ...extra, ...x32Names]);
      // A 32-bit program's syscalls are not known (its code is not analysed): the base whole.
      const compat = resolved.compatPrograms ?? [];
      const keepBase = compat.length ? `the image runs 32-bit program(s) whose code is not analysed (${compat.map((c) => `${c.path}: ${c.abi}`).join(', ')}), so it keeps the base profile, with the ABIs they need` : undefined;
      const choice = chooseProfile(base.profile, needed, resolved.unresolvedSites, config.narrowPastUnknownSites, resolved.unresolved ?? [], keepBase);
      const plan = choice.plan;
      if (choice.fallback) ctx.log(`not hardened: ${choice.fallback.reason}`);
      else if (resolved.unresolvedSites) {
        ctx.log(`warning: narrowed although ${resolved.unresolvedSites} reached syscall site(s) have an unknown number (${NARROW_PAST_UNKNOWN_SITES}: a syscall made there may be blocked)`);
      }
      for (const name of plan.addedBeyondBase) ctx.log(`${name}: needed, but Docker's default does not allow it; allowed explicitly`);
      for (const name of plan.unknownNames) ctx.log(`${name}: not a syscall name this profile format knows; left out`);
      // Argument rules only narrow a narrowed profile. The runtime's own calls after the
      // filter allow the values calibration measured; kernel-implicit ones, and runtime
      // calls whose arguments were not measured, keep theirs unconditional.
      const measured = measuredArguments(execRuntime ? [runtime, execRuntime] : [runtime]);
      const args = argRulesFor(plan.profile, choice.fallback ? undefined : resolved.argRules, {
        opaque: new Set(extra.filter((n) => !measured.has(n))),
        values: measured,
        tracked: new Map(TRACKED_ARGS.map((t) => [t.name, t.arg])),
        programSyscalls: new Set(resolved.syscalls),
        i386Reached: abiUses.some((u) => u.abi === 'i386'),
      });
      if (args.refusesI386) ctx.log('the profile refuses the i386 syscall ABI (int $0x80): no reached code uses it, and socket rules cannot hold against its socketcall');
      // Docker's socket family ranges let upper bits smuggle a refused family in (formats/profile/low32-rules.ts).
      const low32 = low32Comparisons(args.profile);
      for (const name of low32.rewritten) ctx.log(`${name}: argument comparisons rewritten to the low 32 bits the kernel reads`);
      plan.profile = low32.profile;
      // Each compat ABI is a second way into the kernel: kept only when reached code uses it.
      // A profile that is not narrowed is the base's, ABIs included.
      const abis = choice.fallback ? (compat.length ? { profile: plan.profile, decisions: baseAbis(plan.profile, compat) } : undefined) : decideAbis(plan.profile, abiUses);
      if (abis) {
        plan.profile = abis.profile;
        for (const d of abis.decisions) ctx.log(`${d.abi} ABI (${ABI_ARCH[d.abi]}): ${d.kept ? 'kept' : 'refused'}: ${d.reason}`);
      } else ctx.log('i386 and x32 ABIs: as the base profile has them (profile not narrowed)');
      for (const r of args.report) {
        if (r.unconditional) ctx.log(`${r.name}: no argument rule: ${r.unconditional}`);
        else ctx.log(`${r.name}: argument ${r.arg} limited to ${r.values!.join(', ')}${r.refusedByBase?.length ? ` (the base already refuses ${r.refusedByBase.join(', ')})` : ''}`);
      }
      const file = path.join(config.resultsDir, profileFileName(image.name));
      const text = JSON.stringify(plan.profile, null, 2) + '\n';
      await writeFileAtomic(file, text);
      const formFiles: { file: string; sha256: string }[] = [];
      for (const f of profileForms(plan.profile, image.name, config.forms)) {
        const formFile = path.join(config.resultsDir, f.fileName);
        await writeFileAtomic(formFile, f.text);
        formFiles.push({ file: formFile, sha256: sha256Hex(f.text) });
        ctx.log(`wrote ${formFile}`);
      }
      const allowed = choice.allowed;
      const total = allSyscalls().length;
      const execToo = resolved.execToo && execRuntime ? execCost(resolved, base, initExtra, execRuntime, choice.allowed, config.narrowPastUnknownSites, resolved.unresolved ?? []) : undefined;
      if (execToo) {
        ctx.log(`--exec-too ${execToo.asked.join(',')}: ${execToo.allowedWithout} → ${allowed.length} syscalls allowed${execToo.added.length ? `; added ${execToo.added.map((a) => `${a.syscall} (${a.by.join(', ')})`).join(', ')}` : ''}`);
        if (execToo.missingTools.length) ctx.log(`--exec-too shell: not in the image: ${execToo.missingTools.join(', ')}`);
      }
      return {
        ...(execToo ? { execToo } : {}),
        imageId: await services.imageId(image.ref),
        imageName: image.name,
        profileFile: file,
        profileSha256: sha256Hex(text),
        ...(formFiles.length ? { formFiles } : {}),
        allowed,
        allowedCount: allowed.length,
        blockedCount: total - allowed.length,
        dockerDefaultAllowedCount: dockerDefaultAllowed(base.profile).size,
        runtimeSyscalls: extra.filter((n) => !resolved.syscalls.includes(n)),
        addedBeyondDefault: plan.addedBeyondBase,
        unresolvedSites: resolved.unresolvedSites,
        ...(args.report.length ? { argRules: args.report } : {}),
        ...(abis ? { abis: abis.decisions } : {}),
        ...(choice.fallback ? { fallback: choice.fallback } : {}),
      };
    },
  };
}

/**
 * Where reached code uses a compat ABI: its `int $0x80`/`sysenter` sites (numbers never
 * recovered: they index the i386 table), and syscall numbers with bit 30 set (x32), with
 * the x32 call's name when known (`name`, to allow it).
 */
export function compatAbiUses(resolved: Pick<ResolveArtifact, 'syscalls' | 'unresolved' | 'provenance'>): (AbiUse & { name?: string })[] {
  const uses: (AbiUse & { name?: string })[] = [];
  for (const u of resolved.unresolved ?? []) {
    if (u.reasons.some(isI386AbiSite)) uses.push({ abi: 'i386', evidence: `${formatUnresolvedSite({ ...u, reasons: u.reasons.filter(isI386AbiSite) })} (from ${u.binaries.join(', ')})` });
  }
  for (const s of resolved.syscalls) {
    const m = /^syscall_(\d+)$/.exec(s);
    const nr = m ? Number(m[1]) : -1;
    if (nr < X32_SYSCALL_BIT) continue;
    const name = x32SyscallName(nr);
    const p = resolved.provenance[s];
    const where = p ? ` at ${p.siteObject}@0x${p.site.toString(16)} (from ${p.binary})` : '';
    uses.push({ abi: 'x32', evidence: `syscall number 0x${nr.toString(16)} (x32 ${name ?? 'unknown call'})${where}`, ...(name ? { name } : {}) });
  }
  return uses;
}

/** A profile kept whole because the image runs 32-bit programs: which ABIs it admits, and why. */
export function baseAbis(profile: DockerProfile, programs: readonly { path: string; abi: CompatAbi }[]): AbiDecision[] {
  return COMPAT_ABIS.map((abi) => {
    const mine = programs.filter((p) => p.abi === abi).map((p) => p.path);
    const kept = admitsAbi(profile, abi);
    const reason = mine.length
      ? kept ? `the image runs ${abi} program(s): ${mine.join(', ')} (not analysed; the base profile is kept whole)` : `the base profile does not admit it, although the image runs ${abi} program(s): ${mine.join(', ')}`
      : `as the base profile has it (not narrowed: the image runs 32-bit programs)`;
    return { abi, kept, reason };
  });
}

/** Every file profile-emit wrote for an image, with the digest it had (none recorded: only that it exists). */
function writtenFiles(out: ProfileArtifact): { file: string; sha256?: string }[] {
  return [{ file: out.profileFile, sha256: out.profileSha256 }, ...(out.formFiles ?? [])];
}

function unchanged(file: string, sha256: string | undefined): Promise<boolean> {
  return fs.readFile(file).then((b) => !sha256 || sha256Hex(b) === sha256, () => false);
}

function loadBase(config: RunConfig): LoadedProfile {
  if (!config.defaultProfile) return defaultProfile();
  const r = readProfile(config.defaultProfile);
  if (!r.ok) throw new ConfineError('bad-input', r.error.message, { file: config.defaultProfile, ...r.error.where });
  return r.value;
}

/**
 * What the runtime (runc's init) runs after the filter is in place, measured once per
 * engine and runtime version (a static binary that only exits, under an empty
 * allowlist with defaultAction LOG) and cached like any artifact. Never a guess.
 */
async function measuredRuntime(services: Services, ctx: StageContext, runtimePath: RuntimePath = 'init'): Promise<CalibrationArtifact> {
  const docker = await services.docker();
  const version = await runtimeVersion(docker);
  const { value, reused } = await ctx.memo<CalibrationArtifact>(
    runtimePath === 'init'
      ? // 6: sched_yield is a runtime syscall by chance, like rt_sigreturn (history: CHANGELOG.md)
        { name: 'runtime-calibration', version: 6, schema: 'confine/calibration/v1', inputs: { runtime: calibrationKey(version) } }
      : // 2: sched_yield is a runtime syscall by chance (history: CHANGELOG.md)
        { name: 'runtime-calibration-exec', version: 2, schema: 'confine/calibration/v1', inputs: { runtime: calibrationKey(version) } },
    async () => {
      const c = await calibrateRuntime(docker, { trackedArgs: TRACKED_ARGS, path: runtimePath });
      return {
        engine: c.engine,
        runtime: c.runtime,
        syscalls: c.syscalls,
        runs: c.runs.length,
        lostRecords: c.lostRecords,
        args: c.args,
        ...(c.argsUnmeasured ? { argsUnmeasured: c.argsUnmeasured } : {}),
      };
    },
  );
  if (!reused) {
    ctx.log(`calibrated ${value.runtime} on ${value.engine}${runtimePath === 'exec' ? ' (docker exec path)' : ''}: ${value.syscalls.length} syscalls after the filter (${value.syscalls.join(' ')})`);
    for (const [name, vs] of Object.entries(value.args ?? {})) ctx.log(`calibration: the runtime's ${name} calls use ${vs.map((v) => `0x${v.toString(16)}`).join(', ')}`);
    if (value.argsUnmeasured) ctx.log(`calibration: some arguments not measured: ${value.argsUnmeasured}`);
  }
  if (value.lostRecords) ctx.log(`warning: ${value.lostRecords} kernel log records were lost during calibration; the runtime set may be short`);
  return value;
}

/** How `confine explain` and the run table name the runtime's own part of an exec: calls runc's exec path makes after the filter. */
export const RUNC_EXEC = "the runtime's docker exec path (runc exec)";

/**
 * The measured argument values of the runtime's tracked syscalls, over its paths: a
 * syscall any path made without its arguments measured is left out (no rule may narrow it).
 */
export function measuredArguments(calibrations: Pick<CalibrationArtifact, 'syscalls' | 'args'>[]): Map<string, number[]> {
  const values = new Map<string, Set<number>>();
  const unmeasured = new Set<string>();
  for (const c of calibrations) {
    for (const [name, vs] of Object.entries(c.args ?? {})) for (const v of vs) (values.get(name) ?? values.set(name, new Set()).get(name)!).add(v);
  }
  for (const c of calibrations) for (const name of values.keys()) if (c.syscalls.includes(name) && !c.args?.[name]) unmeasured.add(name);
  return new Map([...values].filter(([name]) => !unmeasured.has(name)).map(([name, vs]) => [name, [...vs].sort((a, b) => a - b)]));
}

/**
 * What allowing the exec programs costs: the profile's allowed count without them (the
 * container's own reach and runc's init only), and each syscall they add with what needs it.
 */
function execCost(
  resolved: ResolveArtifact,
  base: LoadedProfile,
  initExtra: string[],
  execRuntime: CalibrationArtifact,
  allowed: string[],
  narrowPastUnknownSites: boolean,
  unresolved: NonNullable<ResolveArtifact['unresolved']>,
): NonNullable<ProfileArtifact['execToo']> {
  const e = resolved.execToo!;
  const byPrograms = new Map(e.added.map((a) => [a.syscall, a.programs]));
  const without = chooseProfile(base.profile, new Set([...resolved.syscalls.filter((s) => !byPrograms.has(s)), ...initExtra]), resolved.unresolvedSites, narrowPastUnknownSites, unresolved);
  const had = new Set(without.allowed);
  const init = new Set(initExtra);
  return {
    asked: e.asked,
    programs: e.programs,
    missingTools: e.missingTools,
    allowedWithout: without.allowed.length,
    added: allowed
      .filter((s) => !had.has(s))
      .map((s) => ({ syscall: s, by: [...(byPrograms.get(s) ?? []), ...(execRuntime.syscalls.includes(s) && !init.has(s) ? [RUNC_EXEC] : [])] })),
  };
}
