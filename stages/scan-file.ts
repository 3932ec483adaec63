import { isElf, readDynamicInfo } from '../elf';
import { ConfineError } from '../pipeline/errors';
import type { ElfScanArtifact } from '../schemas/types';

/** Bump when scanFile's output changes: every per-file scan is then redone once. */
export const SCAN_VERSION = 1;

/**
 * What symbol-scan records for one file. Malformed ELF is a value in the artifact,
 * not an exception: one hostile file must not fail a whole image.
 */
export function scanFile(bytes: Uint8Array, digest: string, pathForMessages: string): ElfScanArtifact {
  const base = { digest, size: bytes.length };
  if (!isElf(bytes)) return { ...base, format: 'not-elf' };
  try {
    const d = readDynamicInfo(bytes, pathForMessages);
    return {
      ...base,
      format: 'elf',
      dynamic: {
        elfClass: d.elfClass, machine: d.machine, type: d.type, isPie: d.isPie, isStatic: d.isStatic,
        needed: d.needed, runpath: d.runpath, rpath: d.rpath,
        ...(d.interp !== undefined ? { interp: d.interp } : {}),
        ...(d.soname !== undefined ? { soname: d.soname } : {}),
      },
    };
  } catch (e) {
    if (e instanceof ConfineError && e.kind === 'elf-malformed') return { ...base, format: 'malformed', error: e.message };
    throw e;
  }
}
