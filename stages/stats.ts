import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../cache/digest';
import type { Stage } from '../pipeline/stage';
import { Ledger } from '../pipeline/ledger';
import { CacheReader } from '../formats/report/artifacts';
import { parseCveFile } from '../formats/report/cve';
import { parseCveArgFile } from '../formats/report/cve-args';
import { formatCveClaims } from '../formats/report/cve-claims';
import { gatherFacts, reportRows } from '../formats/report/report-rows';
import { execCostOf, formatExecCostLine } from '../formats/report/exec-cost';
import { formatDetailRow, formatSummaryRow } from '../formats/report/seed-report';
import { BUNDLED_CVE_ARG_FILE, BUNDLED_CVE_FILE, imageInfoFromList, writeStatsOutputs } from '../formats/report/stats-run';
import type { ImageUnresolved } from '../formats/report/unresolved-report';
import { writeFileAtomic } from '../cache/content-store';
import { dockerDefaultAllowed } from '../formats/profile/docker-default-allowed';
import { defaultProfile, readProfile } from '../formats/profile/read-profile';
import type { DockerProfile } from '../formats/profile/seccomp-types';
import type { ProfileArtifact, StatsArtifact } from '../schemas/types';
import { allSyscalls } from '../analysis/syscalls/table';
import type { RunConfig } from './config';
import { parseImageList } from '../formats/image-list';

export { median } from '../formats/report/batch-stats';

export const REPORT_FILE = 'profile.report.csv';
export const DETAILS_FILE = 'profile.report.details.csv';
/** Under -r: the stats CSVs and report.html of the run. */
export const STATS_DIR = 'stats';

/**
 * The batch's figures, over every image in the list. It writes the seed's two report
 * files (it is the one stage that sees every image), the stats CSVs and the HTML page.
 * Per-image facts other than the profile (trace, resolve, verify, languages, why an
 * image failed) come from the ledger and the content store of this run.
 */
