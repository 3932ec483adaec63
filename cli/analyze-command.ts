import { lstatSync } from 'node:fs';
import * as path from 'node:path';
import { ContentStore } from '../cache/content-store';
import { FileDigestIndex } from '../cache/file-digests';
import { syscallName } from '../analysis/syscalls/table';
import { validateArtifact } from '../schemas/validate';
import { analyzePrograms } from '../system/host/analyze-programs';
import { resolveInRoot } from '../system/host/host-resolver';
import { LibraryTreeIndex } from '../system/host/library-trees';
import { ObjectFactsStore } from '../system/host/object-facts';
import { analysisCodeDigest, type AnalyzedBinary } from '../system/host/stored-analysis';
import { SummarySource } from '../system/host/summary-source';
import { existingPath, outputDir, parse, UsageError, writableDir } from './args';

export const analyzeHelp = () => `confine analyze — the syscalls reachable from ELF files on disk

Usage: confine analyze PATH... [--root DIR] [--cache DIR] [--json]

For each ELF executable (or shared object) given, resolves the libraries it loads
under --root as ld.so would (RUNPATH/RPATH with $ORIGIN, /etc/ld.so.conf, default
directories; musl's /etc/ld-musl-x86_64.path), analyses the code of every object,
and walks from the entry point, init arrays and the dynamic loader's entry to every
reachable syscall instruction. An indirect call may reach every function whose
address reached code materialises or live data holds, to a fixpoint (docs/analysis.md,
"Indirect calls"); the figures under direct edges only and under sysfilter's rule (every
address-taken function of every loaded object) are printed for comparison.

Options:
      --root DIR     filesystem tree the programs and libraries are looked up in
                     (default: /), e.g. an exported container rootfs: an absolute PATH
                     is taken inside it (else a PATH under DIR), and every symlink is
                     followed inside it (an absolute target is relative to DIR, '..'
                     stops at DIR), never to the host's file
      --cache DIR    reuse per-file analyses and whole-program results by content
                     (per-file entries are shared with 'confine profiles'); a file is
                     re-hashed only when its inode, size, mtime or ctime changed, is not
                     read at all to plan a program once its dynamic section and library
                     names are known by content (read for a scan, its digest is checked
                     again), and the library trees searched for dlopen names by file
                     name are re-read only when one of their directories changed
      --json         one JSON object on stdout:
                     {"binaries":[{"path","syscalls":[names],"unresolvedSites":N}],"syscalls":[union]};
                     a PATH that could not be analysed has an "error" entry too
  -v, --verbose      also list unresolved sites, missing libraries and one chain per syscall
  -h, --help         this text

Objects are scanned on worker threads (CONFINE_SCAN_WORKERS=N, 0 for none).
CONFINE_ANALYZE_TIMING=1 prints where the time went on stderr; CONFINE_V8_DEFAULTS=1
keeps V8's JIT defaults (confine raises its interrupt budget: cli/jit-budget.ts).

Exit status: 0 analysed; 1 some PATH could not be analysed (the others are still
printed); 2 bad usage.`;

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
  const store = values.cache !== undefined ? new ContentStore(writableDir('--cache', outputDir('--cache', values.cache), 'cache'), validateArtifact) : undefined;
  const files = store ? FileDigestIndex.open(path.join(store.root, 'file-digests.json')) : undefined;
  const trees = LibraryTreeIndex.open(store ? path.join(store.root, 'library-trees.json') : undefined);
  const targets = positionals.map((p) => locateInRoot(root, p));
  const found = targets.filter((t): t is Located & { rootPath: string } => t.rootPath !== undefined);
  const facts = ObjectFactsStore.open(store ? path.join(store.root, 'object-facts.json') : undefined, analysisCodeDigest());
  const source = new SummarySource(store, files, trees, facts);
  const analysed = await analyzePrograms(root, found.map((t) => t.rootPath), source);
  await files?.save().catch(() => undefined); // an index not saved only costs re-hashing next time
  await source.saveFacts();
  await trees.save().catch(() => undefined); // likewise re-listing
  // In the order given, each under the path as given (inside the root), failures included.
  const byTarget = new Map<Located, AnalyzedBinary>(found.map((t, i) => [t, analysed[i]]));
  const results: AnalyzedBinary[] = targets.map((t) => ({ ...(byTarget.get(t) ?? { missing: [], error: t.error }), path: t.label }));

  const union = new Set<number>();
  for (const r of results) r.resolution?.syscalls.forEach((n) => union.add(n));
  for (const r of results) if (r.error) process.stderr.write(`confine analyze: ${r.path}: ${r.error}\n`);
  if (values.json) {
    const out = {
      binaries: results.map((r) => ({
        path: r.path,
        syscalls: r.resolution ? sortedNames(r.resolution.syscalls) : [],
        unresolvedSites: r.resolution ? r.resolution.unresolvedSites.length : 0,
        ...(r.error !== undefined ? { error: r.error } : {}),
      })),
      syscalls: sortedNames(union),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    process.stdout.write(formatTable(results, union, values.verbose ?? false));
  }
  return results.some((r) => r.error) ? 1 : 0;
}

