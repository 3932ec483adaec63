import { lstatSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { sourceDigest } from '../cache/code-digest';
import { ContentStore } from '../cache/content-store';
import { sha256Hex } from '../cache/digest';
import { FileDigestIndex } from '../cache/file-digests';
import { fingerprintKey, type Fingerprint } from '../cache/fingerprint';
import { readDynamicInfo, type DynamicInfo } from '../analysis/elf';
import { resolveInRoot, resolveLoadOrder, type FoundObject, type LibraryListing, type LoadOrder, type ObjectFiles, type ObjectReader } from '../system/host/host-resolver';
import { libraryNamesIn } from '../analysis/summary/dlopen-names';
import { ObjectFactsStore } from '../system/host/object-facts';
import { LibraryTreeIndex } from '../system/host/library-trees';
import type { ProgramObject, ProgramResolution, Provenance } from '../analysis/link/link';
import { asConfineError, ConfineError } from '../pipeline/errors';
import type { ElfScanArtifact, ObjectSummary } from '../schemas/types';
import { SCAN_SOURCES } from '../analysis/scan/scan-file';
import { syscallName } from '../analysis/syscalls/table';
import { cachedScan, type ScanJob } from '../analysis/scan/scan-job';
import { at } from '../analysis/scan/timing-stamp';
import type { ScanPool } from '../analysis/scan/scan-pool';
import { SPLIT_MIN_BYTES } from '../analysis/x86/split-threshold';
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

export interface AnalyzedBinary {
  path: string;
  resolution?: ProgramResolution;
  error?: string;
  missing: string[];
  /** For Go binaries: version, functions, sites resolved/unresolved (analysis/golang/). */
  go?: ElfScanArtifact['go'];
}

/** Per-file summaries by content digest: in memory for this run, on disk with --cache. */
export class SummarySource {
  private readonly memo = new Map<string, Promise<ElfScanArtifact>>();
  private readonly digests = new WeakMap<Uint8Array, string>();
  constructor(
    readonly store?: ContentStore,
    /** Digests of host files by identity and change times (with --cache): a warm run re-hashes nothing. */
    private readonly files?: FileDigestIndex,
    /** Listings of library trees (dlopen names found by file name), kept with --cache while the directories are unchanged. */
    readonly trees: LibraryTreeIndex = LibraryTreeIndex.open(),
    /** Dynamic info and library names of objects by content digest (with --cache: kept between runs). */
    private readonly facts: ObjectFactsStore = ObjectFactsStore.open(),
  ) {}

  /** The digest of an object the resolver found: the reader's when it had one, else of its bytes. */
  objectDigest(o: { readonly bytes: Uint8Array; digest?: string }): string {
    return o.digest ?? this.digestOf(o.bytes);
  }

  /**
   * With --cache: a reader that takes an unchanged file's digest from the file index and
   * its dynamic info and library names from the facts store, so planning reads no file
   * it has seen before. The bytes are read when first asked for (a scan), and checked to
   * still have that digest, so a file changed in between is never analysed under the
   * old one's name.
   */
  reader(): ObjectReader | undefined {
    const index = this.files;
    if (!index) return undefined;
    return (hostPath, rootPath) => {
      try {
        if (!statSync(hostPath).isFile()) return null;
      } catch {
        return null;
      }
      let bytes: Uint8Array | undefined;
      // Whether the bytes read are the ones the digest was computed from.
      let hashed = false;
      const read = () => (bytes ??= readFileSync(hostPath));
      let digest: string;
      try {
        digest = index.digestOf(hostPath, () => {
          hashed = true;
          return `sha256:${sha256Hex(read())}`;
        });
      } catch {
        return null;
      }
      const checked = (): Uint8Array => {
        const b = read();
        if (!hashed) {
          if (`sha256:${sha256Hex(b)}` !== digest) throw new ConfineError('analysis-failed', `${hostPath} changed while it was being analysed; run again`);
          hashed = true;
        }
        this.digests.set(b, digest);
        return b;
      };
      let facts = this.facts.get(digest);
      if (!facts) {
        try {
          facts = { info: readDynamicInfo(checked(), rootPath) };
        } catch {
          return null;
        }
        this.facts.set(digest, facts);
      }
      const f = facts;
      return {
        get bytes() {
          return checked();
        },
        info: f.info,
        libraryNames: () => {
          if (!f.names) {
            f.names = libraryNamesIn(checked());
            this.facts.set(digest, f);
          }
          return f.names;
        },
        digest,
      };
    };
  }

  /** Keeps the facts learnt in this run (with --cache); not saved only costs reading again. */
  async saveFacts(): Promise<void> {
    await this.facts.save().catch(() => undefined);
  }

  /** digestOf for bytes just read from `absPath`, from the file index when the file is unchanged. */
  digestOfFile(absPath: string, bytes: Uint8Array): string {
    if (!this.files || this.digests.has(bytes)) return this.digestOf(bytes);
    const d = this.files.digestOf(absPath, () => `sha256:${sha256Hex(bytes)}`);
    this.digests.set(bytes, d);
    return d;
  }

  /** `sha256:` digest of a file's bytes (each buffer hashed once). */
  digestOf(bytes: Uint8Array): string {
    let d = this.digests.get(bytes);
    if (d === undefined) this.digests.set(bytes, (d = `sha256:${sha256Hex(bytes)}`));
    return d;
  }

  get(bytes: Uint8Array, pathForMessages: string, pool?: ScanPool): Promise<ElfScanArtifact> {
    const digest = this.digestOf(bytes);
    let p = this.memo.get(digest);
    if (!p) {
      const job: ScanJob = { bytes, digest, path: pathForMessages };
      p = pool ? pool.scan(job) : cachedScan(this.store, job);
      this.memo.set(digest, p);
    }
    return p;
  }
}

/** What one program needs before any scan: its bytes and where its libraries are. */
export interface ProgramPlan {
  rootPath: string;
  /** Read when first asked for, when the reader could plan without them. */
  readonly bytes: Uint8Array;
  /** `sha256:` digest of the bytes, when the reader knew it. */
  digest?: string;
  info?: DynamicInfo;
  order?: LoadOrder;
  /** Why the load order could not be found; thrown only if the scan says the file is analysable. */
  failure?: unknown;
}

export function planProgram(root: string, rootPath: string, files?: ObjectFiles, listing?: LibraryListing, read?: ObjectReader): ProgramPlan {
  const opened = read?.(path.join(root, rootPath), rootPath);
  if (opened) {
    // The getter stays a getter: spreading `opened` would read the file.
    const plan = (rest: Pick<ProgramPlan, 'info' | 'order' | 'failure'>): ProgramPlan => ({
      rootPath,
      get bytes() {
        return opened.bytes;
      },
      digest: opened.digest,
      ...rest,
    });
    try {
      return plan({ info: opened.info, order: resolveLoadOrder(root, rootPath, opened.info, files, listing, read) });
    } catch (failure) {
      return plan({ failure });
    }
  }
  // Not an ELF object the reader takes (or no reader): read now; the scan says why it is not analysable.
  const bytes = readFileSync(path.join(root, rootPath));
  try {
    const info = readDynamicInfo(bytes, rootPath);
    return { rootPath, bytes, info, order: resolveLoadOrder(root, rootPath, info, files, listing, read) };
  } catch (failure) {
    return { rootPath, bytes, failure };
  }
}

type PlannedObject = Pick<FoundObject, 'bytes' | 'rootPath' | 'digest'>;

/** Every object of the program (executable, libraries, loader), the executable first; none read yet. */
function objectsOf(plan: ProgramPlan): PlannedObject[] {
  const o = plan.order;
  const exe: PlannedObject = {
    rootPath: plan.rootPath,
    get bytes() {
      return plan.bytes;
    },
    digest: plan.digest,
  };
  return [exe, ...(o?.libraries ?? []), ...(o?.loader ? [o.loader] : []), ...(o?.candidates ?? []).map((c) => c.object)];
}

/** Analyses one program found at `rootPath` inside `root`. */
export async function analyzeBinary(root: string, rootPath: string, source: SummarySource): Promise<AnalyzedBinary> {
  return analyzePlan(planProgram(root, rootPath), source);
}

async function analyzePlan(plan: ProgramPlan, source: SummarySource, pool?: ScanPool): Promise<AnalyzedBinary> {
  // The walk (and the x86 code its argument rules load) only when a program is walked: a warm run reuses every result.
  const { openedByHashes, resolveProgram } = require('../analysis/link/link') as typeof import('../analysis/link/link');
  const rootPath = plan.rootPath;
  const art = await source.get(plan.bytes, rootPath, pool);
  if (!art.analysis) return { path: rootPath, error: art.error ?? `${art.format}: no code to analyse`, missing: [] };
  if (!plan.order) throw plan.failure;
  const order = plan.order;
  const summaryOf = async (o: FoundObject): Promise<ProgramObject | undefined> => {
    const s = await source.get(o.bytes, o.rootPath, pool);
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
  for (const c of order.candidates) {
    const s = await summaryOf(c.object);
    if (s) libraries.push({ ...s, openedBy: openedByHashes(c.object.rootPath, c.object.info.soname, c.names) });
  }
  const resolution = resolveProgram({ executable: { path: rootPath, summary: art.analysis as ObjectSummary }, libraries, ...(loader ? { loader } : {}) });
  return { path: rootPath, resolution, missing, ...(art.go ? { go: art.go } : {}) };
}

/**
 * Analyses several programs. With a store, each program's whole answer is cached
 * under its inputs' contents (see resolutionFingerprint): an unchanged rerun hashes
 * the files, reads one small entry per program and scans nothing. Otherwise the
 * objects of every program still to resolve are scanned on the pool's workers,
 * largest first, and each program is walked on this thread once its own objects are in.
 */
export async function analyzePrograms(root: string, rootPaths: string[], source: SummarySource): Promise<AnalyzedBinary[]> {
  const store = source.store;
  const t = phaseTimer();
  const files: ObjectFiles = new Map();
  // A program that cannot be read is that program's error, not the whole command's.
  const unreadable = new Map<number, string>();
  const reader = source.reader();
  const plans = rootPaths.map((rp, i) => {
    try {
      return planProgram(root, rp, files, source.trees.listing, reader);
    } catch (e) {
      unreadable.set(i, `cannot read it: ${(e as Error).message}`);
      return { rootPath: rp, bytes: new Uint8Array(0), failure: e };
    }
  });
  t('plan (read files, load order)');
  // OpenSSL's SHA-256 runs at >1 GB/s here (SHA-NI): inline beats WebCrypto's copy to its thread pool.
  plans.forEach((p, i) => {
    if (!unreadable.has(i)) for (const o of objectsOf(p)) if (o.digest === undefined) source.digestOfFile(path.join(root, o.rootPath), o.bytes);
  });
  t('hash');
  const fps = plans.map((p) => (store && p.order ? resolutionFingerprint(p, source) : undefined));
  const results: (AnalyzedBinary | undefined)[] = await Promise.all(
    fps.map(async (fp, i) => {
      const unread = unreadable.get(i);
      if (unread !== undefined) return { path: rootPaths[i], error: unread, missing: [] };
      if (!store || !fp) return undefined;
      const got = await store.read<StoredAnalysis>(fingerprintKey(fp));
      return got.status === 'hit' ? fromStored(got.artifact) : undefined;
    }),
  );
  t(`program entries (${results.filter(Boolean).length}/${plans.length} reused)`);

  // Only objects a walk will read: an executable the scan will refuse (not x86-64) has no walk.
  const jobs = new Map<string, PlannedObject>();
  plans.forEach((p, i) => {
    if (results[i]) return;
    const walks = p.info !== undefined && p.info.elfClass === 64 && p.info.machine === EM_X86_64 && (p.info.type === 'exec' || p.info.type === 'dyn');
    for (const o of walks ? objectsOf(p) : objectsOf(p).slice(0, 1)) {
      const d = source.objectDigest(o);
      if (!jobs.has(d)) jobs.set(d, o);
    }
  });
  // Every program's entry was reused: nothing to scan or walk.
  if (jobs.size === 0) return results as AnalyzedBinary[];
  // A file with that much code (or more) may be large enough to decode on several workers.
  const large = [...jobs.values()].filter((o) => o.bytes.length >= SPLIT_MIN_BYTES).length;
  // Loaded here, so that a warm run never loads the decoder the workers use.
  const { ScanPool } = require('../analysis/scan/scan-pool') as typeof import('../analysis/scan/scan-pool');
  const pool = new ScanPool(ScanPool.sizeFor(jobs.size, large), store);
  try {
    const started = [...jobs.values()].sort((a, b) => b.bytes.length - a.bytes.length).map((o) => source.get(o.bytes, o.rootPath, pool));
    // Each program is walked as soon as its own objects are scanned (libc's while a large
    // Go binary is still being scanned), on this otherwise idle thread.
    const walks = plans.map(async (plan, i) => {
      if (results[i]) return results[i]!;
      const r = await analyzePlan(plan, source, pool);
      t(`walk ${plan.rootPath}`);
      const fp = fps[i];
      if (store && fp && r.resolution) await store.write(fp, toStored(r));
      return r;
    });
    const settled = await Promise.allSettled(walks);
    await Promise.allSettled(started);
    t(`scan ${jobs.size} objects (${pool.size} workers) and walk ${plans.length - results.filter(Boolean).length} programs`);
    // One program failing (no load order, a broken library) is that program's error entry.
    for (let i = 0; i < plans.length; i++) {
      const w = settled[i];
      results[i] = w.status === 'fulfilled' ? w.value : { path: plans[i].rootPath, error: asConfineError(w.reason).message, missing: [] };
    }
    await pool.flush();
    t('wait for workers to write scan entries');
  } finally {
    await pool.close();
  }
  return results as AnalyzedBinary[];
}

const EM_X86_64 = 62;

/** CONFINE_ANALYZE_TIMING=1: wall time per phase on stderr (for tools/bench/ and profiling), else nothing. */
function phaseTimer(): (what: string) => void {
  if (!process.env.CONFINE_ANALYZE_TIMING) return () => undefined;
  process.env.CONFINE_ANALYZE_T0 ??= String(performance.timeOrigin);
  let last = performance.now();
  return (what) => {
    const now = performance.now();
    process.stderr.write(`[analyze] ${at()}${what}: ${((now - last) / 1000).toFixed(2)} s\n`);
    last = now;
  };
}

/** The digest of all the code that computes a program's answer (the scan's sources, which include analysis/link/link.ts and analysis/elf/, and this file). */
const analysisCodeDigest = () => sourceDigest(path.join(__dirname, '..'), [...SCAN_SOURCES, 'cli/analyze-command.ts']);

/** Bump when the stored form of a program's result changes. */
const RESOLUTION_VERSION = 1;
export const RESOLUTION_SCHEMA = 'confine/analyze-program/v1';

/**
 * The key of one program's whole result: the program's and every loaded object's path
 * and content digest, in load order, the libraries not found, and the digest of all the
 * code that computes the answer (the scan's sources, which include analysis/link/link.ts, and
 * this file), so a code change never hides behind a stale entry.
 */
export function resolutionFingerprint(plan: ProgramPlan, source: Pick<SummarySource, 'objectDigest'>): Fingerprint {
  const order = plan.order!;
  const obj = (o: PlannedObject) => [o.rootPath, source.objectDigest(o)];
  return {
    stage: 'analyze-program',
    version: RESOLUTION_VERSION,
    schema: RESOLUTION_SCHEMA,
    config: { code: analysisCodeDigest() },
    inputs: {
      program: JSON.stringify(obj(plan)),
      libraries: JSON.stringify(order.libraries.map(obj)),
      loader: order.loader ? JSON.stringify(obj(order.loader)) : '',
      missing: JSON.stringify(order.missing),
      candidates: JSON.stringify(order.candidates.map((c) => [obj(c.object), c.names])),
    },
  };
}

/** A program's result as JSON: Sets and Maps as arrays, in their iteration order. */
interface StoredAnalysis {
  path: string;
  missing: string[];
  go?: ElfScanArtifact['go'];
  resolution: Omit<ProgramResolution, 'syscalls' | 'withoutIndirectRule' | 'wholeProgramAT' | 'provenance'> & {
    syscalls: number[];
    withoutIndirectRule: number[];
    wholeProgramAT: number[];
    provenance: [number, Provenance][];
  };
}

function toStored(r: AnalyzedBinary): StoredAnalysis {
  const res = r.resolution!;
  return {
    path: r.path,
    missing: r.missing,
    ...(r.go ? { go: r.go } : {}),
    resolution: { ...res, syscalls: [...res.syscalls], withoutIndirectRule: [...res.withoutIndirectRule], wholeProgramAT: [...res.wholeProgramAT], provenance: [...res.provenance] },
  };
}

function fromStored(s: StoredAnalysis): AnalyzedBinary {
  const res = s.resolution;
  return {
    path: s.path,
    missing: s.missing,
    ...(s.go ? { go: s.go } : {}),
    resolution: { ...res, syscalls: new Set(res.syscalls), withoutIndirectRule: new Set(res.withoutIndirectRule), wholeProgramAT: new Set(res.wholeProgramAT), provenance: new Map(res.provenance) },
  };
}

/** The shape check the store runs on a program entry before trusting it (its bytes are hash-checked too). */
export function checkStoredAnalysis(a: unknown): string | undefined {
  const isNums = (x: unknown) => Array.isArray(x) && x.every((n) => Number.isInteger(n));
  const isObj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x);
  if (!isObj(a) || typeof a.path !== 'string') return 'not a program result';
  if (!Array.isArray(a.missing) || !a.missing.every((m) => typeof m === 'string')) return '/missing not a list of strings';
  const r = a.resolution;
  if (!isObj(r)) return '/resolution missing';
  if (!isNums(r.syscalls) || !isNums(r.withoutIndirectRule) || !isNums(r.wholeProgramAT)) return '/resolution syscalls not numbers';
  if (typeof r.indirectRuleFired !== 'boolean') return '/resolution/indirectRuleFired not a boolean';
  if (!Array.isArray(r.perObject) || !r.perObject.every((o) => isObj(o) && typeof o.path === 'string' && isNums(o.syscalls))) return '/resolution/perObject malformed';
  if (!Array.isArray(r.unresolvedSites) || !r.unresolvedSites.every((u) => isObj(u) && typeof u.object === 'string' && typeof u.site === 'number')) return '/resolution/unresolvedSites malformed';
  if (!Array.isArray(r.unresolvedImports)) return '/resolution/unresolvedImports not a list';
  if (!Array.isArray(r.provenance) || !r.provenance.every((p) => Array.isArray(p) && Number.isInteger(p[0]) && isObj(p[1]) && Array.isArray(p[1].steps))) return '/resolution/provenance malformed';
  if (a.go !== undefined && !isObj(a.go)) return '/go not an object';
  return undefined;
}

/** Program entries are checked here; per-file scans by their JSON schema (ajv, loaded only when one is read). */
function validator(schema: string, artifact: unknown): string | undefined {
  if (schema === RESOLUTION_SCHEMA) return checkStoredAnalysis(artifact);
  return (require('../schemas/validate') as typeof import('../schemas/validate')).validateArtifact(schema, artifact);
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
  const store = values.cache !== undefined ? new ContentStore(writableDir('--cache', outputDir('--cache', values.cache), 'cache'), validator) : undefined;
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
    lines.push(`  syscalls: ${res.syscalls.size} (direct edges only: ${res.withoutIndirectRule.size}; every address-taken function a target: ${res.wholeProgramAT.size}; indirect-call rule ${res.indirectRuleFired ? `applied; indirect-call targets: ${res.targets.reachable} (whole-program rule: ${res.targets.wholeProgram})` : 'not needed'})`);
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
