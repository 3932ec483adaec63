import { promises as fs } from 'node:fs';
import { sha256Hex } from '../cache/digest';
import * as path from 'node:path';
import { resolveProgram, ProgramObject } from '../analysis/link';
import type { ObjectSummary } from '../analysis/object-summary';
import { readGoSyscalls } from '../callgraph/go-syscalls';
import { ConfineError } from '../pipeline/errors';
import type { Stage, StageContext } from '../pipeline/stage';
import type { CfgsArtifact, ElfScanArtifact, ResolveArtifact, SymbolsArtifact } from '../schemas/types';
import { syscallName } from '../syscalls/table';
import type { RunConfig } from './config';
import type { ImageEntry } from './image-list';
import { memoScan } from './scan-file';
import { seedGraphSyscalls } from './seed-graphs';

type ScannedFile = SymbolsArtifact['files'][number] & { scan: ElfScanArtifact };

/**
 * The syscalls the image can reach: for every program it ran (or every executable,
 * with --allbinaries), a whole-program walk from its entry points through the
 * libraries it loads and the dynamic loader down to syscall sites; objects it
 * dlopen'd are walked from all their exports. The union, plus -g DIR/NAME.syscalls.
 */
export function syscallResolveStage(): Stage<{ 'symbol-scan': SymbolsArtifact; 'load-cfgs': CfgsArtifact }, ResolveArtifact, RunConfig> {
  return {
    name: 'syscall-resolve',
    // 4: an object the container loads that could not be analysed fails the image
    version: 4,
    schema: 'confine/resolve/v2',
    scope: 'image',
    needs: ['symbol-scan', 'load-cfgs'],
    resource: 'cpu',
    configSlice: (c) => ({ allBinaries: c.allBinaries }),
    externalInputs: async (unit, config) => {
      const file = goListFile(config, unit.data as ImageEntry);
      // -f/-n decide whether a seed graph applies to this image's libc: their content is an input.
      const digestOf = async (f?: string) => (f ? sha256Hex(await fs.readFile(f)) : '(none)');
      return {
        goList: file ? await fs.readFile(file, 'utf8').then((t) => t, () => '(none)') : '(none)',
        glibcObject: await digestOf(config.glibcObject),
        muslObject: await digestOf(config.muslObject),
      };
    },
    run: async (deps, ctx, unit, config) => {
      const image = unit.data as ImageEntry;
      const symbols = deps['symbol-scan'];
      const files = await loadScans(symbols, ctx, config);
      const byName = indexByName(files);
      const programs = files.filter((f) => (config.allBinaries ? f.role === 'all' || f.role === 'executed' : f.role === 'executed' || f.role === 'script-interpreter'));
      const dlopened = files.filter((f) => f.role === 'mapped' && f.scan.analysis && f.scan.dynamic?.type === 'dyn');

      const perBinary: ResolveArtifact['perBinary'] = [];
      const all = new Set<number>();
      let unresolved = 0;
      const provenance: ResolveArtifact['provenance'] = {};
      const walk = (root: ScannedFile, summary: ObjectSummary, label: string) => {
        const libs = loadOrder(root, byName);
        const loader = root.scan.dynamic?.interp ? byName.get(root.scan.dynamic.interp) ?? byName.get(path.posix.basename(root.scan.dynamic.interp)) : undefined;
        const res = resolveProgram({
          executable: { path: root.path, summary },
          libraries: libs,
          ...(loader?.scan.analysis ? { loader: { path: loader.path, summary: loader.scan.analysis } } : {}),
        });
        for (const nr of res.syscalls) all.add(nr);
        for (const [nr, p] of res.provenance) {
          const name = syscallName(nr) ?? `syscall_${nr}`;
          // Keep the shortest chain over all programs: the clearest answer to "why".
          if (!provenance[name] || provenance[name].steps.length > p.steps.length) {
            provenance[name] = { binary: label, steps: p.steps.map((st) => ({ object: st.object, function: st.function, ...(st.via ? { via: st.via } : {}) })), site: p.site, siteObject: p.siteObject };
          }
        }
        unresolved += res.unresolvedSites.length;
        for (const u of res.unresolvedSites.slice(0, 5)) ctx.log(`${label}: unresolved syscall site ${u.object}:${u.function}@0x${u.site.toString(16)}: ${u.reason}`);
        perBinary.push({ path: label, syscalls: names(res.syscalls), unresolvedSites: res.unresolvedSites.length });
      };

      // Every object the container loads must be analysed: one left out is syscalls the profile blocks.
      const unanalysed = files.filter((f) => f.format === 'malformed' && (f.role === 'executed' || f.role === 'script-interpreter' || f.role === 'interpreter' || f.role === 'needed' || f.role === 'mapped'));
      if (unanalysed.length) {
        throw new ConfineError('analysis-failed', `${unanalysed.length} file(s) the container runs or loads could not be analysed: ${unanalysed.slice(0, 5).map((f) => `${f.path} (${f.role}): ${f.scan.error}`).join('; ')}${unanalysed.length > 5 ? `; and ${unanalysed.length - 5} more` : ''}`);
      }
      // Each walk is synchronous work: between walks the event loop runs, so a signal is heard.
      const breathe = async () => {
        await new Promise((r) => setImmediate(r));
        if (ctx.signal.aborted) throw new ConfineError('interrupted', 'interrupted while resolving syscalls');
      };
      for (const p of programs) {
        await breathe();
        if (p.format !== 'elf') {
          ctx.log(`${p.path}: ${p.format === 'not-elf' ? 'not an ELF file (a script? its interpreter is analysed)' : p.scan.error}`);
          continue;
        }
        if (!p.scan.analysis) {
          // Sound, not silent: an executed program we cannot analyse makes the profile unknowable.
          throw new ConfineError('analysis-failed', `${p.path} was executed but could not be analysed: ${p.scan.error ?? 'no code found'}`);
        }
        walk(p, p.scan.analysis, p.path);
        // The seed's -l/-m graph for this program's libc can only add syscalls.
        const libcObj = loadOrder(p, byName).find((l) => /^libc\.so\.6$|^libc\.musl-|^ld-musl-/.test(path.posix.basename(l.path)));
        const libcFile = libcObj && files.find((f) => f.path === libcObj.path);
        const seed = await seedGraphSyscalls(deps['load-cfgs'], ctx, { imports: p.scan.analysis.imports, libcDigest: libcFile?.digest, libc: !libcObj ? undefined : /musl/.test(libcObj.path) ? 'musl' : 'glibc' }, config);
        for (const nr of seed.syscalls) all.add(nr);
        if (seed.used.length) ctx.log(`${p.path}: ${seed.syscalls.size} syscalls from seed graph ${seed.used.join(', ')}`);
      }
      for (const m of dlopened) {
        await breathe();
        // dlsym can hand out any export: every exported function is an entry point.
        const s = m.scan.analysis!;
        walk(m, { ...s, inits: [...new Set([...s.inits, ...s.exports.map((e) => e.fn)])] }, `${m.path} (dlopen'd)`);
      }

      const overrides = await goOverrides(config, image);
      for (const nr of overrides) all.add(nr);
      if (overrides.length) ctx.log(`${overrides.length} syscalls added from ${goListFile(config, image)}`);
      ctx.log(`${all.size} syscalls reachable from ${perBinary.length} programs; ${unresolved} syscall sites unresolved`);
      return {
        method: 'static-analysis',
        syscalls: names(all),
        perBinary,
        overrides: names(new Set(overrides)),
        unresolvedSites: unresolved,
        provenance,
      };
    },
  };
}

