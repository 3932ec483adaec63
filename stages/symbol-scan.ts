import type { Stage } from '../pipeline/stage';
import type { ExtractArtifact, SymbolsArtifact } from '../schemas/types';
import type { RunConfig } from './config';
import { scanKeyConfig } from '../analysis/scan/scan-file';
import { memoScan } from './scan-memo';

/**
 * Scans every extracted file once per content digest: a library shared by a hundred
 * images is analysed the first time and read back (from memory within a run, from
 * disk across runs) every other time.
 */
export function symbolScanStage(): Stage<{ 'extract-binaries': ExtractArtifact }, SymbolsArtifact, RunConfig> {
  return {
    name: 'symbol-scan',
    version: 3, // 3: activatedBy carried (history: CHANGELOG.md)
    schema: 'confine/symbols/v2',
    scope: 'image',
    needs: ['extract-binaries'],
    resource: 'io',
    // The scans' keys already change with the analysis code; the stage's own key must
    // too, or a rerun would hand downstream the old scan keys.
    configSlice: () => scanKeyConfig(),
    run: async (deps, ctx, _unit, config) => {
      const extract = deps['extract-binaries'];
      const files: SymbolsArtifact['files'] = [];
      let scanned = 0;
      let reused = 0;
      for (const [i, f] of extract.files.entries()) {
        ctx.progress(`${i + 1}/${extract.files.length} ${f.path}`);
        const { key, value, reused: hit } = await memoScan(ctx, config.outDir, f);
        if (hit) reused++;
        else scanned++;
        if (value.error) ctx.log(`${f.path}: ${value.error}`);
        if (value.go) {
          const g = value.go;
          ctx.log(`${f.path}: Go ${g.version ?? '(version unknown)'}${g.modulePath ? ` ${g.modulePath}` : ''}: ${g.functions} functions, ${g.sitesResolved} syscall sites resolved, ${g.sitesUnresolved} unresolved, ${g.syscalls} syscalls`);
        }
        files.push({ path: f.path, role: f.role, ...(f.neededBy !== undefined ? { neededBy: f.neededBy } : {}), ...(f.activatedBy ? { activatedBy: f.activatedBy } : {}), digest: f.digest, scanKey: key, format: value.format });
      }
      ctx.log(`${scanned} files scanned, ${reused} scans reused from earlier images or runs`);
      // syscall-resolve walks the exec programs last, to say what they add (and names them).
      return { files, ...(extract.execToo ? { execToo: extract.execToo } : {}) };
    },
  };
}
