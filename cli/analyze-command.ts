import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { ContentStore } from '../cache/content-store';
import { sha256Hex } from '../cache/digest';
import type { Fingerprint } from '../cache/fingerprint';
import { fingerprintKey } from '../cache/fingerprint';
import { readDynamicInfo } from '../elf';
import { resolveLoadOrder, type FoundObject } from '../analysis/host-resolver';
import { resolveProgram, type ProgramObject, type ProgramResolution } from '../analysis/link';
import { ConfineError } from '../pipeline/errors';
import type { ElfScanArtifact, ObjectSummary } from '../schemas/types';
import { validateArtifact } from '../schemas/validate';
import { scanFile, scanKeyConfig, SCAN_VERSION } from '../stages/scan-file';
import { syscallName } from '../syscalls/table';
import { existingPath, outputDir, parse, UsageError } from './args';

export const analyzeHelp = () => `confine analyze — the syscalls reachable from ELF files on disk

Usage: confine analyze PATH... [--root DIR] [--cache DIR] [--json]

For each ELF executable (or shared object) given, resolves the libraries it loads
under --root as ld.so would (RUNPATH/RPATH with $ORIGIN, /etc/ld.so.conf, default
directories; musl's /etc/ld-musl-x86_64.path), analyses the code of every object,
and walks from the entry point, init arrays and the dynamic loader's entry to every
reachable syscall instruction. Indirect calls may reach every address-taken function
of every loaded object (sound; sysfilter's rule).

Options:
      --root DIR     filesystem tree the libraries are looked up in (default: /);
                     PATHs are taken inside it when DIR/PATH exists
      --cache DIR    reuse per-file analyses by content (shared with 'confine profiles')
      --json         one JSON object on stdout:
                     {"binaries":[{"path","syscalls":[names],"unresolvedSites":N}],"syscalls":[union]}
  -v, --verbose      also list unresolved sites, missing libraries and one chain per syscall
  -h, --help         this text

Exit status: 0 analysed; 1 some file could not be analysed; 2 bad usage.`;

export interface AnalyzedBinary {
  path: string;
  resolution?: ProgramResolution;
  error?: string;
  missing: string[];
  /** For Go binaries: version, functions, sites resolved/unresolved (golang/). */
  go?: ElfScanArtifact['go'];
}

/** Per-file summaries by content digest: in memory for this run, on disk with --cache. */
export class SummarySource {
  private readonly memo = new Map<string, ElfScanArtifact>();
  constructor(private readonly store?: ContentStore) {}

  async get(bytes: Uint8Array, pathForMessages: string): Promise<ElfScanArtifact> {
    const digest = `sha256:${sha256Hex(bytes)}`;
    const hit = this.memo.get(digest);
    if (hit) return hit;
    // The same fingerprint symbol-scan's memo uses, so both share cache entries.
    const fp: Fingerprint = { stage: 'elf-scan', version: SCAN_VERSION, schema: 'confine/elf-scan/v1', config: scanKeyConfig(), inputs: { file: digest } };
    let art: ElfScanArtifact | undefined;
    if (this.store) {
      const got = await this.store.read<ElfScanArtifact>(fingerprintKey(fp));
      if (got.status === 'hit') art = got.artifact;
    }
    if (!art) {
      art = scanFile(bytes, digest, pathForMessages);
      if (this.store) await this.store.write(fp, art);
    }
    this.memo.set(digest, art);
    return art;
  }
}

/** Analyses one program found at `rootPath` inside `root`. */
export async function analyzeBinary(root: string, rootPath: string, source: SummarySource): Promise<AnalyzedBinary> {
  const hostPath = path.join(root, rootPath);
  const bytes = readFileSync(hostPath);
  const art = await source.get(bytes, rootPath);
  if (!art.analysis) return { path: rootPath, error: art.error ?? `${art.format}: no code to analyse`, missing: [] };
  const info = readDynamicInfo(bytes, rootPath);
  const order = resolveLoadOrder(root, rootPath, info);
  const summaryOf = async (o: FoundObject): Promise<ProgramObject | undefined> => {
    const s = await source.get(o.bytes, o.rootPath);
    return s.analysis ? { path: o.rootPath, summary: s.analysis } : undefined;
  };
  const libraries: ProgramObject[] = [];
  const missing = order.missing.map((m) => `${m.name} (needed by ${m.neededBy})`);
  for (const l of order.libraries) {
    const s = await summaryOf(l);
    if (s) libraries.push(s);
    else missing.push(`${l.rootPath} (not analysable)`);
  }
  const loader = order.loader ? await summaryOf(order.loader) : undefined;
  const resolution = resolveProgram({ executable: { path: rootPath, summary: art.analysis as ObjectSummary }, libraries, ...(loader ? { loader } : {}) });
  return { path: rootPath, resolution, missing, ...(art.go ? { go: art.go } : {}) };
}