function names(nrs: Set<number>): string[] {
  return [...nrs].map((n) => syscallName(n) ?? `syscall_${n}`).sort();
}

/** The per-file scans symbol-scan made (read back from memory or disk, recomputed if evicted). */
async function loadScans(symbols: SymbolsArtifact, ctx: StageContext, config: RunConfig): Promise<ScannedFile[]> {
  const out: ScannedFile[] = [];
  for (const f of symbols.files) {
    const { value } = await memoScan(ctx, config.outDir, f);
    out.push({ ...f, scan: value });
  }
  return out;
}

/** Libraries by the names DT_NEEDED uses: soname, file name, and path. */
function indexByName(files: ScannedFile[]): Map<string, ScannedFile> {
  const m = new Map<string, ScannedFile>();
  for (const f of files) {
    if (f.format !== 'elf') continue;
    for (const k of [f.scan.dynamic?.soname, path.posix.basename(f.path), f.path]) if (k && !m.has(k)) m.set(k, f);
  }
  return m;
}

/** Breadth-first over DT_NEEDED, each object once: the order ld.so searches symbols in. */
function loadOrder(root: ScannedFile, byName: Map<string, ScannedFile>): ProgramObject[] {
  const seen = new Set<string>([root.digest]);
  const out: ProgramObject[] = [];
  const queue = [...(root.scan.dynamic?.needed ?? [])];
  while (queue.length) {
    const lib = byName.get(queue.shift()!);
    if (!lib || seen.has(lib.digest)) continue;
    seen.add(lib.digest);
    if (lib.scan.analysis) out.push({ path: lib.path, summary: lib.scan.analysis });
    else if (lib.scan.error && !/^no executable \.text section/.test(lib.scan.error)) {
      throw new ConfineError('analysis-failed', `${lib.path}, loaded by ${root.path}, could not be analysed: ${lib.scan.error}`);
    }
    queue.push(...(lib.scan.dynamic?.needed ?? []));
  }
  return out;
}

function goListFile(config: RunConfig, image: ImageEntry): string | undefined {
  return config.goSyscallsDir ? path.join(config.goSyscallsDir, `${image.name}.syscalls`) : undefined;
}

/** The seed's -g files: DIR/NAME.syscalls, one number per line; a bad line fails this image only. */
async function goOverrides(config: RunConfig, image: ImageEntry): Promise<number[]> {
  const file = goListFile(config, image);
  if (!file) return [];
  try {
    await fs.access(file);
  } catch {
    return [];
  }
  const r = readGoSyscalls(file);
  if (!r.ok) throw r.error;
  if (r.value.errors.length) {
    const e = r.value.errors[0];
    throw new ConfineError('bad-input', `expected ${e.expected}, found '${e.text}'${r.value.errors.length > 1 ? ` (and ${r.value.errors.length - 1} more bad lines)` : ''}`, { file: e.file, line: e.line });
  }
  return [...r.value.syscalls];
}
