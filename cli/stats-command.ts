import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { execCostsFromRunSummary, formatExecCostLine } from '../formats/report/exec-cost';
import type { BatchStats } from '../formats/report/batch-stats';
import { formatCveClaims } from '../formats/report/cve-claims';
import { runStats } from '../formats/report/stats-run';
import { existingPath, outputDir, parse, UsageError } from './args';

const HELP = `Usage: confine stats -r REPORT -e DETAILS -o OUTDIR [-i LIST] [-c CVEFILE] [-b BINDIR] [--summary FILE]
                    [--arg-cves FILE] [--profiles DIR]

The seed's createStats: batch figures from profile.report.csv and profile.report.details.csv
(ours or the seed's own), written as CSV plus a self-contained report.html in OUTDIR.
  -r, --report FILE        profile.report.csv
  -e, --details FILE       profile.report.details.csv
  -i, --images FILE        image list (categories; images not in it count as 'Other')
  -o, --output DIR         where the CSVs and report.html go
  -c, --cves FILE          CVE → syscalls ('CVE-ID;__x64_sys_a, __x64_sys_b'); default: the reviewed
                           map, formats/report/data/cve-to-syscall.csv (sources: formats/report/data/SOURCES.md)
  -b, --binaries DIR       extracted binaries in the seed's one-folder-per-image layout (file counts)
      --summary FILE       run-summary.json naming failed images (default: next to -r)
      --arg-cves FILE      CVE → syscall argument values ('CVE-ID;socket;domain;AF_PACKET'), counted
                           separately as mitigated by argument rules; default: formats/report/data/cve-to-syscall-arg.csv
      --profiles DIR       where the images' NAME.seccomp.json profiles are, for those argument rules
                           (default: next to -r; images without one are reported as not checked)
`;

/** The argument-rule CVE figures, apart from the syscall-level ones. */
export function argRuleLine(s: BatchStats): string {
  if (!s.perArgCve.length) return '';
  if (!s.argRuleImages) return `CVEs mitigated by argument rules: not checked (no image's profile found)\n`;
  const closed = s.perArgCve.filter((c) => c.mitigatedIn.length).length;
  const per = s.perImage.filter((i) => i.cvesMitigatedByArgRules !== null).map((i) => `${i.name} ${i.cvesMitigatedByArgRules!.length}`);
  return `CVEs mitigated by argument rules: ${closed} of ${s.perArgCve.length} in at least one image (${s.argRuleImages} profiles checked: ${per.join(', ')})\n`;
}

/** Per-image --exec-too costs from the run's run-summary.json (none for the seed's report files). */
async function execCostsOf(file: string): Promise<ReturnType<typeof execCostsFromRunSummary>> {
  try {
    return execCostsFromRunSummary(JSON.parse(await fs.readFile(file, 'utf8')));
  } catch {
    return [];
  }
}

export async function statsCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    report: { type: 'string', short: 'r' },
    details: { type: 'string', short: 'e' },
    images: { type: 'string', short: 'i' },
    output: { type: 'string', short: 'o' },
    cves: { type: 'string', short: 'c' },
    binaries: { type: 'string', short: 'b' },
    summary: { type: 'string' },
    'arg-cves': { type: 'string' },
    profiles: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.report || !values.details || !values.output) throw new UsageError('-r, -e and -o are required');
  const outDir = outputDir('-o', values.output);
  const result = await runStats({
    reportFile: existingPath('-r', values.report, 'file')!,
    detailsFile: existingPath('-e', values.details, 'file')!,
    outDir,
    ...(values.images ? { imageList: existingPath('-i', values.images, 'file')! } : {}),
    ...(values.cves ? { cveFile: existingPath('-c', values.cves, 'file')! } : {}),
    ...(values.binaries ? { binariesDir: existingPath('-b', values.binaries, 'dir')! } : {}),
    ...(values.summary ? { runSummary: existingPath('--summary', values.summary, 'file')! } : {}),
    ...(values['arg-cves'] ? { argCveFile: existingPath('--arg-cves', values['arg-cves'], 'file')! } : {}),
    ...(values.profiles ? { profilesDir: existingPath('--profiles', values.profiles, 'dir')! } : {}),
  });
  for (const w of result.warnings) process.stderr.write(`confine stats: warning: ${w.describe()}\n`);
  const execCosts = await execCostsOf(values.summary ?? path.join(path.dirname(values.report), 'run-summary.json'));
  const t = result.stats.totals;
  process.stdout.write(
    `${t.total} images analysed, ${t.launched} launched, ${t.stillRunning} still running after the trace, ${t.hardened} hardened\n` +
      `median allowed ${result.stats.medianAllowed ?? 'n/a'} of ${result.universe} (Docker's default allows ${result.dockerDefaultAllowed})\n` +
      argRuleLine(result.stats) +
      execCosts.map((c) => `docker exec: ${formatExecCostLine(c.image, c.cost)}\n`).join('') +
      formatCveClaims(result.stats.cveClaims, t.hardened) +
      // Under -o as the user typed it, not relative to the working directory (`../../tmp/x/…`).
      result.files.map((f) => `wrote ${path.join(values.output!, path.relative(outDir, f))}`).join('\n') + '\n',
  );
  return 0;
}