const nameOf = (nr: number) => syscallName(nr) ?? `syscall_${nr}`;
const sortedNames = (s: Iterable<number>) => [...s].map(nameOf).sort();

export async function analyzeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      root: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(`${analyzeHelp()}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('expects at least one PATH');
  const root = existingPath('--root', values.root ?? '/', 'dir')!;
  const store = values.cache !== undefined ? new ContentStore(outputDir('--cache', values.cache), validateArtifact) : undefined;
  const source = new SummarySource(store);

  const results: AnalyzedBinary[] = [];
  for (const p of positionals) results.push(await analyzeBinary(root, rootPathOf(root, p), source));

  const union = new Set<number>();
  for (const r of results) r.resolution?.syscalls.forEach((n) => union.add(n));
  for (const r of results) if (r.error) process.stderr.write(`confine analyze: ${r.path}: ${r.error}\n`);
  if (values.json) {
    const out = {
      binaries: results.map((r) => ({
        path: r.path,
        syscalls: r.resolution ? sortedNames(r.resolution.syscalls) : [],
        unresolvedSites: r.resolution ? r.resolution.unresolvedSites.length : 0,
      })),
      syscalls: sortedNames(union),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    process.stdout.write(formatTable(results, union, values.verbose ?? false));
  }
  return results.some((r) => r.error) ? 1 : 0;
}

/** A PATH is taken inside --root when it exists there, else as a host path that must lie under the root. */
function rootPathOf(root: string, p: string): string {
  if (root !== '/' && path.isAbsolute(p)) {
    try {
      if (statSync(path.join(root, p)).isFile()) return path.posix.normalize(p);
    } catch {
      // not inside the root: a host path
    }
  }
  const abs = path.resolve(p);
  try {
    if (!statSync(abs).isFile()) throw new ConfineError('missing-file', `${p}: not a regular file`);
  } catch (e) {
    if (e instanceof ConfineError) throw e;
    throw new ConfineError('missing-file', `${p}: no such file`);
  }
  const rel = path.relative(root, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UsageError(`${p} is outside --root ${root}`);
  return `/${rel.split(path.sep).join('/')}`;
}

function formatTable(results: AnalyzedBinary[], union: Set<number>, verbose: boolean): string {
  const lines: string[] = [];
  for (const r of results) {
    if (!r.resolution) {
      lines.push(`${r.path}: not analysed: ${r.error}`);
      continue;
    }
    const res = r.resolution;
    const objs = res.perObject.map((o) => `${path.posix.basename(o.path)} ${o.reachedFunctions}/${o.functions}`).join(', ');
    lines.push(`${r.path}`);
    lines.push(`  objects (functions reached/total): ${objs}`);
    lines.push(`  syscalls: ${res.syscalls.size} (direct edges only: ${res.withoutIndirectRule.size}; indirect-call rule ${res.indirectRuleFired ? 'applied' : 'not needed'})`);
    lines.push(`  unresolved sites: ${res.unresolvedSites.length}${r.missing.length ? `; missing libraries: ${r.missing.length}` : ''}`);
    if (r.go) lines.push(`  Go ${r.go.version ?? '(version unknown)'}${r.go.modulePath ? ` (${r.go.modulePath})` : ''}: ${r.go.functions} functions, ${r.go.sitesResolved} syscall sites resolved, ${r.go.sitesUnresolved} unresolved`);
    lines.push(...wrap(sortedNames(res.syscalls).join(' '), 4));
    if (verbose) {
      for (const u of res.unresolvedSites) lines.push(`    unresolved ${u.object}@0x${u.site.toString(16)} in ${u.function}: ${u.reason}`);
      for (const m of r.missing) lines.push(`    missing ${m}`);
      for (const nr of [...res.syscalls].sort((a, b) => a - b)) {
        const p = res.provenance.get(nr);
        if (!p) continue;
        const chain = p.steps.map((s) => `${s.via && s.via.startsWith('import') ? `[${s.via}] ` : s.via === 'indirect' ? '[indirect] ' : ''}${path.posix.basename(s.object)}:${s.function}`).join(' → ');
        lines.push(`    ${nameOf(nr)}: ${chain} → site 0x${p.site.toString(16)}`);
      }
    }
  }
  if (results.length > 1) {
    lines.push(`union: ${union.size} syscalls`);
    lines.push(...wrap(sortedNames(union).join(' '), 2));
  }
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, indent: number, width = 100): string[] {
  const out: string[] = [];
  let cur = '';
  for (const w of text.split(' ')) {
    if (cur && cur.length + w.length + 1 > width - indent) {
      out.push(' '.repeat(indent) + cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) out.push(' '.repeat(indent) + cur);
  return out;
}