interface Located {
  /** The PATH as given, as a path inside the root (before symlinks are followed): what the output names. */
  label: string;
  /** The file inside the root, every symlink followed inside the root; undefined when there is none. */
  rootPath?: string;
  error?: string;
}

/**
 * Where PATH is inside the root. An absolute PATH is first taken inside the root; a
 * PATH that is not there (or a relative one) is a host path that must lie under the
 * root. Either way the file is found as extraction finds it: every symlink resolved
 * INSIDE the root (an absolute target is relative to the root, `..` stops at the root,
 * 40 hops at most), so a rootfs's `/usr/bin/nc -> /etc/alternatives/nc` never reaches
 * the host's file. A PATH that cannot be found is that PATH's error, not the command's.
 */
export function locateInRoot(root: string, p: string): Located {
  const hostRoot = path.resolve(root);
  const candidates: string[] = [];
  if (path.isAbsolute(p) && hostRoot !== '/') candidates.push(path.posix.normalize(p));
  const rel = path.relative(hostRoot, path.resolve(p));
  const underRoot = !(rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel));
  if (underRoot) candidates.push(`/${rel.split(path.sep).join('/')}`);
  for (const c of candidates) {
    const rootPath = resolveInRoot(hostRoot, c);
    if (rootPath === undefined) continue;
    let isFile = false;
    try {
      isFile = lstatSync(path.join(hostRoot, rootPath)).isFile(); // resolved: no symlink left to follow
    } catch {
      continue;
    }
    if (!isFile) return { label: c, error: `not a regular file${rootPath !== c ? ` (${c} -> ${rootPath} inside the root)` : ''}` };
    return { label: c, rootPath };
  }
  if (!candidates.length) return { label: p, error: `not inside --root ${root}` };
  return { label: candidates[0], error: `no such file${hostRoot !== '/' ? ` inside --root ${root}` : ''} (symlinks followed inside the root)` };
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
    lines.push(`  syscalls: ${res.syscalls.size} (direct edges only: ${res.withoutIndirectRule.size}; every address-taken function a target: ${res.wholeProgramAT.size}; without the value layer: ${res.withoutValueLayer.size}; indirect-call rule ${res.indirectRuleFired ? `applied; indirect-call targets: ${res.targets.reachable} (whole-program rule: ${res.targets.wholeProgram})` : 'not needed'})`);
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
        for (const s of p.steps) if (s.takenBy) lines.push(`      (${path.posix.basename(s.object)}:${s.function} is a target because ${s.takenBy})`);
        for (const s of p.steps) if (s.kept) lines.push(`      (${path.posix.basename(s.object)}:${s.function} kept: ${s.kept})`);
        if (p.kept) lines.push(`      (the site kept: ${p.kept})`);
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
