import type { ElfFile } from '../elf';
import { DT, R_X86_64 } from '../elf';

type Source = Pick<ElfFile, 'type' | 'dynsym' | 'relocations' | 'relativeTargets' | 'initArray' | 'finiArray' | 'preinitArray' | 'irelativeResolvers' | 'relocationAt' | 'readAt' | 'dynamicValue'>;
/** The 8-byte-aligned data words that could be code addresses (DataImage.forEachAbsoluteWord). */
type WordScan = (fn: (at: number, word: number) => void) => void;

/**
 * What analysis/x86/idioms.ts may trust about an object's data: which pointer variables
 * and which tables of function pointers only this object's code can reach. Taken from the
 * parsed ELF in the read step of a scan (analysis/summary/object-image.ts).
 */
export class PrivateTables {
  private readonly elf: Source;

  constructor(elf: ElfFile, private readonly dataWords: WordScan) {
    const { type, dynsym, relocations, relativeTargets, initArray, finiArray, preinitArray, irelativeResolvers } = elf;
    this.elf = { type, dynsym, relocations, relativeTargets, initArray, finiArray, preinitArray, irelativeResolvers, relocationAt: (slot) => elf.relocationAt(slot), readAt: (vaddr, len) => elf.readAt(vaddr, len), dynamicValue: (tag) => elf.dynamicValue(tag) };
  }

  /**
   * Whether data may hold an address in [lo, hi) (analysis/x86/callback-context.ts): a
   * relocation's target, an init/fini/IFUNC entry, DT_INIT/DT_FINI, or an aligned data word
   * equal to one. Only relocatable objects (ET_DYN) can tell: their pointers in data need
   * relocations; an executable's plain 4-byte words could hold one unseen, so it says yes.
   */
  codeAddressInData(lo: number, hi: number): boolean {
    const elf = this.elf;
    if (elf.type !== 'dyn') return true;
    const inside = (x: number | undefined) => x !== undefined && x >= lo && x < hi;
    if ([...elf.relativeTargets, ...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers].some(inside)) return true;
    if (inside(elf.dynamicValue(DT.INIT)) || inside(elf.dynamicValue(DT.FINI))) return true;
    for (const r of elf.relocations) {
      if (inside(r.type === R_X86_64.RELATIVE ? r.addend : r.symbol?.defined ? r.symbol.value + r.addend : undefined)) return true;
    }
    let held = false;
    this.dataWords((_at, v) => {
      if (inside(v)) held = true;
    });
    return held;
  }

  /**
   * A pointer variable only this object's code can reach by name: no symbol covers it (no
   * other object can name it), no relocation stores its address or fills it, and it is
   * zero before the program runs (.bss, or zero bytes). analysis/x86/idioms.ts trusts what the
   * code stores in it only under these conditions.
   */
  isPrivateGlobal(g: number): boolean {
    const elf = this.elf;
    const covers = (s: { defined: boolean; value: number; size: number }) => s.defined && s.value <= g && g < s.value + Math.max(s.size, 8);
    if (elf.dynsym.some(covers)) return false;
    if (elf.relocationAt(g) !== undefined) return false;
    for (const r of elf.relocations) {
      if (r.symbol?.defined && covers(r.symbol)) return false;
    }
    if (elf.relativeTargets.some((t) => t > g - 8 && t <= g)) return false;
    const init = elf.readAt(g, 8);
    return init === undefined || init.every((b) => b === 0);
  }

  /**
   * The private tables of function pointers holding `fn` (see analysis/x86/idioms.ts): runs of
   * relocated 8-byte slots around each slot a relocation fills with fn's address, none
   * covered by a symbol. Undefined when fn's address is stored anywhere else (init/fini
   * arrays, IFUNC, a symbol-based relocation: exported) or the object has no relocations
   * to tell (a non-PIE executable stores plain absolute words).
   */
  pointerTables(fn: number): [number, number][] | undefined {
    const elf = this.elf;
    if (elf.type !== 'dyn') return undefined;
    if ([...elf.initArray, ...elf.finiArray, ...elf.preinitArray, ...elf.irelativeResolvers].includes(fn)) return undefined;
    const slots = new Set<number>();
    const cells: number[] = [];
    for (const r of elf.relocations) {
      if (r.type === R_X86_64.RELATIVE || r.type === R_X86_64.R64 || r.type === R_X86_64.GLOB_DAT || r.type === R_X86_64.JUMP_SLOT) slots.add(r.offset);
      const target = r.type === R_X86_64.RELATIVE ? r.addend : r.symbol?.defined ? r.symbol.value + r.addend : undefined;
      if (target !== fn) continue;
      if (r.type !== R_X86_64.RELATIVE) return undefined;
      cells.push(r.offset);
    }
    if (!cells.length) return undefined;
    const tables = new Map<number, number>();
    for (const c of cells) {
      let lo = c;
      while (slots.has(lo - 8)) lo -= 8;
      let hi = c + 8;
      while (slots.has(hi)) hi += 8;
      tables.set(lo, hi);
    }
    const out = [...tables];
    for (const s of elf.dynsym) {
      if (!s.defined || s.type === 'func' || s.type === 'ifunc') continue;
      if (out.some(([lo, hi]) => s.value < hi && lo < s.value + Math.max(s.size, 1))) return undefined;
    }
    return out;
  }
}
