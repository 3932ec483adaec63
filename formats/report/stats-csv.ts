import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import Papa from 'papaparse';
import { writeFileAtomic } from '../../cache/content-store';
import type { BatchStats } from './batch-stats';

const round = (n: number | null) => (n === null ? '' : String(Math.round(n * 100) / 100));
const csv = (fields: string[], data: unknown[][]) => Papa.unparse({ fields, data }, { delimiter: ';', newline: '\n' }) + '\n';

/**
 * The stats as CSV files in `dir`. The first four keep the seed's createStats names and
 * columns (so its plotting scripts still read them); the rest are ours.
 */
export async function writeStatsCsv(stats: BatchStats, dir: string): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const t = stats.totals;
  const files: Record<string, string> = {
    'container.stats.csv': csv(['Category', 'Count'], [['Total', t.total], ['Runnable', t.launched], ['Stays Running', t.stillRunning], ['Debloatable', t.hardened]]),
    'container.language.stats.csv': csv(
      ['Type', 'Language', 'Count'],
      stats.perLanguage.flatMap((g) => [['Total', g.group, g.images], ['Debloatable', g.group, g.hardened]]),
    ),
    'syscall.top.200.csv': csv(['Syscall', 'Count'], stats.perSyscall.map((s) => [s.syscall, s.imagesBlocking])),
    'syscall.categorized.csv': csv(['CategoryName', 'SyscallCount'], stats.perCategory.map((g) => [g.group, g.blockedByAll])),
    'syscall.cve.stats.csv': csv(
      ['CVE', 'System Call(s)', 'Description', 'Containers Effected Examples', 'Number of Containers Effected'],
      stats.perCve.map((c) => [c.id, c.syscalls.join(', '), '', c.mitigatedIn.slice(0, 10).join(', '), c.mitigatedIn.length]),
    ),
    'image.stats.csv': csv(
      ['Image', 'Rank', 'Launched', 'Stays Running', 'Hardened', 'Allowed', 'Blocked', 'Blocked Beyond Docker Default', 'Languages', 'Categories', 'CVEs Mitigated', 'Error', 'CVEs Mitigated By Argument Rules'],
      stats.perImage.map((i) => [
        i.name, i.rank, i.launched, i.stillRunning, i.hardened, i.allowed ?? '', i.blocked, i.blockedBeyondDefault,
        i.languages.join(', '), i.categories.join(', '), i.cvesMitigated.join(', '), i.error,
        // Empty when not known (no profile read); 'none' when checked and nothing closed.
        i.cvesMitigatedByArgRules === null ? '' : i.cvesMitigatedByArgRules.join(', ') || 'none',
      ]),
    ),
    'category.averages.csv': csv(
      ['Category', 'Images', 'Hardened', 'Average Allowed', 'Average Blocked', 'Blocked By All'],
      stats.perCategory.map((g) => [g.group, g.images, g.hardened, round(g.avgAllowed), round(g.avgBlocked), g.blockedByAll]),
    ),
    'language.averages.csv': csv(
      ['Language', 'Images Staying Up', 'Hardened', 'Average Allowed', 'Average Blocked', 'Blocked By All'],
      stats.perLanguage.map((g) => [g.group, g.images, g.hardened, round(g.avgAllowed), round(g.avgBlocked), g.blockedByAll]),
    ),
    'cve.mitigation.csv': csv(
      ['CVE', 'Syscalls', 'Images Mitigated', 'Images'],
      stats.perCve.map((c) => [c.id, c.syscalls.join(' '), c.mitigatedIn.length, c.mitigatedIn.join(' ')]),
    ),
    // Kept apart from cve.mitigation.csv: these CVEs are closed by argument conditions of
    // a syscall the image still makes, and are not in the syscall-level counts.
    'cve.argument.mitigation.csv': csv(
      ['CVE', 'Reached Through', 'Images Mitigated', 'Images Checked', 'Images'],
      stats.perArgCve.map((c) => [c.id, c.paths.join(' or '), c.mitigatedIn.length, stats.argRuleImages, c.mitigatedIn.join(' ')]),
    ),
    // Every claim an auditor may ask about: one row per CVE of the map and hardened image.
    'cve.verdicts.csv': csv(
      ['CVE', 'Year', 'Reached Through', 'Compat Only', 'Image', 'Mitigated', 'By', 'Reason'],
      stats.cveClaims.flatMap((c) => [
        ...c.mitigatedIn.map((m) => [c.id, c.year ?? '', c.reachedThrough, c.compatOnly ? 'yes' : 'no', m.image, 'yes', m.by, m.reason]),
        ...c.openIn.flatMap((o) => o.images.map((image) => [c.id, c.year ?? '', c.reachedThrough, c.compatOnly ? 'yes' : 'no', image, 'no', '', o.reason])),
      ]),
    ),
  };
  for (const [name, body] of Object.entries(files)) await writeFileAtomic(path.join(dir, name), body);
  return Object.keys(files).map((n) => path.join(dir, n));
}
