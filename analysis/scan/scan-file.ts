import { isElf, parseElf, readDynamicInfo } from '../elf';
import { ConfineError } from '../../pipeline/errors';
import type { ElfScanArtifact } from '../../schemas/types';
import type { SplitOptions } from '../x86/decode-slices';
import type { Fingerprint } from '../../cache/fingerprint';
import * as path from 'node:path';
import { sourceDigest } from '../../cache/code-digest';

// The analysis (and iced-x86's wasm) loads on the first scan, not with this module:
// a warm `confine analyze` only needs the scan keys below and never scans.
type Steps = typeof import('../summary/object-image') & typeof import('../summary/decode-object') & typeof import('../summary/object-summary') & typeof import('../summary/go-summary') & typeof import('../golang/go-syscalls');
let steps: Steps | undefined;
function analysisSteps(): Steps {
  return (steps ??= {
    ...(require('../summary/object-image') as typeof import('../summary/object-image')),
    ...(require('../summary/decode-object') as typeof import('../summary/decode-object')),
    ...(require('../summary/object-summary') as typeof import('../summary/object-summary')),
    ...(require('../summary/go-summary') as typeof import('../summary/go-summary')),
    ...(require('../golang/go-syscalls') as typeof import('../golang/go-syscalls')),
  });
}

/**
 * The code that decides a scan's output; its digest is part of every scan's cache key
 * (see scanKeyConfig), so changed analysis code rescans by itself.
 */
export const SCAN_SOURCES = ['analysis'];

export function scanKeyConfig(): { code: string } {
  return { code: sourceDigest(path.join(__dirname, '..', '..'), SCAN_SOURCES) };
}

/** Bump when scanFile's output changes: every per-file scan is then redone once. */
export const SCAN_VERSION = 17; // 17: eq/ne guards on 32-bit compares; no value facts for Go functions; field guards only where a value model may apply (issue 26; history: CHANGELOG.md)

/** The cache identity of one file's scan: symbol-scan's memo, `confine analyze` and its workers all use it. */
export function scanFingerprint(digest: string): Fingerprint {
  return { stage: 'elf-scan', version: SCAN_VERSION, schema: 'confine/elf-scan/v1', config: scanKeyConfig(), inputs: { file: digest } };
}

const EM_X86_64 = 62;

/**
 * What symbol-scan records for one file: the ELF dynamic facts and, for x86-64 code,
 * the object summary the whole-program walk (analysis/link/link.ts) needs. Malformed ELF
 * is a value in the artifact, not an exception: one hostile file must not fail a
 * whole image. `split` lets a large object's decode run in ranges on other threads
 * (analysis/scan/slice-help.ts); the artifact is the same with or without it.
 *
 * The scan is a forward pipeline; each step takes what the one before produced:
 * 1. read the ELF: dynamic facts (analysis/elf/dynamic-info.ts), the parsed file
 *    (analysis/elf/elf-file.ts), then everything later steps need from it, once —
 *    the code image, PLT keys, symbols, data sections (analysis/summary/object-image.ts).
 *    A Go binary (pclntab) goes to analysis/golang/ instead of 2 and 3, which reads its own
 *    Go tables from the file and decodes with analysis/x86/.
 * 2. decode (analysis/summary/decode-object.ts → analysis/x86/analyze-object.ts): function
 *    starts beyond FDEs and symbols, the instructions (in ranges on other threads:
 *    analysis/x86/decode-slices.ts), each function's facts (analysis/x86/range-facts.ts),
 *    and the numbers at each syscall instruction.
 * 3. per-function facts to the summary's form: function indexes, edges and imports
 *    (analysis/summary/function-table.ts, function-edges.ts), syscall sites, wrappers and
 *    unresolved sites (syscall-sites.ts), argument values (arg-facts.ts), entry points and
 *    address-taken functions (object-roots.ts).
 * 4. regions and strings: the data cut into regions with the pointers each holds, the
 *    regions and name-like strings each function refers to (region-facts.ts,
 *    data-regions.ts, name-hashes.ts).
 * 5. the summary (analysis/summary/object-summary.ts, go-summary.ts for Go).
 */
export function scanFile(bytes: Uint8Array, digest: string, pathForMessages: string, split: SplitOptions = {}): ElfScanArtifact {
  const base = { digest, size: bytes.length };
  if (!isElf(bytes)) return { ...base, format: 'not-elf' };
  try {
    const d = readDynamicInfo(bytes, pathForMessages);
    const out: ElfScanArtifact = {
      ...base,
      format: 'elf',
      dynamic: {
        elfClass: d.elfClass, machine: d.machine, type: d.type, isPie: d.isPie, isStatic: d.isStatic,
        needed: d.needed, runpath: d.runpath, rpath: d.rpath,
        ...(d.interp !== undefined ? { interp: d.interp } : {}),
        ...(d.soname !== undefined ? { soname: d.soname } : {}),
      },
    };
    if (d.elfClass !== 64 || d.machine !== EM_X86_64) return { ...out, error: `not analysed: ELF class ${d.elfClass}, machine ${d.machine} (only x86-64)` };
    if (d.type !== 'exec' && d.type !== 'dyn') return out;
    const elf = parseElf(bytes, pathForMessages);
    const { readObject, analyzeGoBinary, summarizeGoObject, decodeObject, summarizeObject } = analysisSteps();
    const image = readObject(elf, bytes);
    const g = analyzeGoBinary(elf, bytes, { split });
    if (g) {
      return {
        ...out,
        analysis: summarizeGoObject(image, g),
        go: {
          ...(g.goVersion ? { version: g.goVersion } : {}),
          ...(g.modulePath ? { modulePath: g.modulePath } : {}),
          functions: g.functions,
          sitesResolved: g.sites.resolved,
          sitesUnresolved: g.sites.unresolved.length,
          syscalls: g.syscalls.size,
        },
      };
    }
    const analyzed = decodeObject(image, split);
    if (!analyzed) return { ...out, error: 'no executable .text section: nothing to analyse' };
    return { ...out, analysis: summarizeObject(image, analyzed.code) };
  } catch (e) {
    if (e instanceof ConfineError && (e.kind === 'elf-malformed' || e.kind === 'analysis-failed')) return { ...base, format: 'malformed', error: e.message };
    throw e;
  }
}
