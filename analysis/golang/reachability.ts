import type { ElfFile } from '../elf';
import { SHT } from '../elf';
import type { CodeAnalysis } from '../x86/code-analysis';
import type { Pclntab } from './pclntab';

const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;

/** Sections that hold only metadata no code path reads function addresses from (pclntab lists every function). */
const NOT_POINTERS = new Set(['.gopclntab', '.gosymtab', '.go.buildinfo', '.note.go.buildid', '.eh_frame', '.eh_frame_hdr', '.debug_frame']);

export interface GoReachability {
  /** Function starts reachable from the roots. */
  reachable: Set<number>;
  /** Functions that can be entered by an indirect call (see goReachability). */
  addressTaken: Set<number>;
  /** How each address-taken function was found, for measuring the rule's tightness. */
  takenBy: { dataPointer: number; textOffset: number; code: number };
  roots: number[];
}

/**
 * Which functions of a Go binary can run. Roots: the ELF entry (`_rt0_amd64_linux`),
 * `runtime.rt0_go`, `runtime.main`, `main.main`, every package `init`, init/fini arrays
 * (cgo). Edges: direct calls, tail calls, jumps into other functions, and addresses
 * materialised by the code (`lea f(%rip)`: closures, `go`/`defer` targets,
 * `systemstack(fn)`).
 *
 * Indirect calls (interface methods, closures, method values, `go`, `defer`,
 * reflection) use the sound rule: any function whose address the binary holds as
 * data is a possible target —
 * - an 8-byte pointer in any data section (itabs' fun[] tables, funcval closures and
 *   method values in .rodata/.noptrdata/.data, `runtime.mainPC`, cgo hooks), or a
 *   RELATIVE relocation target (PIE);
 * - a 4-byte text offset from moduledata.text in .rodata: the method tables of type
 *   descriptors (`ifn`/`tfn`). The runtime builds itabs from them at run time
 *   (`runtime.getitab`, dynamic type assertions) and reflect calls them, so a method
 *   the linker kept is callable even when no pointer to it exists.
 *   Small integers in .rodata look like text offsets too, so only functions named
 *   like methods (`pkg.T.M`, `pkg.(*T).M`) are taken this way.
 * Functions whose address only unreachable code materialises stay unreachable.
 */
export function goReachability(elf: ElfFile, buf: Uint8Array, code: CodeAnalysis, pcln: Pclntab): GoReachability {
  const starts = code.functions;
  const taken = new Set<number>();
  const takenBy = { dataPointer: 0, textOffset: 0, code: 0 };
  const add = (a: number, kind: keyof typeof takenBy) => {
    if (starts.has(a) && !taken.has(a)) {
      taken.add(a);
      takenBy[kind]++;
    }
  };
  const textStart = pcln.textStart || starts.values().next().value?.addr || 0;
  // Tens of millions of data words are looked at: one byte per text address marks
  // function starts (1) and starts named like methods (2), instead of map lookups.
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of starts.keys()) {
    if (a < lo) lo = a;
    if (a > hi) hi = a;
  }
  const mark = new Uint8Array(starts.size ? hi - lo + 1 : 0);
  for (const f of starts.values()) mark[f.addr - lo] = isMethodName(f.name) ? 3 : 1;
  for (const s of elf.sections) {
    if ((s.flags & SHF_ALLOC) === 0 || (s.flags & SHF_EXECINSTR) !== 0) continue;
    if (s.type === SHT.NOBITS || NOT_POINTERS.has(s.name) || s.size === 0) continue;
    if (s.offset + s.size > buf.length) continue;
    const dv = new DataView(buf.buffer, buf.byteOffset + s.offset, s.size);
    const skew = (8 - (s.addr % 8)) % 8;
    for (let o = skew; o + 8 <= s.size; o += 8) {
      const hiWord = dv.getUint32(o + 4, true);
      if (hiWord > 0x7fff) continue; // not a user-space address
      const a = dv.getUint32(o, true) + hiWord * 2 ** 32;
      if (a >= lo && a <= hi && mark[a - lo] !== 0) add(a, 'dataPointer');
    }
    if (s.name === '.rodata' || s.name === '.data.rel.ro' || s.name === '.typelink') {
      const skew4 = (4 - (s.addr % 4)) % 4;
      for (let o = skew4; o + 4 <= s.size; o += 4) {
        const v = dv.getUint32(o, true);
        const a = textStart + v;
        if (a < lo || a > hi || v === 0xffffffff) continue;
        if (mark[a - lo] & 2) add(a, 'textOffset');
      }
    }
  }
  for (const a of elf.relativeTargets) add(a, 'dataPointer');
  for (const a of [...elf.initArray, ...elf.finiArray, ...elf.preinitArray]) add(a, 'dataPointer');

  const byName = new Map<string, number>();
  for (const f of starts.values()) if (f.name && !byName.has(f.name)) byName.set(f.name, f.addr);
  const roots: number[] = [];
  const root = (a: number | undefined) => {
    if (a !== undefined && starts.has(a)) roots.push(a);
  };
  root(elf.entry);
  for (const n of ['_rt0_amd64_linux', '_rt0_amd64', 'runtime.rt0_go', 'runtime.main', 'main.main', 'main']) root(byName.get(n));
  for (const [n, a] of byName) if (/\.init(\.\d+)?$/.test(n)) root(a);

  const reachable = new Set<number>();
  const work = [...roots, ...taken];
  while (work.length) {
    const f = work.pop()!;
    if (reachable.has(f)) continue;
    reachable.add(f);
    const info = starts.get(f);
    if (!info) continue;
    for (const g of info.calls) work.push(g);
    for (const g of info.tailCalls) work.push(g);
    for (const g of info.jumpsInto) work.push(g);
    for (const g of info.addressTaken) {
      add(g, 'code');
      work.push(g);
    }
  }
  return { reachable, addressTaken: taken, takenBy, roots };
}

/**
 * Method (or method wrapper) names: `pkg.T.M`, `pkg.(*T).M`, `pkg.T[...].M` — after the
 * import path's last slash, at least two dots outside brackets. Plain functions
 * (`syscall.Syscall6`) have one.
 */
export function isMethodName(name: string | undefined): boolean {
  if (!name) return false;
  if (name.includes('(*')) return true;
  const base = name.slice(name.lastIndexOf('/', name.indexOf('[') >= 0 ? name.indexOf('[') : name.length) + 1);
  let depth = 0;
  let dots = 0;
  for (const c of base) {
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '.' && depth === 0) dots++;
  }
  return dots >= 2;
}
