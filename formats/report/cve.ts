import Papa from 'papaparse';
import { ConfineError } from '../../pipeline/errors';

/**
 * Which ABI's entry point a way in is: `any` — the syscall however it is made (the
 * seed's reading of `__x64_sys_name`); `i386`, `x32` — only that compat ABI reaches the
 * bug (the kernel's `__ia32_compat_sys_name`, `__x32_compat_sys_name`).
 */
export type CveAbi = 'any' | 'i386' | 'x32';

export interface CveWay {
  /** The syscall's name, without the kernel's entry-point prefix. */
  syscall: string;
  abi: CveAbi;
}

export interface CveEntry {
  id: string;
  /** Syscall names without the kernel's `__x64_sys_` prefix (each once). */
  syscalls: string[];
  /** Every way in, as listed: the CVE is closed only when each is. */
  ways: CveWay[];
}

const PREFIXES: [RegExp, CveAbi][] = [
  [/^__x64_sys_/, 'any'],
  [/^__ia32_(compat_)?sys_/, 'i386'],
  [/^__x32_(compat_)?sys_/, 'x32'],
  [/^sys_/, 'any'],
];

/** `__ia32_compat_sys_setsockopt` → setsockopt through i386; a bare or `__x64_sys_` name → any ABI. */
export function parseWay(text: string): CveWay | undefined {
  for (const [re, abi] of PREFIXES) if (re.test(text)) return wayName(text.replace(re, ''), abi);
  if (/^__/.test(text)) return undefined; // another arch's or an unknown entry-point prefix
  return wayName(text, 'any');
}

const wayName = (syscall: string, abi: CveAbi) => (/^[a-z_][a-z0-9_]*$/.test(syscall) ? { syscall, abi } : undefined);

/** How a way reads in a report: `setsockopt (i386 only)`. */
export function formatWay(w: CveWay): string {
  return w.abi === 'any' ? w.syscall : `${w.syscall} (${w.abi} only)`;
}

/** The year in a CVE id (`CVE-2016-0728` → 2016): the year the id was assigned. */
export function cveYear(id: string): number | undefined {
  const m = /^CVE-(\d{4})-\d+$/.exec(id);
  return m ? Number(m[1]) : undefined;
}

const EXPECTED = "'CVE-ID;__x64_sys_name[, …]' (2 fields; a name may be __ia32_compat_sys_name or __x32_compat_sys_name for a way in through that ABI only)";

/**
 * The seed's `-c` file for stats: `CVE-ID;__x64_sys_a, __x64_sys_b` per line — the
 * syscalls through which the kernel bug is reached (formats/report/data/README.md). A bad line
 * is an error naming the file, the line and what was expected; the others are read.
 */
export function parseCveFile(text: string, file: string): { cves: CveEntry[]; errors: ConfineError[] } {
  const cves: CveEntry[] = [];
  const errors: ConfineError[] = [];
  const seen = new Set<string>();
  const data = Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), { delimiter: ';', quoteChar: '\u0000', skipEmptyLines: false }).data;
  data.forEach((f, i) => {
    if (f.length === 1 && (!f[0].trim() || f[0].trim().startsWith('#'))) return;
    const where = { file, line: i + 1 };
    const bad = (why: string) => void errors.push(new ConfineError('bad-input', why, where));
    if (f.length !== 2 || !f[0].trim()) return bad(`expected ${EXPECTED}, got ${f.length} field(s): '${f.join(';')}'`);
    const id = f[0].trim();
    if (cveYear(id) === undefined) return bad(`expected a CVE id (CVE-YYYY-NNNN) in the first field, got '${id}'`);
    if (seen.has(id)) return bad(`${id} is listed twice; put every way in on one line, separated by ','`);
    const ways: CveWay[] = [];
    for (const t of f[1].split(',').map((s) => s.trim()).filter(Boolean)) {
      const w = parseWay(t);
      if (!w) return bad(`${id}: expected a syscall entry point (__x64_sys_name, __ia32_compat_sys_name, __x32_compat_sys_name or a bare name), got '${t}'`);
      if (!ways.some((x) => x.syscall === w.syscall && x.abi === w.abi)) ways.push(w);
    }
    if (!ways.length) return bad(`${id}: expected at least one syscall after ';', got none`);
    seen.add(id);
    cves.push({ id, syscalls: [...new Set(ways.map((w) => w.syscall))], ways });
  });
  return { cves, errors };
}

/**
 * Name-level only (no profile known: the seed's report files): mitigated when every
 * way's syscall is blocked. An ABI-only way is not credited to a refused ABI here, since
 * which ABIs the filter admits is in the profile (formats/report/cve-verdict.ts).
 */
export function isMitigated(cve: CveEntry, blocked: ReadonlySet<string>): boolean {
  return cve.ways.every((w) => blocked.has(w.syscall));
}
