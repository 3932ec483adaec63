import Papa from 'papaparse';
import { fieldSafe } from '../../pipeline/terminal-text';
import { ConfineError } from '../../pipeline/errors';

/**
 * The seed's `profile.report.csv` row (one per image it tried), in the layout of its
 * published results (15 fields):
 * rank;name;launched;stillRunning;installStatus;blocked;blockedBeyondDefault;
 * blockedTotalInclDefault;hardened;error;directSyscalls;libcSyscalls;seconds;languages;remaining
 * Older seed runs wrote 14 (no `remaining`), newer ones 16 (a fine-grained count after
 * `blocked`). Ours is the 15-field layout with three columns appended.
 */
export interface SummaryReportRow {
  rank: number;
  name: string;
  launched: boolean;
  stillRunning: boolean;
  installStatus: boolean;
  blocked: number;
  fineGrainedBlocked?: number;
  blockedBeyondDefault: number;
  blockedTotalInclDefault: number;
  hardened: boolean;
  error: string;
  directSyscalls: number;
  libcSyscalls: number;
  seconds: number | null;
  languages: string[];
  remaining: number | null;
  /** Ours: syscalls the profile allows. */
  allowed?: number | null;
  /** Ours: syscall sites whose number stayed unknown. */
  unresolvedSites?: number | null;
  /** Ours: syscalls verify saw blocked that the image needed (empty until verify runs). */
  falseNegatives?: number | null;
}

/** `profile.report.details.csv`: rank;name;blocked;beyondDefault;totalInclDefault;direct;libc;{blocked set}[;ours…] */
export interface DetailReportRow {
  rank: number;
  name: string;
  blocked: number;
  blockedBeyondDefault: number;
  blockedTotalInclDefault: number;
  directSyscalls: number;
  libcSyscalls: number;
  blockedSyscalls: string[];
  allowed?: number | null;
  unresolvedSites?: number | null;
  falseNegatives?: number | null;
}

const pyBool = (s: string | undefined) => (s ?? '').trim() === 'True';
const int = (s: string | undefined) => {
  const n = Number((s ?? '').trim());
  return Number.isFinite(n) ? n : NaN;
};
const optNum = (s: string | undefined): number | null => (s === undefined || s.trim() === '' ? null : int(s));

/** Python's repr of a set of strings: `{'a', 'b'}`, or `set()` when empty. */
export function parsePySet(s: string): string[] {
  const t = s.trim();
  if (t === 'set()' || t === '{}' || t === '') return [];
  if (!t.startsWith('{') || !t.endsWith('}')) throw new Error(`not a Python set literal: ${t.slice(0, 40)}`);
  return t
    .slice(1, -1)
    .split(',')
    .map((x) => x.trim().replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1'))
    .filter((x) => x.length);
}

export function formatPySet(items: Iterable<string>): string {
  const xs = [...items];
  return xs.length ? `{${xs.map((x) => `'${x}'`).join(', ')}}` : 'set()';
}

const pyBoolOut = (b: boolean) => (b ? 'True' : 'False');

function splitLines(text: string): string[][] {
  // The seed's files have no quoting; ';' never occurs inside a field except in free-text
  // error messages, which it also wrote unquoted.
  return Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), { delimiter: ';', quoteChar: '\u0000', skipEmptyLines: true }).data;
}

