import type { ElfFile } from '../elf';
import { ConfineError } from '../../pipeline/errors';

/**
 * Go's function table (`.gopclntab`, the runtime's own `pcHeader` + `functab`). It
 * survives `strip` because the runtime needs it for stack traces and GC, so it is
 * the one reliable list of function names and entry points in a Go binary.
 */
export interface GoFunc {
  name: string;
  entry: number;
  /** Exclusive: the next function's entry (or the table's end PC for the last one). */
  end: number;
}

export type PclntabLayout = '1.2' | '1.16' | '1.18' | '1.20';

export interface Pclntab {
  layout: PclntabLayout;
  /** Virtual address of the table (0 when found by scanning a file without a section for it). */
  addr: number;
  ptrSize: number;
  /** Base of entry offsets (Go ≥ 1.18: moduledata.text). */
  textStart: number;
  functions: GoFunc[];
}

const MAGICS: Record<number, PclntabLayout> = {
  0xfffffffb: '1.2',
  0xfffffffa: '1.16',
  0xfffffff0: '1.18',
  0xfffffff1: '1.20',
};

/**
 * Locates and decodes the pclntab: by section name, else (sections stripped) by
 * scanning read-only data for a header whose function table checks out. Returns
 * undefined when the file has none (not a Go binary); a table that is present but
 * inconsistent is ConfineError('elf-malformed').
 */
export function readPclntab(elf: ElfFile, buf: Uint8Array): Pclntab | undefined {
  const sec = elf.sectionByName('.gopclntab');
  if (sec && sec.type !== 8 /* NOBITS */) {
    if (sec.offset + sec.size > buf.length) fail(elf, `.gopclntab [${sec.offset}, +${sec.size}) lies outside the file`);
    return decodePclntab(buf.subarray(sec.offset, sec.offset + sec.size), sec.addr, elf);
  }
  // Stripped of section headers, or the table lives inside .data.rel.ro (PIE): find
  // the header by its magic and keep the first candidate that decodes cleanly.
  for (const off of magicCandidates(buf)) {
    const addr = fileOffsetToVaddr(elf, off);
    try {
      const t = decodePclntab(buf.subarray(off), addr ?? 0, elf);
      if (t.functions.length > 0) return t;
    } catch (e) {
      if (!(e instanceof ConfineError)) throw e;
    }
  }
  return undefined;
}

function* magicCandidates(buf: Uint8Array): Generator<number> {
  // The header is pointer-aligned: magic, two zero pad bytes, minLC ∈ {1,2,4}, ptrSize 8.
  for (let o = 0; o + 8 <= buf.length; o += 4) {
    if (buf[o + 3] !== 0xff || buf[o + 2] !== 0xff || buf[o + 1] !== 0xff) continue;
    if (MAGICS[(buf[o] | 0xffffff00) >>> 0] === undefined) continue;
    if (buf[o + 4] !== 0 || buf[o + 5] !== 0 || buf[o + 7] !== 8) continue;
    if (buf[o + 6] !== 1 && buf[o + 6] !== 2 && buf[o + 6] !== 4) continue;
    yield o;
  }
}

function fileOffsetToVaddr(elf: ElfFile, off: number): number | undefined {
  for (const p of elf.programHeaders) {
    if (p.type === 1 && off >= p.offset && off < p.offset + p.filesz) return p.vaddr + (off - p.offset);
  }
  return undefined;
}

function fail(elf: ElfFile, msg: string): never {
  throw new ConfineError('elf-malformed', `.gopclntab: ${msg}`, elf.fileName ? { file: elf.fileName } : {});
}

