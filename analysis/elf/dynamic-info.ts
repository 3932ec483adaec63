import { DF_1_PIE, DT, readDynamicTable } from './dynamic';
import { ET, PT, isElf, readHeader, readProgramHeaders, readRawSectionHeaders } from './header';
import { ConfineError } from '../../pipeline/errors';
import { malformed } from './byte-view';

export { isElf };

/** What extract-binaries needs to follow an object's dependencies; cheap to compute. */
export interface DynamicInfo {
  elfClass: 32 | 64;
  machine: number; // e_machine, 62 = x86-64
  type: 'exec' | 'dyn' | 'rel' | 'core' | 'other';
  isPie: boolean; // ET_DYN with PT_INTERP or DF_1_PIE
  interp?: string; // PT_INTERP path
  needed: string[]; // DT_NEEDED in order
  runpath: string[]; // DT_RUNPATH split on ':' (raw, $ORIGIN not expanded)
  rpath: string[]; // DT_RPATH split on ':'
  soname?: string;
  /**
   * No PT_INTERP and no PT_DYNAMIC, or a static-pie (PT_DYNAMIC without PT_INTERP and
   * without DT_NEEDED). By that rule self-contained shared objects with no NEEDED —
   * ld-linux-x86-64.so.2 and musl's libc.so — also count as static: nothing else is loaded for them.
   */
  isStatic: boolean;
}

function typeName(t: number): DynamicInfo['type'] {
  switch (t) {
    case ET.EXEC: return 'exec';
    case ET.DYN: return 'dyn';
    case ET.REL: return 'rel';
    case ET.CORE: return 'core';
    default: return 'other';
  }
}

/** Works for 32- and 64-bit objects of either byte order; any machine. */
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

    let interp: string | undefined;
    const pint = phdrs.find((p) => p.type === PT.INTERP);
    if (pint) {
      view.check(pint.offset, pint.filesz, 'PT_INTERP');
      interp = view.cstr(pint.offset, pint.offset + pint.filesz, 'PT_INTERP path');
    }

    const dyn = readDynamicTable(view, phdrs, sections);
    const needed: string[] = [];
    const runpath: string[] = [];
    const rpath: string[] = [];
    let soname: string | undefined;
    let flags1 = 0;
    for (const e of dyn?.entries ?? []) {
      switch (e.tag) {
        case DT.NEEDED: needed.push(dyn!.str(e.value)); break;
        case DT.RUNPATH: runpath.push(...splitPath(dyn!.str(e.value))); break;
        case DT.RPATH: rpath.push(...splitPath(dyn!.str(e.value))); break;
        case DT.SONAME: soname = dyn!.str(e.value); break;
        case DT.FLAGS_1: flags1 = e.value; break;
      }
    }
    const hasDynamic = phdrs.some((p) => p.type === PT.DYNAMIC);
    const isStatic = !interp && (!hasDynamic || needed.length === 0);
    return {
      elfClass: header.elfClass,
      machine: header.machine,
      type: typeName(header.type),
      isPie: header.type === ET.DYN && (interp !== undefined || (flags1 & DF_1_PIE) !== 0),
      ...(interp !== undefined ? { interp } : {}),
      needed,
      runpath,
      rpath,
      ...(soname !== undefined ? { soname } : {}),
      isStatic,
    };
  } catch (e) {
    if (e instanceof ConfineError) throw e;
    throw malformed(fileName, `unreadable ELF: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function splitPath(s: string): string[] {
  return s === '' ? [] : s.split(':');
}