export function parseSummaryReport(text: string, file: string): { rows: SummaryReportRow[]; errors: ConfineError[] } {
  const rows: SummaryReportRow[] = [];
  const errors: ConfineError[] = [];
  splitLines(text).forEach((f, i) => {
    const line = i + 1;
    const bad = (m: string) => errors.push(new ConfineError('bad-input', m, { file, line }));
    // 14: no `remaining`; 15: the published layout; 16: a fine-grained count after `blocked`; 18: ours.
    if (![14, 15, 16, 18].includes(f.length)) return bad(`expected 14, 15, 16 or 18 ';'-separated fields, found ${f.length}`);
    const fine = f.length === 16 ? 1 : 0;
    const at = (k: number) => f[k <= 5 ? k : k + fine];
    const row: SummaryReportRow = {
      rank: int(f[0].replace(/^#/, '')),
      name: f[1].trim(),
      launched: pyBool(f[2]),
      stillRunning: pyBool(f[3]),
      installStatus: pyBool(f[4]),
      blocked: int(f[5]),
      ...(fine ? { fineGrainedBlocked: int(f[6]) } : {}),
      blockedBeyondDefault: int(at(6)),
      blockedTotalInclDefault: int(at(7)),
      hardened: pyBool(at(8)),
      error: at(9) ?? '',
      directSyscalls: int(at(10)),
      libcSyscalls: int(at(11)),
      seconds: optNum(at(12)),
      languages: [],
      remaining: f.length >= 15 ? optNum(at(14)) : null,
    };
    try {
      row.languages = parsePySet(at(13));
    } catch (e) {
      return bad(`languages: ${(e as Error).message}`);
    }
    if (f.length === 18) {
      row.allowed = optNum(f[15]);
      row.unresolvedSites = optNum(f[16]);
      row.falseNegatives = optNum(f[17]);
    }
    if (!Number.isInteger(row.rank) || !row.name || [row.blocked, row.blockedBeyondDefault, row.blockedTotalInclDefault].some((n) => !Number.isInteger(n))) {
      return bad('rank and the blocked counts must be integers and the name not empty');
    }
    rows.push(row);
  });
  return { rows, errors };
}

export function parseDetailReport(text: string, file: string): { rows: DetailReportRow[]; errors: ConfineError[] } {
  const rows: DetailReportRow[] = [];
  const errors: ConfineError[] = [];
  splitLines(text).forEach((f, i) => {
    const bad = (m: string) => errors.push(new ConfineError('bad-input', m, { file, line: i + 1 }));
    if (f.length !== 8 && f.length !== 11) return bad(`expected 8 or 11 ';'-separated fields, found ${f.length}`);
    let set: string[];
    try {
      set = parsePySet(f[7]);
    } catch (e) {
      return bad((e as Error).message);
    }
    rows.push({
      rank: int(f[0].replace(/^#/, '')),
      name: f[1].trim(),
      blocked: int(f[2]),
      blockedBeyondDefault: int(f[3]),
      blockedTotalInclDefault: int(f[4]),
      directSyscalls: int(f[5]),
      libcSyscalls: int(f[6]),
      blockedSyscalls: set,
      ...(f.length === 11 ? { allowed: optNum(f[8]), unresolvedSites: optNum(f[9]), falseNegatives: optNum(f[10]) } : {}),
    });
  });
  return { rows, errors };
}

const cell = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '' : String(v));
// The seed wrote free text unquoted; a ';' or newline in ours would shift every later column.
// Errors quote image text (paths): control characters are made visible first.
const text = (s: string) => fieldSafe(s.replace(/[;\r\n]+/g, ' ')).trim();

export function formatSummaryRow(r: SummaryReportRow): string {
  return [
    String(r.rank), r.name, pyBoolOut(r.launched), pyBoolOut(r.stillRunning), pyBoolOut(r.installStatus),
    String(r.blocked), String(r.blockedBeyondDefault), String(r.blockedTotalInclDefault), pyBoolOut(r.hardened),
    text(r.error), String(r.directSyscalls), String(r.libcSyscalls), cell(r.seconds), formatPySet(r.languages), cell(r.remaining),
    cell(r.allowed), cell(r.unresolvedSites), cell(r.falseNegatives),
  ].join(';');
}

export function formatDetailRow(r: DetailReportRow): string {
  return [
    String(r.rank), r.name, String(r.blocked), String(r.blockedBeyondDefault), String(r.blockedTotalInclDefault),
    String(r.directSyscalls), String(r.libcSyscalls), formatPySet(r.blockedSyscalls),
    cell(r.allowed), cell(r.unresolvedSites), cell(r.falseNegatives),
  ].join(';');
}
