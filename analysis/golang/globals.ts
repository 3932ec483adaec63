import { Code, Decoder, DecoderOptions, Instruction, InstructionInfoFactory, MemorySizeExt, OpAccess, Register } from 'iced-x86';
import { accessWrites } from '../x86/effects';
import type { ElfFile } from '../elf';
import { SHT } from '../elf';
import type { KnownVariables, VariableValues } from '../x86/dataflow';
import type { Program } from '../x86/program';
import { gpr } from '../x86/registers';

/**
 * Go keeps some syscall numbers in package variables (`internal/syscall/unix.FcntlSyscall
 * = syscall.SYS_FCNTL`, `runtime.perThreadSyscall.trap`): the wrapper loads the number
 * with `mov sym(%rip), %reg`. Its possible values are the variable's initial bytes
 * plus whatever any instruction stores there — provided nothing else can write it.
 *
 * Soundness rule: the variable may be written only by rip-relative stores we can see.
 * If any instruction materialises an address inside the variable's symbol (`lea`, which
 * is how Go passes a global by pointer or copies a struct holding it) or any data word
 * points inside it, or a store we do not understand (SSE copy, read-modify-write)
 * overlaps the 4 bytes, the value is unresolved. The symbol's extent comes from
 * .symtab; a stripped binary has none, and then only pointers to the exact address
 * count — a pointer to an enclosing struct whose field is the number would be missed
 * (documented limit; Go's number variables are plain scalars or a struct's first field).
 */

const SHF_WRITE = 0x1;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const PAGE = 4096;

export type GlobalValues = VariableValues;

export class GlobalVars implements KnownVariables {
  private cache = new Map<number, GlobalValues>();
  private decoder: Decoder;
  private ins = new Instruction();
  private info = new InstructionInfoFactory();

  constructor(
    private prog: Program,
    private elf: ElfFile,
    private buf: Uint8Array,
  ) {
    this.decoder = new Decoder(64, prog.bytes, DecoderOptions.None);
    this.decoder.ip = BigInt(prog.base);
  }

  free(): void {
    this.decoder.free();
    this.ins.free();
    this.info.free();
  }

  /** If instruction i is `mov sym(%rip), %r32/%r64`, the register family and the variable's address. */
  loadAt(i: number): { reg: number; addr: number } | undefined {
    const p = this.prog;
    const o = p.addr[i] - p.base;
    const b = p.bytes;
    let k = o;
    let rexR = 0;
    if (b[k] >= 0x40 && b[k] <= 0x4f) {
      rexR = (b[k] & 4) << 1;
      k++;
    }
    if (b[k] !== 0x8b || (b[k + 1] & 0xc7) !== 0x05) return undefined;
    const len = k - o + 6;
    if (len !== p.len[i]) return undefined;
    const disp = b[k + 2] | (b[k + 3] << 8) | (b[k + 4] << 16) | (b[k + 5] << 24);
    return { reg: ((b[k + 1] >> 3) & 7) | rexR, addr: p.addr[i] + len + disp };
  }

  valuesOf(addr: number): GlobalValues {
    let v = this.cache.get(addr);
    if (!v) {
      v = this.compute(addr);
      this.cache.set(addr, v);
    }
    return v;
  }