/** Decodes a pclntab image `t` (starting at its header) loaded at `addr`. */
export function decodePclntab(t: Uint8Array, addr: number, elf: ElfFile): Pclntab {
  const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const need = (off: number, len: number, what: string) => {
    if (!(off >= 0 && len >= 0 && off + len <= t.length)) fail(elf, `${what} at ${off}+${len} outside the table (${t.length} bytes)`);
  };
  need(0, 8, 'header');
  const layout = MAGICS[dv.getUint32(0, true)];
  if (!layout) fail(elf, `unknown magic 0x${dv.getUint32(0, true).toString(16)}`);
  const ptrSize = t[7];
  if (ptrSize !== 8) fail(elf, `pointer size ${ptrSize} (only 64-bit Go binaries are supported)`);
  const word = (off: number, what: string): number => {
    need(off, 8, what);
    const v = dv.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(elf, `${what} ${v} too large`);
    return Number(v);
  };
  const u32 = (off: number, what: string) => {
    need(off, 4, what);
    return dv.getUint32(off, true);
  };
  const cstr = (off: number, what: string): string => {
    need(off, 1, what);
    let e = off;
    while (e < t.length && t[e] !== 0) e++;
    if (e >= t.length) fail(elf, `${what} at ${off} is not terminated`);
    return Buffer.from(t.buffer, t.byteOffset + off, e - off).toString('latin1');
  };

  const nfunc = word(8, 'nfunc');
  // Every functab entry takes at least 8 bytes: a count beyond that is garbage.
  if (nfunc > t.length / 8) fail(elf, `nfunc ${nfunc} does not fit in ${t.length} bytes`);
  const functions: GoFunc[] = [];
  let textStart = 0;

  if (layout === '1.2') {
    // magic, pad, minLC, ptrSize, nfunc; functab of (pc, funcoff) pairs follows; names are table-relative.
    const ftab = 16;
    need(ftab, (nfunc * 2 + 1) * 8, 'functab');
    for (let i = 0; i < nfunc; i++) {
      const entry = word(ftab + i * 16, 'functab pc');
      const funcoff = word(ftab + i * 16 + 8, 'functab funcoff');
      const nameoff = u32(funcoff + 8, '_func.nameoff');
      functions.push({ name: cstr(nameoff, 'function name'), entry, end: 0 });
    }
    const endPc = word(ftab + nfunc * 16, 'functab end pc');
    finishEnds(functions, endPc, elf);
    return { layout, addr, ptrSize, textStart, functions };
  }

  // ≥ 1.16: nfunc, nfiles, [textStart (≥1.18)], funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset.
  const has = layout !== '1.16';
  let o = 24;
  if (has) {
    textStart = runtimeWord(elf, addr, 24) ?? word(24, 'textStart');
    o = 32;
  }
  const funcnameOffset = word(o, 'funcnameOffset');
  const pclnOffset = word(o + 32, 'pclnOffset');
  need(funcnameOffset, 0, 'funcnametab');
  need(pclnOffset, 0, 'pclntable');
  const entrySize = has ? 4 : 8;
  const ftab = pclnOffset;
  need(ftab, (nfunc + 1) * entrySize * 2, 'functab');
  const readEntry = (i: number): [number, number] =>
    has
      ? [textStart + u32(ftab + i * 8, 'functab entryoff'), u32(ftab + i * 8 + 4, 'functab funcoff')]
      : [word(ftab + i * 16, 'functab entry'), word(ftab + i * 16 + 8, 'functab funcoff')];
  for (let i = 0; i < nfunc; i++) {
    const [entry, funcoff] = readEntry(i);
    // _func: entry (uint32 entryoff ≥1.18, uintptr before) then int32 nameoff.
    const nameoff = dv.getInt32(checked(pclnOffset + funcoff + entrySize, 4), true);
    functions.push({ name: cstr(funcnameOffset + nameoff, 'function name'), entry, end: 0 });
  }
  finishEnds(functions, readEntry(nfunc)[0], elf);
  return { layout, addr, ptrSize, textStart, functions };

  function checked(off: number, len: number): number {
    need(off, len, '_func');
    return off;
  }
}

/** The run-time value of a pointer field inside the table, when the file says (PIE: via its relocation). */
function runtimeWord(elf: ElfFile, tableAddr: number, off: number): number | undefined {
  if (!tableAddr) return undefined;
  const v = elf.pointerAt(tableAddr + off);
  return v === undefined || v === 0 ? undefined : v;
}

function finishEnds(fs: GoFunc[], endPc: number, elf: ElfFile): void {
  for (let i = 0; i < fs.length; i++) {
    const end = i + 1 < fs.length ? fs[i + 1].entry : endPc;
    if (end < fs[i].entry) fail(elf, `function table not sorted at ${fs[i].name} (0x${fs[i].entry.toString(16)})`);
    fs[i].end = end;
  }
}
