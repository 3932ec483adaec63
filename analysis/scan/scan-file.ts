import { isElf, parseElf, readDynamicInfo } from '../elf';
import { ConfineError } from '../../pipeline/errors';
import type { ElfScanArtifact } from '../../schemas/types';
import type { SplitOptions } from '../x86/decode-slices';
import type { Fingerprint } from '../../cache/fingerprint';
import * as path from 'node:path';
import { sourceDigest } from '../../cache/code-digest';

// The analysis (and iced-x86's wasm) loads on the first scan, not with this module:
// a warm `confine analyze` only needs the scan keys below and never scans.
type ObjectSummaryModule = typeof import('../summary/object-summary');
type GoSummaryModule = typeof import('../summary/go-summary');

/**
 * The code that decides a scan's output; its digest is part of every scan's cache key
 * (see scanKeyConfig), so changed analysis code rescans by itself.
 */
export const SCAN_SOURCES = ['analysis'];

export function scanKeyConfig(): { code: string } {
  return { code: sourceDigest(path.join(__dirname, '..', '..'), SCAN_SOURCES) };
}

/** Bump when scanFile's output changes: every per-file scan is then redone once. */
export const SCAN_VERSION = 15; // 15: a callback called only with its caller's context takes the numbers its callers store there (musl's do_setxid; history: CHANGELOG.md)

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
    const { summarizeGoObject } = require('../summary/go-summary') as GoSummaryModule;
    const { analyzeElf, summarizeObject } = require('../summary/object-summary') as ObjectSummaryModule;
    const go = summarizeGoObject(elf, bytes, split);
    if (go) {
      const g = go.go;
      return {
        ...out,
        analysis: go.summary,
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
    const analyzed = analyzeElf(elf, bytes, split);
    if (!analyzed) return { ...out, error: 'no executable .text section: nothing to analyse' };
    return { ...out, analysis: summarizeObject(elf, analyzed) };
  } catch (e) {
    if (e instanceof ConfineError && (e.kind === 'elf-malformed' || e.kind === 'analysis-failed')) return { ...base, format: 'malformed', error: e.message };
    throw e;
  }
}
