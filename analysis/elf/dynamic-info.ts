import { DynamicFacts, readDynamicFacts } from './dynamic';
import { PT, isElf, readHeader, readProgramHeaders, readRawSectionHeaders } from './header';
import { ConfineError } from '../../pipeline/errors';
import { malformed } from './byte-view';

export { isElf };

/** What extract-binaries needs to follow an object's dependencies; cheap to compute. */
export interface DynamicInfo extends Pick<DynamicFacts, 'type' | 'isPie' | 'interp' | 'needed' | 'runpath' | 'rpath' | 'soname' | 'isStatic'> {
  elfClass: 32 | 64;
  machine: number; // e_machine, 62 = x86-64
}

/**
 * Works for 32- and 64-bit objects of either byte order; any machine. Reads the ELF
 * header, the program headers and the dynamic array only (readDynamicFacts, which
 * parseElf uses too); section headers only when there is no PT_DYNAMIC.
 */
export function readDynamicInfo(buf: Uint8Array, fileName?: string): DynamicInfo {
  try {
    const { view, header } = readHeader(buf, fileName);
    const phdrs = readProgramHeaders(view, header);
    // Section headers are only a fallback (no PT_DYNAMIC); a broken SHT must not stop us
    // from reading a loadable object's dependencies, because the loader ignores it too.
    let sections: ReturnType<typeof readRawSectionHeaders> = [];
    if (!phdrs.some((p) => p.type === PT.DYNAMIC)) {
      try {
        sections = readRawSectionHeaders(view, header);
      } catch (e) {
        // A loadable program with unreadable section headers still runs: without them
        // and without PT_DYNAMIC it is simply static. An object with no segments has
        // nothing else to read, so its error stands.
        if (!phdrs.some((p) => p.type === PT.LOAD)) throw e;
      }
    }
    const f = readDynamicFacts(view, header, phdrs, sections);
    return {
      elfClass: header.elfClass,
      machine: header.machine,
      type: f.type,
      isPie: f.isPie,
      ...(f.interp !== undefined ? { interp: f.interp } : {}),
      needed: f.needed,
      runpath: f.runpath,
      rpath: f.rpath,
      ...(f.soname !== undefined ? { soname: f.soname } : {}),
      isStatic: f.isStatic,
    };
  } catch (e) {
    if (e instanceof ConfineError) throw e;
    throw malformed(fileName, `unreadable ELF: ${e instanceof Error ? e.message : String(e)}`);
  }
}