  private compute(addr: number): GlobalValues {
    const out: GlobalValues = { writers: [], unknown: [] };
    const bytes = this.elf.readAt(addr, 4);
    if (bytes) out.initial = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24));
    else if (this.elf.sections.some((s) => s.type === SHT.NOBITS && addr >= s.addr && addr + 4 <= s.addr + s.size)) out.initial = 0;
    else out.unknown.push({ reason: `initial value of 0x${addr.toString(16)} not in the file`, at: addr });

    const sym = this.symbolAt(addr);
    const lo = sym ? sym.value : addr;
    const hi = Math.max(addr + 4, sym ? sym.value + sym.size : 0);
    // Pointers in data near the variable: it can be written through them.
    for (const at of this.dataPointersInto(lo, hi)) {
      out.unknown.push({ reason: `data at 0x${at.toString(16)} points at or near 0x${addr.toString(16)}`, at });
    }
    for (const a of this.elf.relativeTargets) if (a >= lo && a < hi) out.unknown.push({ reason: `relocated pointer to or near 0x${addr.toString(16)}`, at: a });

    // Instructions with a rip-relative displacement that lands in the window. In x86-64
    // encoding a memory operand's disp32 is followed only by the immediate (none, 1, 2 or
    // 4 bytes), so it ends 0, 1, 2 or 4 bytes before the instruction does: looking at
    // those four places finds every rip-relative reference (classify decodes to confirm).
    for (const i of this.referencesInto(lo, hi)) this.classify(i, addr, out);
    return out;
  }

  /** Does one of instruction i's four displacement positions point into [lo, hi)? */
  private refersInto(i: number, lo: number, hi: number): boolean {
    const t = this.targets;
    const n = this.displacementTargets(i, t);
    for (let k = 0; k < n; k++) if (t[k] >= lo && t[k] < hi) return true;
    return false;
  }

  private readonly targets = new Float64Array(4);

  /**
   * The rip-relative targets instruction i would have if its disp32 sat at each place it
   * can (0, 1, 2 or 4 bytes before the end), written to `out`; returns how many.
   */
  private displacementTargets(i: number, out: Float64Array): number {
    const p = this.prog;
    const b = p.bytes;
    const len = p.len[i];
    if (len < 6) return 0;
    const end = p.addr[i] + len;
    const o = p.addr[i] - p.base;
    let n = 0;
    for (let imm = 0; imm <= 4; imm += imm === 2 ? 2 : 1) {
      const k = len - 4 - imm;
      if (k < 1) break;
      out[n++] = end + (b[o + k] | (b[o + k + 1] << 8) | (b[o + k + 2] << 16) | (b[o + k + 3] << 24));
    }
    return n;
  }

  /**
   * Instruction indexes (ascending) that may refer into [lo, hi). Package variables
   * live in writable sections: one pass over the code buckets every candidate target
   * there by 4 KiB page, so each variable looks at a few buckets instead of every
   * instruction again. A window outside the writable sections is looked for the slow way.
   */
  private referencesInto(lo: number, hi: number): number[] {
    const idx = this.writableIndex();
    const inside = idx.ranges.some(([a, b]) => lo >= a && hi <= b);
    const out: number[] = [];
    if (!inside) {
      for (let i = 0; i < this.prog.n; i++) if (this.refersInto(i, lo, hi)) out.push(i);
      return out;
    }
    const cands = new Set<number>();
    for (let page = Math.floor(lo / PAGE); page <= Math.floor((hi - 1) / PAGE); page++) for (const i of idx.byPage.get(page) ?? []) cands.add(i);
    for (const i of [...cands].sort((x, y) => x - y)) if (this.refersInto(i, lo, hi)) out.push(i);
    return out;
  }

  /** Addresses of data words (8-byte aligned, < 4 GiB) whose value is in [lo, hi), in section then address order. */
  private dataPointersInto(lo: number, hi: number): number[] {
    const out: number[] = [];
    const idx = this.writableIndex();
    if (idx.ranges.some(([a, b]) => lo >= a && hi <= b)) {
      const hits: { seq: number; at: number }[] = [];
      for (let page = Math.floor(lo / PAGE); page <= Math.floor((hi - 1) / PAGE); page++) {
        for (const w of idx.wordsByPage.get(page) ?? []) if (w.value >= lo && w.value < hi) hits.push(w);
      }
      return hits.sort((x, y) => x.seq - y.seq).map((w) => w.at);
    }
    this.forEachDataWord((at, v) => {
      if (v >= lo && v < hi) out.push(at);
    });
    return out;
  }

  /** Every 8-byte-aligned word below 4 GiB in the sections a pointer to a variable could sit in, in order. */
  private forEachDataWord(fn: (at: number, value: number) => void): void {
    for (const s of this.elf.sections) {
      if ((s.flags & 2) === 0 || (s.flags & 4) !== 0 || s.type === SHT.NOBITS || s.name === '.gopclntab') continue;
      if (s.offset + s.size > this.buf.length) continue;
      const dv = new DataView(this.buf.buffer, this.buf.byteOffset + s.offset, s.size);
      for (let o = (8 - (s.addr % 8)) % 8; o + 8 <= s.size; o += 8) {
        if (dv.getUint32(o + 4, true) === 0) fn(s.addr + o, dv.getUint32(o, true));
      }
    }
  }

  private index?: { ranges: [number, number][]; byPage: Map<number, number[]>; wordsByPage: Map<number, { seq: number; at: number; value: number }[]> };

  private writableIndex(): NonNullable<GlobalVars['index']> {
    if (this.index) return this.index;
    const ranges: [number, number][] = this.elf.sections
      .filter((s) => (s.flags & SHF_ALLOC) !== 0 && (s.flags & SHF_WRITE) !== 0 && (s.flags & SHF_EXECINSTR) === 0 && s.size > 0)
      .map((s) => [s.addr, s.addr + s.size]);
    const byPage = new Map<number, number[]>();
    const p = this.prog;
    let min = Infinity;
    let max = -Infinity;
    for (const [a, c] of ranges) {
      min = Math.min(min, a);
      max = Math.max(max, c);
    }
    const within = (t: number) => {
      if (t < min || t >= max) return false;
      for (const [a, c] of ranges) if (t >= a && t < c) return true;
      return false;
    };
    const targets = this.targets;
    for (let i = 0; i < p.n; i++) {
      const n = this.displacementTargets(i, targets);
      for (let k = 0; k < n; k++) {
        const t = targets[k];
        if (!within(t)) continue;
        const page = Math.floor(t / PAGE);
        const l = byPage.get(page);
        if (!l) byPage.set(page, [i]);
        else if (l[l.length - 1] !== i) l.push(i);
      }
    }
    // Data words pointing into the writable sections, by the page they point to.
    const wordsByPage = new Map<number, { seq: number; at: number; value: number }[]>();
    let seq = 0;
    this.forEachDataWord((at, value) => {
      if (!within(value)) return;
      const page = Math.floor(value / PAGE);
      const w = { seq: seq++, at, value };
      const l = wordsByPage.get(page);
      if (!l) wordsByPage.set(page, [w]);
      else l.push(w);
    });
    this.index = { ranges, byPage, wordsByPage };
    return this.index;
  }

  private objects?: { value: number; size: number }[];

  /** The .symtab data object containing addr, if the binary still has symbols. */
  private symbolAt(addr: number): { value: number; size: number } | undefined {
    if (!this.objects) {
      this.objects = this.elf.symtab.filter((s) => s.defined && s.type === 'object' && s.size > 0).sort((a, b) => a.value - b.value);
    }
    const os = this.objects;
    let l = 0;
    let h = os.length - 1;
    while (l <= h) {
      const m = (l + h) >> 1;
      if (os[m].value <= addr) l = m + 1;
      else h = m - 1;
    }
    return h >= 0 && addr < os[h].value + os[h].size ? os[h] : undefined;
  }

  private classify(i: number, addr: number, out: GlobalValues): void {
    const p = this.prog;
    this.decoder.ip = BigInt(p.addr[i]);
    (this.decoder as unknown as { position: number }).position = p.addr[i] - p.base;
    this.decoder.decodeOut(this.ins);
    const ins = this.ins;
    if (ins.memoryBase !== Register.RIP) return; // the bytes matched by chance
    const target = Number(ins.ipRelMemoryAddress);
    const sym = this.symbolAt(addr);
    if (target < (sym ? sym.value : addr) || target >= Math.max(addr + 4, sym ? sym.value + sym.size : 0)) return;
    if (ins.code === Code.Lea_r64_m || ins.code === Code.Lea_r32_m) {
      out.unknown.push({ reason: `address near 0x${addr.toString(16)} taken by lea`, at: p.addr[i] });
      return;
    }
    const size = ins.memorySize ? MemorySizeExt.size(ins.memorySize) : 8;
    if (!(target < addr + 4 && addr < target + size)) return;
    const info = this.info.info(ins);
    let writes = false;
    try {
      for (const m of info.usedMemory()) {
        const acc = m.access as OpAccess;
        if (accessWrites(acc)) writes = true;
        m.free();
      }
    } finally {
      info.free();
    }
    if (!writes) return;
    if (target === addr && (ins.code === Code.Mov_rm64_r64 || ins.code === Code.Mov_rm32_r32)) {
      const g = gpr(ins.op1Register);
      if (g) {
        out.writers.push({ idx: i, src: { reg: g.idx } });
        return;
      }
    }
    if (target === addr && (ins.code === Code.Mov_rm64_imm32 || ins.code === Code.Mov_rm32_imm32)) {
      out.writers.push({ idx: i, src: { value: Number(BigInt.asIntN(32, ins.immediate(1))) } });
      return;
    }
    out.unknown.push({ reason: `0x${addr.toString(16)} written by an instruction not followed (code ${ins.code})`, at: p.addr[i] });
  }
}
