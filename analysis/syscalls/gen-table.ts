/**
 * Regenerates analysis/syscalls/x86_64.json from the host's kernel uapi headers.
 * Run: npx tsx analysis/syscalls/gen-table.ts [path/to/unistd_64.h]
 *
 * The table is checked in as data so analysis never depends on the build host's
 * headers; table.test.ts fails when the checked-in copy drifts from this host's header.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseLinuxVersionCode, parseUnistdHeader } from './unistd-header';

export const DEFAULT_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const VERSION_HEADER = '/usr/include/linux/version.h';
export const TABLE_FILE = path.join(__dirname, 'x86_64.json');

export interface SyscallTableFile {
  arch: 'x86_64';
  source: string;
  kernelHeaders: { package?: string; linuxVersion?: string };
  generatedBy: string;
  count: number;
  syscalls: Record<string, number>;
}

function packageVersion(file: string): string | undefined {
  try {
    const owner = execFileSync('dpkg', ['-S', file], { encoding: 'utf8' }).split(':')[0].trim();
    const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', owner], { encoding: 'utf8' }).trim();
    return `${owner} ${version}`;
  } catch {
    return undefined; // not a dpkg system; the linux version code still identifies the headers
  }
}

export function buildTable(headerPath: string): SyscallTableFile {
  const parsed = parseUnistdHeader(fs.readFileSync(headerPath, 'utf8'));
  if (parsed.errors.length) {
    const first = parsed.errors[0];
    throw new Error(`${headerPath}:${first.line}: unreadable __NR_ define: ${first.text.trim()}`);
  }
  const versionDir = path.resolve(path.dirname(headerPath), '..', '..', 'linux', 'version.h');
  const versionFile = fs.existsSync(versionDir) ? versionDir : VERSION_HEADER;
  const linuxVersion = fs.existsSync(versionFile)
    ? parseLinuxVersionCode(fs.readFileSync(versionFile, 'utf8'))
    : undefined;
  const syscalls: Record<string, number> = {};
  for (const e of parsed.entries) syscalls[e.name] = e.nr;
  return {
    arch: 'x86_64',
    source: headerPath,
    kernelHeaders: { package: packageVersion(headerPath), linuxVersion },
    generatedBy: 'npx tsx analysis/syscalls/gen-table.ts',
    count: parsed.entries.length,
    syscalls,
  };
}

if (require.main === module) {
  const header = process.argv[2] ?? DEFAULT_HEADER;
  const table = buildTable(header);
  fs.writeFileSync(TABLE_FILE, JSON.stringify(table, null, 2) + '\n');
  console.log(`wrote ${TABLE_FILE}: ${table.count} syscalls from ${header} (${table.kernelHeaders.package ?? table.kernelHeaders.linuxVersion})`);
}
