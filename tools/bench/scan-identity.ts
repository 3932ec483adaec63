/**
 * Output identity check for performance work on the analysis: prints a sha256 of the
 * canonical per-file scan (analysis/scan/scan-file.ts scanFile: ELF facts + ObjectSummary, keys
 * sorted) of a fixed set of files, and of `confine analyze --json` for each (fresh
 * --cache), so a change meant to be output-neutral can be checked before and after.
 * The set: libc, libcrypto, libstdc++, python3.11, node, the loader, and a static musl
 * program compiled here from scan-identity.c (musl-gcc -static; skipped when absent).
 *
 * Usage: npx tsx tools/bench/scan-identity.ts [--no-analyze] [--pool] [--save DIR] [FILE...]
 *   --no-analyze  only the in-process scans (the CLI runs take most of the time)
 *   --pool        scan on two pool workers instead of in process, so a large object's
 *                 decode is split between them (analysis/scan/slice-help.ts): the digests
 *                 must be those of a run without --pool
 *   --save DIR    also write each canonical scan to DIR/<name>.json (to diff two runs)
 * The last line is one digest over all lines above it: compare that between revisions.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { scanFile } from '../../analysis/scan/scan-file';
import { ScanPool } from '../../analysis/scan/scan-pool';

const DEFAULT_FILES = [
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  '/usr/lib/x86_64-linux-gnu/libcrypto.so.3',
  '/usr/lib/x86_64-linux-gnu/libstdc++.so.6',
  '/usr/bin/python3.11',
  '/usr/bin/node',
  '/lib64/ld-linux-x86-64.so.2',
];

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, canonical(o[k])]));
  }
  return v;
}

const sha = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

function muslSample(dir: string): string | undefined {
  const out = path.join(dir, 'musl-static');
  try {
    execFileSync('musl-gcc', ['-static', '-O2', '-o', out, path.join(__dirname, 'scan-identity.c')], { stdio: 'pipe' });
    return out;
  } catch (e) {
    console.error(`musl sample skipped: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const noAnalyze = args.includes('--no-analyze');
  const pool = args.includes('--pool') ? new ScanPool(2, undefined) : undefined;
  const saveAt = args.indexOf('--save');
  const saveDir = saveAt >= 0 ? args[saveAt + 1] : undefined;
  const given = args.filter((a, i) => !a.startsWith('--') && (saveAt < 0 || i !== saveAt + 1));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'scan-identity-'));
  try {
    const files = given.length ? given : [...DEFAULT_FILES, ...[muslSample(tmp)].filter((f): f is string => !!f)];
    if (saveDir) mkdirSync(saveDir, { recursive: true });
    const lines: string[] = [];
    const confine = path.join(__dirname, '..', '..', 'bin', 'confine');
    for (const f of files) {
      if (!existsSync(f)) {
        lines.push(`MISSING ${f}`);
        console.log(lines[lines.length - 1]);
        continue;
      }
      const name = path.basename(f);
      const bytes = readFileSync(f);
      const digest = sha(bytes);
      const t0 = process.hrtime.bigint();
      const scan = JSON.stringify(canonical(pool ? await pool.scan({ bytes, digest, path: f }) : scanFile(bytes, digest, f)));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (saveDir) writeFileSync(path.join(saveDir, `${name}.json`), scan);
      let analyzeSha = '-';
      if (!noAnalyze) {
        const cache = mkdtempSync(path.join(tmp, 'cache-'));
        const json = execFileSync(confine, ['analyze', '--cache', cache, '--json', f], { maxBuffer: 1 << 28, encoding: 'utf8' });
        // The musl sample is compiled into a fresh temporary directory: paths are not output.
        analyzeSha = sha(JSON.stringify(canonical(JSON.parse(json.split(f).join(name)))));
        if (saveDir) writeFileSync(path.join(saveDir, `${name}.analyze.json`), json);
      }
      // The file's own digest is part of the line: a changed input is not a changed output.
      lines.push(`${name} file=${digest.slice(0, 12)} scan=${sha(scan).slice(0, 16)} analyze=${analyzeSha.slice(0, 16)}`);
      console.log(`${lines[lines.length - 1]}  (scan ${ms.toFixed(0)} ms)`);
    }
    console.log(`ALL ${sha(lines.join('\n')).slice(0, 16)}${noAnalyze ? ' (scans only)' : ''}${pool ? ` (scanned on workers; ${pool.stats.helped} decode(s) split)` : ''}`);
  } finally {
    await pool?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

void main();
