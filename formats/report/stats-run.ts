import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../cache/content-store';
import { ConfineError } from '../../pipeline/errors';
import { dockerDefaultAllowed } from '../profile/docker-default-allowed';
import { parseImageList } from '../image-list';
import { allSyscalls } from '../../analysis/syscalls/table';
import { BatchStats, computeBatchStats, ImageInfo } from './batch-stats';
import { CveEntry, parseCveFile } from './cve';
import { CveArgEntry, parseCveArgFile } from './cve-args';
import { profileFileName } from '../profile/file-name';
import { defaultProfile, readProfile } from '../profile/read-profile';
import type { DockerProfile } from '../profile/seccomp-types';
import { renderHtmlReport } from './html';
import { DetailReportRow, parseDetailReport, parseSummaryReport, SummaryReportRow } from './seed-report';
import { writeStatsCsv } from './stats-csv';
import { ImageUnresolved, UNRESOLVED_CSV, unresolvedCsv, unresolvedFromRunSummary } from './unresolved-report';

export const BUNDLED_CVE_FILE = path.join(__dirname, 'data', 'cve-to-syscall.csv');
export const BUNDLED_CVE_ARG_FILE = path.join(__dirname, 'data', 'cve-to-syscall-arg.csv');
export const SEED_SAMPLE_REPORT = path.join(__dirname, 'data', 'seed-sample.profile.report.csv');
export const HTML_REPORT_NAME = 'report.html';

export interface StatsOptions {
  /** -r: profile.report.csv */
  reportFile: string;
  /** -e: profile.report.details.csv */
  detailsFile: string;
  /** -i: image list (categories, rank). */
  imageList?: string;
  /** -o */
  outDir: string;
  /** -c: CVE → syscalls; the seed's list when absent. */
  cveFile?: string;
  /** -b: extracted binaries; the seed's layout (one folder per image) gives its bins/libs/exes counts. */
  binariesDir?: string;
  /** run-summary.json of the run, for why images failed (default: next to the report). */
  runSummary?: string;
  /** CVE → syscall argument values; ours (formats/report/data/cve-to-syscall-arg.csv) when absent. */
  argCveFile?: string;
  /** Where the images' `<name>.seccomp.json` profiles are (default: next to the report). */
  profilesDir?: string;
}

export interface StatsResult {
  stats: BatchStats;
  files: string[];
  warnings: ConfineError[];
  universe: number;
  dockerDefaultAllowed: number;
}

async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new ConfineError('missing-file', `cannot read ${file}: ${(e as Error).message}`, { file });
  }
}

export function imageInfoFromList(text: string, file: string): { images: Map<string, ImageInfo>; errors: ConfineError[] } {
  const r = parseImageList(text, file);
  return { images: new Map(r.images.map((e) => [e.name, { rank: e.rank, categories: e.categories, official: e.official }])), errors: r.errors };
}

export function dockerDefaultAllowedCount(): number {
  return dockerDefaultAllowed(defaultProfile().profile).size;
}

/** The seed's published average, from its sample report: mean blocked over the images it hardened. */
export function seedAverage(text: string, universe: number): { images: number; meanBlocked: number; meanAllowed: number } | undefined {
  const rows = parseSummaryReport(text, SEED_SAMPLE_REPORT).rows.filter((r) => r.hardened);
  if (!rows.length) return undefined;
  const meanBlocked = rows.reduce((a, r) => a + r.blocked, 0) / rows.length;
  return { images: rows.length, meanBlocked, meanAllowed: universe - meanBlocked };
}

const runSummaryFile = (opts: StatsOptions) => opts.runSummary ?? path.join(path.dirname(opts.reportFile), 'run-summary.json');

/** Unresolved syscall sites per image from run-summary.json; undefined when there is no such file (seed report files). */
async function unresolvedOf(opts: StatsOptions): Promise<ImageUnresolved[] | undefined> {
  try {
    return unresolvedFromRunSummary(JSON.parse(await fs.readFile(runSummaryFile(opts), 'utf8')));
  } catch {
    return undefined;
  }
}

/** What failed or is not hardened, and why: run-summary.json rows with an error or a kept base profile, else the report's own error column. */
async function failures(opts: StatsOptions, summary: SummaryReportRow[]): Promise<{ image: string; error: string }[]> {
  const file = runSummaryFile(opts);
  try {
    const j = JSON.parse(await fs.readFile(file, 'utf8')) as { rows?: { image: string; error?: string; failed?: number; profileFallback?: string }[]; listErrors?: string[] };
    const rows = (j.rows ?? []).filter((r) => r.error || r.profileFallback).map((r) => ({ image: r.image, error: r.error ?? `not hardened: ${r.profileFallback}` }));
    return [...rows, ...(j.listErrors ?? []).map((e) => ({ image: '(image list)', error: e }))];
  } catch {
    return summary.filter((r) => !r.hardened).map((r) => ({ image: r.name, error: r.error || (r.launched ? 'not hardened' : 'did not launch') }));
  }
}

/** The seed's per-image counts of extracted files, when -b has its one-folder-per-image layout. */
async function binaryCounts(dir: string, out: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const perImage = entries.filter((e) => e.isDirectory() && e.name !== 'files');
  if (!perImage.length) return [];
  const rows = { bins: [] as number[], libs: [] as number[], exes: [] as number[] };
  for (const d of perImage) {
    const files = await fs.readdir(path.join(dir, d.name));
    // The seed counted a library once per name before its version suffix (libssl-1.1.so.1.1 → libssl.so).
    const libs = new Set(files.filter((f) => f.includes('.so')).map((f) => f.replace(/-.*so/, '.so').replace(/\.so.*$/, '.so')));
    rows.exes.push(files.length);
    rows.bins.push(files.filter((f) => !f.includes('.so')).length);
    rows.libs.push(libs.size);
  }
  const written: string[] = [];
  for (const [k, counts] of Object.entries(rows)) {
    const f = path.join(out, `container.${k}.csv`);
    await writeFileAtomic(f, 'index;count\n' + counts.map((c, i) => `${i + 1};${c}`).join('\n') + '\n');
    written.push(f);
  }
  return written;
}

