import Papa from 'papaparse';
import { ConfineError } from '../pipeline/errors';

export interface CveEntry {
  id: string;
  /** Syscall names without the kernel's `__x64_sys_` prefix. */
  syscalls: string[];
}

/**
 * The seed's `-c` file for stats: `CVE-ID;__x64_sys_a, __x64_sys_b` per line — the
 * syscalls through which the kernel bug is reached.
 */
export function parseCveFile(text: string, file: string): { cves: CveEntry[]; errors: ConfineError[] } {
  const cves: CveEntry[] = [];
  const errors: ConfineError[] = [];
  const data = Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), { delimiter: ';', quoteChar: '\u0000', skipEmptyLines: false }).data;
  data.forEach((f, i) => {
    if (f.length === 1 && !f[0].trim()) return;
    const where = { file, line: i + 1 };
    if (f.length !== 2 || !f[0].trim()) return void errors.push(new ConfineError('bad-input', `expected 'CVE-ID;__x64_sys_name[, …]', got '${f.join(';')}'`, where));
    const syscalls = f[1]
      .split(',')
      .map((s) => s.trim().replace(/^__(x64|ia32|x32)_sys_/, '').replace(/^sys_/, ''))
      .filter(Boolean);
    if (!syscalls.length) return void errors.push(new ConfineError('bad-input', `${f[0].trim()}: no syscalls listed`, where));
    cves.push({ id: f[0].trim(), syscalls: [...new Set(syscalls)] });
  });
  return { cves, errors };
}

/** A CVE is mitigated for an image when every syscall through which it is reached is blocked. */
export function isMitigated(cve: CveEntry, blocked: ReadonlySet<string>): boolean {
  return cve.syscalls.every((s) => blocked.has(s));
}