export function statsStage(): Stage<{ 'profile-emit': Record<string, ProfileArtifact> }, StatsArtifact, RunConfig> {
  return {
    name: 'stats',
    version: 5, // 5: the reviewed CVE map, verdicts with reasons per CVE and image (history: CHANGELOG.md)
    schema: 'confine/stats/v1',
    scope: 'after',
    needs: ['profile-emit'],
    resource: 'cpu',
    configSlice: (c) => ({ resultsDir: c.resultsDir, cacheDir: c.cacheDir }),
    // Failures and categories are not in profile-emit's outputs: the list's content and
    // every image's outcome decide them too. Outcomes, not the ledger's length, so a
    // rerun where everything was reused reuses the stats as well.
    externalInputs: async (_unit, config) => ({
      list: sha256Hex(await fs.readFile(config.imageList)),
      outcomes: await outcomesDigest(config.cacheDir),
    }),
    stillValid: async (out) => (await Promise.all(out.files.map((f) => fs.access(f).then(() => true, () => false)))).every(Boolean),
    run: async (deps, ctx, _unit, config) => {
      const profiles = deps['profile-emit'] ?? {};
      const listText = await fs.readFile(config.imageList, 'utf8');
      const list = parseImageList(listText, config.imageList).images;
      const reader = new CacheReader(config.cacheDir);
      const universe = allSyscalls().map((s) => s.name);
      const dockerAllowed = dockerDefaultAllowed(defaultProfile().profile);
      const byName = new Map(Object.values(profiles).map((p) => [p.imageName, p]));
      const summary = [];
      const details = [];
      const unresolved: ImageUnresolved[] = [];
      for (const entry of list) {
        const facts = await gatherFacts(reader, entry, byName.get(entry.name));
        if (facts.resolve?.unresolved.length) {
          unresolved.push({ image: entry.name, sites: facts.resolve.unresolved, ...(facts.profile?.fallback ? { fallback: facts.profile.fallback.reason } : {}) });
        }
        const rows = reportRows(facts, universe, dockerAllowed);
        summary.push(rows.summary);
        if (rows.detail) details.push(rows.detail);
      }
      // What the engine enforces is the written profile, so its rules are read back.
      const written = new Map<string, DockerProfile>();
      for (const p of Object.values(profiles)) {
        const r = readProfile(p.profileFile);
        if (!r.ok) throw r.error;
        written.set(p.imageName, r.value.profile);
      }
      const argCves = parseCveArgFile(await fs.readFile(BUNDLED_CVE_ARG_FILE, 'utf8'), BUNDLED_CVE_ARG_FILE);
      if (argCves.errors.length) throw argCves.errors[0];
      const cves = parseCveFile(await fs.readFile(BUNDLED_CVE_FILE, 'utf8'), BUNDLED_CVE_FILE);
      if (cves.errors.length) throw cves.errors[0];
      const reportFile = path.join(config.resultsDir, REPORT_FILE);
      const detailsFile = path.join(config.resultsDir, DETAILS_FILE);
      await writeFileAtomic(reportFile, summary.map(formatSummaryRow).join('\n') + '\n');
      await writeFileAtomic(detailsFile, details.map(formatDetailRow).join('\n') + (details.length ? '\n' : ''));
      const out = await writeStatsOutputs({
        summary,
        details,
        images: imageInfoFromList(listText, config.imageList).images,
        cves: cves.cves,
        argCves: argCves.cves,
        profiles: written,
        outDir: path.join(config.resultsDir, STATS_DIR),
        failures: summary.filter((r) => r.error).map((r) => ({ image: r.name, error: r.error })),
        unresolved,
        title: `confine: ${list.length} images from ${path.basename(config.imageList)}`,
      });
      const med = out.stats.medianAllowed;
      const perImage = out.stats.perImage
        .filter((i) => i.hardened && i.allowed !== null)
        .map((i) => ({ name: i.name, allowed: i.allowed!, blocked: i.blocked, blockedBeyondDefault: i.blockedBeyondDefault, cvesMitigatedByArgRules: i.cvesMitigatedByArgRules ?? [] }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const bySyscalls = new Map(out.stats.perImage.map((i) => [i.name, i.cvesMitigated.length]));
      const w = Math.max(5, ...perImage.map((p) => p.name.length));
      ctx.log(`${'image'.padEnd(w)}  allowed  blocked  vs Docker default (${out.dockerDefaultAllowed} allowed)  vs median (${med ?? 'n/a'})  CVEs: by blocked syscalls (of ${out.stats.perCve.length}), by argument rules (of ${out.stats.perArgCve.length})`);
      for (const p of perImage) {
        const vsDocker = p.allowed - out.dockerDefaultAllowed;
        const vsMed = med === null ? 'n/a' : String(Math.round((p.allowed - med) * 10) / 10);
        ctx.log(`${p.name.padEnd(w)}  ${String(p.allowed).padStart(7)}  ${String(p.blocked).padStart(7)}  ${String(vsDocker).padStart(8)}  ${vsMed.padStart(8)}  ${String(bySyscalls.get(p.name) ?? 0).padStart(6)}  ${String(p.cvesMitigatedByArgRules.length).padStart(6)}${p.cvesMitigatedByArgRules.length ? ` (${p.cvesMitigatedByArgRules.join(' ')})` : ''}`);
      }
      // What allowing `docker exec` programs costs each image that asked for it (--exec-too).
      for (const p of Object.values(profiles).sort((a, b) => a.imageName.localeCompare(b.imageName))) {
        const cost = execCostOf(p);
        if (cost) ctx.log(`docker exec: ${formatExecCostLine(p.imageName, cost)}`);
      }
      const t = out.stats.totals;
      ctx.log(`${t.total} images: ${t.launched} launched, ${t.stillRunning} still running after the trace, ${t.hardened} hardened; median allowed ${med ?? 'n/a'}`);
      const argClosed = out.stats.perArgCve.filter((c) => c.mitigatedIn.length).map((c) => c.id);
      ctx.log(`CVEs mitigated by argument rules: ${argClosed.length} of ${out.stats.perArgCve.length} in at least one image${argClosed.length ? ` (${argClosed.join(' ')})` : ''}`);
      for (const line of formatCveClaims(out.stats.cveClaims, t.hardened).trimEnd().split('\n')) if (line) ctx.log(line);
      return {
        profiled: Object.keys(profiles).length,
        medianAllowed: med,
        dockerDefaultAllowed: out.dockerDefaultAllowed,
        universe: out.universe,
        totals: t,
        perImage,
        argRuleCves: {
          listed: out.stats.perArgCve.length,
          mitigatedInSomeImage: argClosed.length,
          perCve: out.stats.perArgCve.map((c) => ({ id: c.id, paths: c.paths, mitigatedIn: c.mitigatedIn })),
        },
        files: [reportFile, detailsFile, ...out.files],
      };
    },
  };
}

/** A digest of each (image, stage)'s last outcome, with done and reused counted alike. */
async function outcomesDigest(cacheDir: string): Promise<string> {
  const latest = await new Ledger(path.join(cacheDir, 'ledger.jsonl')).latest();
  const lines = [...latest.values()]
    .filter((r) => r.image !== '*')
    .map((r) => `${r.image}\u0000${r.stage}\u0000${r.status === 'reused' ? 'done' : r.status}\u0000${r.error?.message ?? ''}`)
    .sort();
  return sha256Hex(lines.join('\n'));
}
