import { ByteView } from './byte-view';
import { RawSectionHeader } from './header';
import type { Relocation } from './relocations';

/** One PLT stub: where it is, and which GOT slot its indirect jump goes through. */
export interface PltStubSlot {
  address: number; // first byte of the stub (objdump's `<sym@plt>` label)
  gotSlot: number; // vaddr of the GOT entry read by `jmp *slot(%rip)`
  section: string;
}

const ENDBR64 = [0xf3, 0x0f, 0x1e, 0xfa];

/**
 * Decodes the stub shapes GNU ld and lld emit for x86-64, by hand (they are a handful):
 *   .plt      ff 25 rel32 | 68 imm32 | e9 rel32                     (lazy, no IBT)
 *   .plt.sec  f3 0f 1e fa | [f2] ff 25 rel32 | nop                  (IBT)
 *   .plt.got  [f3 0f 1e fa] [f2] ff 25 rel32 | nop                  (8 or 16 bytes)
 * The first .plt entry (PLT0) pushes/jumps through GOT+8/GOT+16, which carry no
 * relocation, so it is found but maps to no symbol. IBT lazy .plt entries
 * (endbr64; push; bnd jmp PLT0) have no `jmp *` and are skipped: their callers go
 * through .plt.sec.
 */
export function decodePltSection(view: ByteView, sec: RawSectionHeader, name: string): PltStubSlot[] {
  if (sec.size === 0) return [];
  view.check(sec.offset, sec.size, name);
  const end = sec.offset + sec.size;
  const step = sec.entsize === 8 || sec.entsize === 16 ? sec.entsize : guessStep(view, sec.offset, end);
  const out: PltStubSlot[] = [];
  for (let o = sec.offset; o < end; o += step) {
    let p = o;
    const has = (bytes: number[]) => p + bytes.length <= end && bytes.every((b, i) => view.u8(p + i) === b);
    if (has(ENDBR64)) p += 4;
    if (p < end && view.u8(p) === 0xf2) p += 1; // bnd prefix (MPX)
    if (p + 6 <= end && view.u8(p) === 0xff && view.u8(p + 1) === 0x25) {
      const rel = view.i32(p + 2);
      out.push({ address: sec.addr + (o - sec.offset), gotSlot: sec.addr + (p + 6 - sec.offset) + rel, section: name });
    }
  }
  return out;
}

/**
 * Without sh_entsize: 8-byte entries (`jmp *; xchg %ax,%ax`, as in static binaries'
 * IRELATIVE .plt and non-IBT .plt.got) start with ff 25 at both 0 and 8; everything
 * else (lazy PLT0 `push; jmp`, IBT stubs) is 16 bytes a stub.
 */
function guessStep(view: ByteView, off: number, end: number): number {
  const jmpAt = (o: number) => o + 2 <= end && view.u8(o) === 0xff && view.u8(o + 1) === 0x25;
  return jmpAt(off) && (off + 8 >= end || jmpAt(off + 8)) ? 8 : 16;
}

const SHF_EXECINSTR = 4;
/** Relocation types of the slots a PLT stub jumps through: JUMP_SLOT, GLOB_DAT, IRELATIVE. */
const STUB_SLOT_TYPES = new Set([7, 6, 37]);

/**
 * Stubs in code whose section headers are gone: every 8-byte-aligned `[endbr64] [bnd]
 * jmp *rel32(%rip)` whose slot the dynamic linker fills (a JUMP_SLOT, GLOB_DAT or
 * IRELATIVE relocation). Those are the shapes above; a tail call through the GOT
 * in ordinary code matches too, and naming it after its import is what it does.
 */
export function findPltStubs(
  view: ByteView,
  sections: readonly (RawSectionHeader & { name: string })[],
  relocAt: (slot: number) => Relocation | undefined,
): PltStubSlot[] {
  const out: PltStubSlot[] = [];
  for (const sec of sections) {
    if ((sec.flags & SHF_EXECINSTR) === 0 || sec.size === 0) continue;
    view.check(sec.offset, sec.size, sec.name);
    const end = sec.offset + sec.size;
    for (let o = sec.offset + ((8 - (sec.addr % 8)) % 8); o + 6 <= end; o += 8) {
      let p = o;
      if (p + 4 <= end && view.u8(p) === 0xf3 && view.u8(p + 1) === 0x0f && view.u8(p + 2) === 0x1e && view.u8(p + 3) === 0xfa) p += 4;
      if (p < end && view.u8(p) === 0xf2) p += 1;
      if (p + 6 > end || view.u8(p) !== 0xff || view.u8(p + 1) !== 0x25) continue;
      const slot = sec.addr + (p + 6 - sec.offset) + view.i32(p + 2);
      const r = relocAt(slot);
      if (r && STUB_SLOT_TYPES.has(r.type)) out.push({ address: sec.addr + (o - sec.offset), gotSlot: slot, section: `${sec.name} (stubs found by shape)` });
    }
  }
  return out;
}
