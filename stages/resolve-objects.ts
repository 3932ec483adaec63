import * as path from 'node:path';
import { openedByHashes, type ProgramObject } from '../analysis/link/link';
import { ConfineError } from '../pipeline/errors';
import type { StageContext } from '../pipeline/stage';
import type { ElfScanArtifact, SymbolsArtifact } from '../schemas/types';
import { loadOrder as loadOrderOf, type LoadGraph } from '../system/extract/load-order';
import type { RunConfig } from './config';
import { memoScan } from './scan-memo';

/** A file symbol-scan listed, with its scan read back. */
export type ScannedFile = SymbolsArtifact['files'][number] & { scan: ElfScanArtifact };

/** The per-file scans symbol-scan made (read back from memory or disk, recomputed if evicted). */
export async function loadScans(symbols: SymbolsArtifact, ctx: StageContext, config: RunConfig): Promise<ScannedFile[]> {
  const out: ScannedFile[] = [];
  for (const f of symbols.files) {
    const { value } = await memoScan(ctx, config.outDir, f);
    out.push({ ...f, scan: value });
  }
  return out;
}

/** Libraries by the names DT_NEEDED uses: soname, file name, and path. */
export function indexByName(files: ScannedFile[]): Map<string, ScannedFile> {
  const m = new Map<string, ScannedFile>();
  for (const f of files) {
    if (f.format !== 'elf') continue;
    for (const k of [f.scan.dynamic?.soname, path.posix.basename(f.path), f.path]) if (k && !m.has(k)) m.set(k, f);
  }
  return m;
}

/** The program's libraries in ld.so's load order (system/extract/load-order.ts): the order symbols are searched in. */
export function loadOrder(root: ScannedFile, byName: Map<string, ScannedFile>): ProgramObject[] {
  const graph: LoadGraph<ScannedFile> = { key: (f) => f.digest, needed: (f) => f.scan.dynamic?.needed ?? [], soname: (f) => f.scan.dynamic?.soname };
  const loaded = loadOrderOf(root, graph, (_, name) => {
    const lib = byName.get(name);
    if (lib && !lib.scan.analysis && lib.scan.error && !/^no executable \.text section/.test(lib.scan.error)) {
      throw new ConfineError('analysis-failed', `${lib.path}, loaded by ${root.path}, could not be analysed: ${lib.scan.error}`);
    }
    return lib ? [lib] : [];
  });
  return loaded.flatMap((lib) => (lib.scan.analysis ? [{ path: lib.path, summary: lib.scan.analysis }] : []));
}

/** Shared objects the image's processes dlopen'd (seen mapped): they join every dynamic program's walk. */
export function dlopenedModules(files: ScannedFile[]): ScannedFile[] {
  return files.filter((f) => f.role === 'mapped' && f.scan.analysis && f.scan.dynamic?.type === 'dyn');
}

/**
 * What dlopen'd modules add to a process: each module (every export a root) and its own
 * DT_NEEDED closure. Then libraries a loaded object names for dlopen, never seen mapped:
 * candidates the walk opens only when reached code passes the name (each with its closure).
 */
export function moduleObjects(files: ScannedFile[], byName: Map<string, ScannedFile>): ProgramObject[] {
  const candidates = files.filter((f) => f.role === 'dlopen' && f.scan.analysis);
  return [
    ...dlopenedModules(files).flatMap((m) => [{ path: m.path, summary: m.scan.analysis!, exportsAreRoots: true }, ...loadOrder(m, byName)]),
    ...candidates.flatMap((c) => {
      // The name that found it is its path as asked (`libnuma.so` → /usr/lib/…/libnuma.so), its file name or soname.
      const openedBy = openedByHashes(c.path, c.scan.dynamic?.soname, []);
      return [{ path: c.path, summary: c.scan.analysis!, openedBy }, ...loadOrder(c, byName).map((d) => ({ ...d, openedBy }))];
    }),
  ];
}

/** Every object the container loads must be analysed: one left out is syscalls the profile blocks. */
export function assertLoadedObjectsAnalysed(files: ScannedFile[]): void {
  const unanalysed = files.filter((f) => f.format === 'malformed' && (f.role === 'executed' || f.role === 'exec-too' || f.role === 'script-interpreter' || f.role === 'interpreter' || f.role === 'needed' || f.role === 'mapped'));
  if (unanalysed.length) {
    throw new ConfineError('analysis-failed', `${unanalysed.length} file(s) the container runs or loads could not be analysed: ${unanalysed.slice(0, 5).map((f) => `${f.path} (${f.role}): ${f.scan.error}`).join('; ')}${unanalysed.length > 5 ? `; and ${unanalysed.length - 5} more` : ''}`);
  }
}

const EM_386 = 3;
const EM_X86_64 = 62;

/** The compat ABI a 32-bit x86 ELF runs under: i386 (EM_386), x32 (ELFCLASS32 with EM_X86_64); undefined otherwise. */
export function compatAbiOfElf(d: { elfClass: number; machine: number } | undefined): 'i386' | 'x32' | undefined {
  if (d?.elfClass !== 32) return undefined;
  return d.machine === EM_386 ? 'i386' : d.machine === EM_X86_64 ? 'x32' : undefined;
}