/** `confine stats`: the seed's createStats over report files, plus the HTML report. */
export async function runStats(opts: StatsOptions): Promise<StatsResult> {
  const warnings: ConfineError[] = [];
  const summary = parseSummaryReport(await readText(opts.reportFile), opts.reportFile);
  const details = parseDetailReport(await readText(opts.detailsFile), opts.detailsFile);
  warnings.push(...summary.errors, ...details.errors);
  let images = new Map<string, ImageInfo>();
  if (opts.imageList) {
    const l = imageInfoFromList(await readText(opts.imageList), opts.imageList);
    images = l.images;
    warnings.push(...l.errors);
  }
  const cveFile = opts.cveFile ?? BUNDLED_CVE_FILE;
  const cves = parseCveFile(await readText(cveFile), cveFile);
  warnings.push(...cves.errors);
  const argCveFile = opts.argCveFile ?? BUNDLED_CVE_ARG_FILE;
  const argCves = parseCveArgFile(await readText(argCveFile), argCveFile);
  warnings.push(...argCves.errors);
  const profiles = profilesIn(opts.profilesDir ?? path.dirname(opts.reportFile), summary.rows.filter((r) => r.hardened).map((r) => r.name));
  warnings.push(...profiles.errors);
  return writeStatsOutputs({
    summary: summary.rows,
    details: details.rows,
    images,
    cves: cves.cves,
    argCves: argCves.cves,
    profiles: profiles.profiles,
    outDir: opts.outDir,
    failures: await failures(opts, summary.rows),
    unresolved: await unresolvedOf(opts),
    binariesDir: opts.binariesDir,
    warnings,
    title: `confine stats: ${path.basename(path.dirname(path.resolve(opts.reportFile)))}`,
  });
}

/**
 * The profiles of these images in `dir`, as profile-emit names them. An image without
 * one is left out (the seed's report files come without profiles); one that cannot be
 * read is a warning. A name that would lead out of `dir` is not looked up.
 */
export function profilesIn(dir: string, images: string[]): { profiles: Map<string, DockerProfile>; errors: ConfineError[] } {
  const profiles = new Map<string, DockerProfile>();
  const errors: ConfineError[] = [];
  for (const name of images) {
    const file = path.join(dir, profileFileName(name));
    const rel = path.relative(dir, file);
    if (rel.startsWith('..') || path.isAbsolute(rel) || rel.includes(path.sep)) continue;
    const r = readProfile(file);
    if (r.ok) profiles.set(name, r.value.profile);
    else if (r.error.kind !== 'missing-file') errors.push(r.error);
  }
  return { profiles, errors };
}

export interface StatsOutputsInput {
  summary: SummaryReportRow[];
  details: DetailReportRow[];
  images: Map<string, ImageInfo>;
  cves: CveEntry[];
  argCves?: CveArgEntry[];
  /** By image name: its emitted profile, for the argument-rule CVE figures. */
  profiles?: Map<string, DockerProfile>;
  outDir: string;
  failures: { image: string; error: string }[];
  /** Reached syscall sites with an unknown number, per image; written to unresolved.sites.csv and the page when known. */
  unresolved?: ImageUnresolved[];
  binariesDir?: string;
  warnings?: ConfineError[];
  title: string;
}

/** Computes the batch figures and writes the CSVs and the HTML page into outDir. */
export async function writeStatsOutputs(inp: StatsOutputsInput): Promise<StatsResult> {
  const names = allSyscalls().map((s) => s.name);
  const universe = names.length;
  const stats = computeBatchStats({ summary: inp.summary, details: inp.details, images: inp.images, cves: inp.cves, argCves: inp.argCves, profiles: inp.profiles, universe });
  const files = await writeStatsCsv(stats, inp.outDir);
  if (inp.binariesDir) files.push(...(await binaryCounts(inp.binariesDir, inp.outDir)));
  if (inp.unresolved) {
    const f = path.join(inp.outDir, UNRESOLVED_CSV);
    await writeFileAtomic(f, unresolvedCsv(inp.unresolved));
    files.push(f);
  }
  const allowedSets = new Map<string, Set<string>>();
  const hardened = new Set(stats.perImage.filter((i) => i.hardened).map((i) => i.name));
  for (const d of inp.details) {
    if (!hardened.has(d.name)) continue;
    const blocked = new Set(d.blockedSyscalls);
    allowedSets.set(d.name, new Set(names.filter((n) => !blocked.has(n))));
  }
  const dockerAllowed = dockerDefaultAllowedCount();
  let seed;
  try {
    seed = seedAverage(await fs.readFile(SEED_SAMPLE_REPORT, 'utf8'), universe);
  } catch {
    seed = undefined;
  }
  const html = renderHtmlReport({
    title: inp.title,
    stats,
    allowedSets,
    universe,
    dockerDefaultAllowed: dockerAllowed,
    ...(seed ? { seed } : {}),
    failures: inp.failures,
    ...(inp.unresolved ? { unresolved: inp.unresolved } : {}),
    generatedAt: new Date().toISOString(),
  });
  const htmlFile = path.join(inp.outDir, HTML_REPORT_NAME);
  await writeFileAtomic(htmlFile, html);
  files.push(htmlFile);
  return { stats, files, warnings: inp.warnings ?? [], universe, dockerDefaultAllowed: dockerAllowed };
}
