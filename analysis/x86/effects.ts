import {
  Code, Decoder, DecoderOptions, Instruction, InstructionInfoFactory, MemorySizeExt, Mnemonic, OpAccess, OpKind, Register,
} from 'iced-x86';
import { gpr, RAX, RBP, RSP } from './registers';

/**
 * What one instruction does to general-purpose registers and stack slots, reduced to
 * the few shapes the backward walk understands. Anything else becomes `other`, with
 * the full set of registers and frame bytes it may write, so the walk can tell
 * "leaves my value alone" from "overwrites it in a way I cannot follow".
 */
export type Effect =
  | { op: 'const'; dst: Dst; value: number }
  /** `w32`: a 32-bit register destination (the upper half becomes zero); `sx`: movslq (the upper half is the sign). */
  | { op: 'copy'; dst: Dst; src: Dst; w32?: boolean; sx?: boolean }
  | { op: 'xchg'; a: number; b: number }
  | { op: 'cmov'; dst: number; src: number }
  | { op: 'push'; src: number | { value: number } }
  | { op: 'pop'; dst: number }
  | { op: 'rspAdd'; delta: number }
  | { op: 'rbpFromRsp' }
  | { op: 'leave' }
  /** `dst` (a register other than rsp/rbp) becomes `x` applied to `src`'s value (src may be dst itself). */
  | { op: 'xform'; dst: number; src: Dst; x: XfOp }
  | { op: 'other'; name: string; writes: number /* bitmask of GPR families */; frameWrites: FrameWrite[]; otherMemWrite: boolean; partialRegWrite: number; detail?: OtherDetail };

/**
 * What the forward scan (param-guards.ts) needs to know about a few `other` shapes the
 * backward walk does not model (it only sees their writes):
 * - `load`: `mov disp(%base),%r32/%r64` or `movzx disp(%base),%r32` (no index, no segment):
 *   `dst` gets the `size`-byte word at base+disp (zero-extended);
 * - `memImm`: `and/or $imm, disp(%rsp|%rbp)` on a frame slot of `size` bytes;
 * - `regMove`: a 64-bit `mov %src,%rbp` (the walk keeps %rbp for frame slots).
 */
export type OtherDetail =
  | { k: 'load'; dst: number; base: number; disp: number; size: 1 | 2 | 4 | 8 }
  | { k: 'memImm'; f: 'and' | 'or'; base: typeof RSP | typeof RBP; disp: number; size: number; imm: number }
  | { k: 'regMove'; dst: number; src: number }
  /** `lea disp(%rsp|%rbp[,index]),%dst`: a frame address (when %rbp is a frame pointer) in `dst`. */
  | { k: 'frameLea'; base: typeof RSP | typeof RBP; disp: number; indexed: boolean };

/**
 * The instruction that sets the flags a conditional jump reads, when it is one the
 * forward scan understands: `test`/`and`/`cmp` of a register or memory operand with an
 * immediate, or `test r,r` (`imm` absent, `self`). `width` is the operand size in bytes;
 * `imm` the immediate at that width (a 64-bit operation's sign-extended imm32 as its low
 * 32 bits, `immNeg` when its upper half is all ones).
 */
export interface FlagSetter {
  f: 'test' | 'and' | 'cmp';
  width: 1 | 2 | 4 | 8;
  a: { reg: number; high8: boolean } | { base: number; disp: number };
  imm?: number;
  immNeg?: boolean;
  self?: boolean;
}

/**
 * An 8-, 16- or 32-bit operation on the low 32 bits of a value (all the kernel reads as
 * the syscall number), for the partial-register shapes the walk models:
 * - `set|add|and|or|xor`: the field of `bits` at bit `shift` (8 for ah..bh) becomes
 *   op(field, imm); the bits outside the field are kept (8/16-bit writes merge into the
 *   old value; a 64-bit op's low 32 bits depend on the low 32 bits only);
 * - `ext`: the field zero- or sign-extended; `into: 16` merges the result into the
 *   low 16 bits (`movzx %al,%ax`, `cbw`), `into: 32` replaces the value.
 */
export type XfOp =
  | { f: 'set' | 'add' | 'and' | 'or' | 'xor'; bits: 8 | 16 | 32; shift: 0 | 8; imm: number }
  | { f: 'ext'; bits: 8 | 16; shift: 0 | 8; signed: boolean; into: 16 | 32 };

const fieldMask = (bits: number): number => (bits === 32 ? 0xffffffff : (1 << bits) - 1);

/** `x` applied to a value (signed low 32 bits in, signed low 32 bits out). */
export function applyXf(x: XfOp, value: number): number {
  const v = value >>> 0;
  const m = fieldMask(x.bits);
  const field = (v >>> x.shift) & m;
  if (x.f === 'ext') {
    const e = x.signed ? (field << (32 - x.bits)) >> (32 - x.bits) : field;
    return x.into === 16 ? ((v & 0xffff0000) | (e & 0xffff)) | 0 : e | 0;
  }
  let nf: number;
  switch (x.f) {
    case 'set': nf = x.imm; break;
    case 'add': nf = field + x.imm; break;
    case 'and': nf = field & x.imm; break;
    case 'or': nf = field | x.imm; break;
    case 'xor': nf = field ^ x.imm; break;
  }
  nf = (nf & m) >>> 0;
  const keep = (v & ~((m << x.shift) >>> 0)) >>> 0;
  return (keep | (nf << x.shift)) | 0;
}

/** A register (0..15) or a frame slot: 8 bytes at [rsp+disp] or [rbp+disp]. */
export type Dst = number | Slot;
export interface Slot {
  base: typeof RSP | typeof RBP;
  disp: number;
  /** Bytes the instruction's memory operand covers (4 for `mov %edi,0xc(%rsp)`): a store leaves the bytes past it alone. */
  size?: number;
}

export interface FrameWrite {
  base: number;
  disp: number;
  size: number;
}

const MOV_IMM = new Set<number>([Code.Mov_r32_imm32, Code.Mov_r64_imm64, Code.Mov_rm64_imm32, Code.Mov_rm32_imm32]);
const ZERO_IDIOM = new Set<number>([
  Code.Xor_rm32_r32, Code.Xor_r32_rm32, Code.Xor_rm64_r64, Code.Xor_r64_rm64,
  Code.Sub_rm32_r32, Code.Sub_r32_rm32, Code.Sub_rm64_r64, Code.Sub_r64_rm64,
]);
/** Moves whose low 32 bits equal the source's low 32 bits. */
const MOVES = new Set<number>([
  Code.Mov_r32_rm32, Code.Mov_r64_rm64, Code.Mov_rm32_r32, Code.Mov_rm64_r64, Code.Movsxd_r64_rm32,
]);
const CMOVS = new Set<number>(
  (Object.keys(Code).filter((k) => /^Cmov[a-z]+_r(32|64)_rm(32|64)$/.test(k)) as (keyof typeof Code)[]).map((k) => Code[k]),
);
const TEST_RR = new Set<number>([Code.Test_rm32_r32, Code.Test_rm64_r64]);
const CMP_IMM = new Set<number>([Code.Cmp_rm32_imm8, Code.Cmp_rm32_imm32, Code.Cmp_EAX_imm32, Code.Cmp_rm64_imm8, Code.Cmp_rm64_imm32, Code.Cmp_RAX_imm32]);
const RSP_ADJ = new Set<number>([Code.Add_rm64_imm32, Code.Add_rm64_imm8, Code.Sub_rm64_imm32, Code.Sub_rm64_imm8]);

const ARITH = new Map<Mnemonic, 'set' | 'add' | 'and' | 'or' | 'xor'>([
  [Mnemonic.Mov, 'set'], [Mnemonic.Add, 'add'], [Mnemonic.Sub, 'add'], [Mnemonic.And, 'and'], [Mnemonic.Or, 'or'], [Mnemonic.Xor, 'xor'],
]);

const mnemonicName = (m: Mnemonic): string => (Mnemonic as unknown as Record<number, string>)[m]?.toLowerCase() ?? String(m);

function i64(b: bigint): number {
  return Number(BigInt.asIntN(64, b));
}

/** Low 32 bits, signed: what the kernel takes as the syscall number. */
function low32(b: bigint): number {
  return Number(BigInt.asIntN(32, b));
}

/** Decodes single instructions on demand and remembers their effects. */
export class EffectDecoder {
  private decoder: Decoder;
  private ins = new Instruction();
  private info = new InstructionInfoFactory();
  private cache = new Map<number, Effect>();

  constructor(
    private bytes: Uint8Array,
    private base: number,
    /**
     * `leaAdd`: model `lea disp(%reg),%dst` as adding a constant (glibc's tcsetattr
     * makes its ioctl request as `lea 0x5402(%r9),%esi`). Off by default: syscall
     * number recovery keeps its established behaviour; argument recovery turns it on.
     */
    private opts: { leaAdd?: boolean; /** Always read the register-use tables (no learned shapes): for checking them. */ noShapes?: boolean } = {},
  ) {
    this.decoder = new Decoder(64, bytes, DecoderOptions.None);
  }

  free(): void {
    this.ins.free();
    this.info.free();
    this.decoder.free();
  }

  /** Effect of the instruction at `addr` (which must be an instruction start). */
  effect(addr: number): Effect {
    let e = this.cache.get(addr);
    if (!e) {
      (this.decoder as unknown as { position: number }).position = addr - this.base;
      this.decoder.ip = BigInt(addr);
      this.decoder.decodeOut(this.ins);
      e = this.compute(this.ins);
      this.cache.set(addr, e);
    }
    return e;
  }

  /** effect() without the cache: a caller that keeps its own (the forward scan visits every instruction once per function). */
  effectUncached(addr: number): Effect {
    const e = this.cache.get(addr);
    if (e) return e;
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.ip = BigInt(addr);
    this.decoder.decodeOut(this.ins);
    return this.compute(this.ins);
  }

  /** Per iced Code: 1 a nop, 2 not, 0 not seen (the mnemonic is the Code's). */
  private nopByCode = new Uint8Array(8192);

  /** Whether the instruction at `addr` is a nop; with its iced Code (`code`, from the Program) a Code seen before needs no decode. */
  isNop(addr: number, code?: number): boolean {
    if (code !== undefined && code < this.nopByCode.length && this.nopByCode[code]) return this.nopByCode[code] === 1;
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.decodeOut(this.ins);
    const nop = this.ins.mnemonic === Mnemonic.Nop;
    if (this.ins.code < this.nopByCode.length) this.nopByCode[this.ins.code] = nop ? 1 : 2;
    return nop;
  }

  /**
   * The general-purpose registers (bitmasks of families) the instruction at `addr` reads
   * (operands and address parts) and writes, its destination register family if its first
   * operand is one, and whether it only compares (cmp, test: flags out, no register written).
   */
  registerUse(addr: number): { reads: number; writes: number; dst?: number; compares: boolean } {
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.decodeOut(this.ins);
    const ins = this.ins;
    const info = this.info.info(ins);
    const { reads, writes } = gprAccess(info);
    const op0 = ins.opCount > 0 && ins.op0Kind === OpKind.Register ? gpr(ins.op0Register) : undefined;
    const m = ins.mnemonic;
    return { reads, writes, ...(op0 ? { dst: op0.idx } : {}), compares: m === Mnemonic.Cmp || m === Mnemonic.Test };
  }

  /**
   * For a `test r,r` or `cmp $imm,r` (r a 32- or 64-bit register): the register and the
   * value its low 32 bits hold exactly when the instruction sets ZF (0 for test, imm for
   * cmp). Undefined for any other instruction, and for 8/16-bit compares (they say
   * nothing about the other bits).
   */
  zeroFlagValue(addr: number): { reg: number; value: number } | undefined {
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.decodeOut(this.ins);
    const ins = this.ins;
    if (ins.op0Kind !== OpKind.Register) return undefined;
    const g = gpr(ins.op0Register);
    if (!g || (g.bits !== 32 && g.bits !== 64) || g.idx === RSP) return undefined;
    if (TEST_RR.has(ins.code)) {
      return ins.op1Kind === OpKind.Register && ins.op1Register === ins.op0Register ? { reg: g.idx, value: 0 } : undefined;
    }
    // A 64-bit compare sign-extends its immediate: equal in 64 bits means equal low 32 bits.
    if (CMP_IMM.has(ins.code)) return { reg: g.idx, value: low32(ins.immediate(1)) };
    return undefined;
  }

  /** Which edge of the conditional jump at `addr` runs with ZF set: 'taken' for je/jz, 'fall' for jne/jnz, else undefined. */
  zeroFlagEdge(addr: number): 'taken' | 'fall' | undefined {
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.decodeOut(this.ins);
    const c = this.ins.code;
    if (c === Code.Je_rel8_64 || c === Code.Je_rel32_64) return 'taken';
    if (c === Code.Jne_rel8_64 || c === Code.Jne_rel32_64) return 'fall';
    return undefined;
  }

  /** Does this instruction compute an address inside the frame (lea r, [rsp/rbp+x])? */
  takesFrameAddress(addr: number): boolean {
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.decodeOut(this.ins);
    const ins = this.ins;
    if (ins.code !== Code.Lea_r64_m && ins.code !== Code.Lea_r32_m) return false;
    const b = ins.memoryBase;
    const x = ins.memoryIndex;
    return b === Register.RSP || b === Register.RBP || x === Register.RSP || x === Register.RBP;
  }

  private slotOf(ins: Instruction): Slot | undefined {
    if (ins.memoryIndex !== Register.None) return undefined;
    const b = ins.memoryBase;
    const size = ins.memorySize ? MemorySizeExt.size(ins.memorySize) : 0;
    const sized = size > 0 ? { size } : {};
    if (b === Register.RSP) return { base: RSP, disp: i64(ins.memoryDisplacement), ...sized };
    if (b === Register.RBP) return { base: RBP, disp: i64(ins.memoryDisplacement), ...sized };
    return undefined;
  }

  /** Destination/source operand as a register index or frame slot; undefined when it's neither. */
  private operand(ins: Instruction, n: 0 | 1): Dst | undefined {
    const k = n === 0 ? ins.op0Kind : ins.op1Kind;
    if (k === OpKind.Register) {
      const g = gpr(n === 0 ? ins.op0Register : ins.op1Register);
      return g && (g.bits === 32 || g.bits === 64) ? g.idx : undefined;
    }
    if (k === OpKind.Memory) return this.slotOf(ins);
    return undefined;
  }

  private compute(ins: Instruction): Effect {
    const code = ins.code;
    if (MOV_IMM.has(code)) {
      const dst = this.operand(ins, 0);
      if (dst !== undefined) {
        const imm = code === Code.Mov_r64_imm64 ? ins.immediate64 : ins.immediate(1);
        return { op: 'const', dst, value: low32(imm) };
      }
    } else if (ZERO_IDIOM.has(code)) {
      if (ins.op0Kind === OpKind.Register && ins.op1Kind === OpKind.Register && ins.op0Register === ins.op1Register) {
        const g = gpr(ins.op0Register);
        if (g) return { op: 'const', dst: g.idx, value: 0 };
      }
    } else if (MOVES.has(code)) {
      const dst = this.operand(ins, 0);
      const src = this.operand(ins, 1);
      if (dst !== undefined && src !== undefined) {
        if (code === Code.Mov_r64_rm64 || code === Code.Mov_rm64_r64) {
          if (dst === RBP && src === RSP) return { op: 'rbpFromRsp' };
        }
        const w = ins.op0Kind === OpKind.Register && gpr(ins.op0Register)?.bits === 32 ? { w32: true } : code === Code.Movsxd_r64_rm32 ? { sx: true } : {};
        if (dst !== RSP && dst !== RBP) return { op: 'copy', dst, src, ...w };
        if (typeof dst === 'object') return { op: 'copy', dst, src, ...w };
      }
    } else if (code === Code.Lea_r64_m || code === Code.Lea_r32_m) {
      const g = gpr(ins.op0Register);
      if (g && g.idx !== RSP && ins.memoryIndex === Register.None && ins.memoryDisplacement === 0n) {
        const b = gpr(ins.memoryBase);
        if (b && b.bits === 64) return { op: 'copy', dst: g.idx, src: b.idx };
      }
      if (g && g.idx === RSP && ins.memoryBase === Register.RSP && ins.memoryIndex === Register.None) {
        return { op: 'rspAdd', delta: i64(ins.memoryDisplacement) };
      }
      if (this.opts.leaAdd && g && g.idx !== RSP && g.idx !== RBP && ins.memoryIndex === Register.None && ins.segmentPrefix === Register.None) {
        // The low 32 bits of base + disp: what a 32-bit value (syscall argument) sees.
        const b = gpr(ins.memoryBase);
        if (b && b.bits === 64 && b.idx !== RSP && b.idx !== RBP) {
          return { op: 'xform', dst: g.idx, src: b.idx, x: { f: 'add', bits: 32, shift: 0, imm: Number(BigInt.asUintN(32, ins.memoryDisplacement)) } };
        }
      }
    } else if (code === Code.Xchg_rm64_r64 || code === Code.Xchg_rm32_r32 || code === Code.Xchg_r64_RAX || code === Code.Xchg_r32_EAX) {
      if (ins.op0Kind === OpKind.Register && ins.op1Kind === OpKind.Register) {
        const a = gpr(ins.op0Register)!;
        const b = gpr(ins.op1Register)!;
        if (a.idx !== RSP && b.idx !== RSP) return { op: 'xchg', a: a.idx, b: b.idx };
      }
    } else if (CMOVS.has(code)) {
      if (ins.op1Kind === OpKind.Register) {
        const a = gpr(ins.op0Register)!;
        const b = gpr(ins.op1Register)!;
        if (a.idx !== RSP && a.idx !== RBP) return { op: 'cmov', dst: a.idx, src: b.idx };
      }
    } else if (code === Code.Push_r64) {
      return { op: 'push', src: gpr(ins.op0Register)!.idx };
    } else if (code === Code.Pushq_imm32 || code === Code.Pushq_imm8) {
      return { op: 'push', src: { value: low32(ins.immediate(0)) } };
    } else if (code === Code.Pop_r64) {
      const g = gpr(ins.op0Register)!;
      if (g.idx !== RSP) return { op: 'pop', dst: g.idx };
    } else if (RSP_ADJ.has(code)) {
      if (ins.op0Kind === OpKind.Register && ins.op0Register === Register.RSP) {
        const v = i64(ins.immediate(1));
        return { op: 'rspAdd', delta: code === Code.Sub_rm64_imm32 || code === Code.Sub_rm64_imm8 ? -v : v };
      }
    } else if (code === Code.Leaveq) {
      return { op: 'leave' };
    }
    return this.partial(ins) ?? this.generic(ins);
  }

  /**
   * Arithmetic with a constant on a register of any width, and 8/16-bit moves and
   * extensions (`xor %eax,%eax; mov $56,%al` is how musl's __clone sets the number).
   * Only shapes whose result depends on one location are modelled; the rest stay
   * `other` (unresolved when they touch the tracked value). rsp/rbp as destination
   * are left alone: frame slots are addressed through them.
   */
  private partial(ins: Instruction): Effect | undefined {
    const m = ins.mnemonic;
    if (ins.code === Code.Cbw) return { op: 'xform', dst: RAX, src: RAX, x: { f: 'ext', bits: 8, shift: 0, signed: true, into: 16 } };
    if (ins.code === Code.Cwde) return { op: 'xform', dst: RAX, src: RAX, x: { f: 'ext', bits: 16, shift: 0, signed: true, into: 32 } };
    if (ins.code === Code.Cdqe) return { op: 'copy', dst: RAX, src: RAX }; // the low 32 bits are unchanged
    if (ins.opCount < 1 || ins.op0Kind !== OpKind.Register) return undefined;
    const d = gpr(ins.op0Register);
    if (!d || d.idx === RSP || d.idx === RBP) return undefined;
    const bits = d.bits === 64 ? 32 : d.bits;
    const shift = d.high8 ? 8 : 0;
    const imm = (k: number): number => Number(BigInt.asUintN(32, ins.immediate(k)));
    const isImm = (k: OpKind): boolean => k !== OpKind.Register && k !== OpKind.Memory && k >= OpKind.Immediate8 && k <= OpKind.Immediate32to64;
    const f = ARITH.get(m);
    if (f && ins.opCount === 2 && isImm(ins.op1Kind)) {
      if (f === 'set' && bits === 32) return undefined; // mov $imm,r32/r64 is a constant, handled above
      const v = imm(1);
      return { op: 'xform', dst: d.idx, src: d.idx, x: { f, bits, shift, imm: m === Mnemonic.Sub ? -v >>> 0 : v } };
    }
    if ((m === Mnemonic.Xor || m === Mnemonic.Sub) && ins.opCount === 2 && ins.op1Kind === OpKind.Register && ins.op1Register === ins.op0Register) {
      return { op: 'xform', dst: d.idx, src: d.idx, x: { f: 'set', bits, shift, imm: 0 } };
    }
    if ((m === Mnemonic.Inc || m === Mnemonic.Dec) && ins.opCount === 1) {
      return { op: 'xform', dst: d.idx, src: d.idx, x: { f: 'add', bits, shift, imm: m === Mnemonic.Inc ? 1 : 0xffffffff } };
    }
    if ((m === Mnemonic.Movzx || m === Mnemonic.Movsx) && ins.opCount === 2 && !d.high8) {
      const signed = m === Mnemonic.Movsx;
      const into = d.bits === 16 ? 16 : 32;
      if (ins.op1Kind === OpKind.Register) {
        const s = gpr(ins.op1Register);
        if (!s || (s.bits !== 8 && s.bits !== 16) || s.idx === RSP) return undefined;
        if (into === 16 && s.idx !== d.idx) return undefined; // merges two registers
        return { op: 'xform', dst: d.idx, src: s.idx, x: { f: 'ext', bits: s.bits, shift: s.high8 ? 8 : 0, signed, into } };
      }
      if (ins.op1Kind === OpKind.Memory && into === 32) {
        const slot = this.slotOf(ins);
        const size = MemorySizeExt.size(ins.memorySize);
        if (slot && (size === 1 || size === 2)) return { op: 'xform', dst: d.idx, src: slot, x: { f: 'ext', bits: size === 1 ? 8 : 16, shift: 0, signed, into } };
      }
      return undefined;
    }
    return undefined;
  }

  /** What generic() learned per instruction shape (genericShapeKey): see learnShape. */
  private shapes = new Map<number, GenericShape>();
  /** Per iced Code: 1 when an instance of it wrote nothing (no register, no memory), 2 when one wrote something, 0 not seen. */
  private inertByCode = new Uint8Array(8192);

  /**
   * Whether instructions of iced Code `code` write no register and no memory, as an
   * instance seen before showed: which operands an instruction writes, and what it writes
   * on its own, are the Code's (its operands' kinds change where, not whether). False
   * when not known yet. Lets a caller that only needs writes skip the decode.
   */
  writesNothing(code: number): boolean {
    return code < this.inertByCode.length && this.inertByCode[code] === 1;
  }

  /**
   * The effect of an instruction no rule above models: the registers and memory it may
   * write. The register-use tables behind it (iced's InstructionInfoFactory) are the
   * costly part of decoding an effect, so the answer is learned once per shape (iced
   * Code, which operands are memory, a rep prefix) where the shape alone decides it:
   * - writes nothing (cmp, test, nop, vector work on vector registers): the same effect
   *   every time;
   * - writes exactly its first operand, a general register that differs from every other
   *   operand's: learned from one instance whose first operand no instruction writes
   *   implicitly (r8–r10, r12–r15), or from two naming different registers (learnShape),
   *   so no implicit write or second written operand can hide behind it.
   * Anything else takes the tables every time. Separately, a Code one instance showed to
   * write nothing at all is remembered for writesNothing.
   */
  private generic(ins: Instruction): Effect {
    if (this.opts.noShapes) return this.genericFromTables(ins);
    const key = genericShapeKey(ins);
    const known = this.shapes.get(key);
    if (known?.k === 'inert') return known.e;
    if (known?.k === 'op0') {
      const d = gpr(ins.op0Register);
      if (d) {
        const detail = otherDetail(ins);
        return { op: 'other', name: known.name, writes: 1 << d.idx, frameWrites: [], otherMemWrite: false, partialRegWrite: d.bits < 32 ? 1 << d.idx : 0, ...(detail ? { detail } : {}) };
      }
    }
    const e = this.genericFromTables(ins);
    if (ins.code < this.inertByCode.length) {
      // Only an instance writing no register of any kind says it of the Code: a vector move
      // writes its register operand, or memory when that operand is memory.
      if (this.wroteAnything) this.inertByCode[ins.code] = 2;
      else if (this.inertByCode[ins.code] === 0) this.inertByCode[ins.code] = 1;
    }
    if (!known || known.k === 'maybe') {
      const learned = learnShape(ins, e, known);
      if (learned) this.shapes.set(key, learned);
    }
    return e;
  }

  /** genericFromTables' last instruction wrote a register (any kind: vector, mask, segment too) or memory. */
  private wroteAnything = false;

  private genericFromTables(ins: Instruction): Effect {
    const info = this.info.info(ins);
    this.wroteAnything = false;
    let writes = 0;
    let partialRegWrite = 0;
    const frameWrites: FrameWrite[] = [];
    let otherMemWrite = false;
    try {
      const regs = info.usedRegisters();
      for (const r of regs) {
        const acc = r.access as OpAccess;
        if (accessWrites(acc)) {
          this.wroteAnything = true;
          const g = gpr(r.register);
          if (g) {
            writes |= 1 << g.idx;
            if (g.bits < 32) partialRegWrite |= 1 << g.idx;
          }
        }
        r.free();
      }
      const mems = info.usedMemory();
      for (const m of mems) {
        const acc = m.access as OpAccess;
        if (accessWrites(acc)) {
          this.wroteAnything = true;
          const b = m.base;
          if ((b === Register.RSP || b === Register.RBP) && m.index === Register.None) {
            frameWrites.push({ base: b === Register.RSP ? RSP : RBP, disp: i64(m.displacement), size: memSize(ins) });
          } else if (b === Register.RSP || b === Register.RBP || m.index === Register.RSP || m.index === Register.RBP) {
            // Indexed frame access (an array on the stack): could hit any slot.
            frameWrites.push({ base: b === Register.RBP || m.index === Register.RBP ? RBP : RSP, disp: NaN, size: 0 });
          } else {
            otherMemWrite = true;
          }
        }
        m.free();
      }
    } finally {
      info.free();
    }
    const name = mnemonicName(ins.mnemonic) + (ins.op1Kind === OpKind.Memory && ins.opCount >= 2 ? ' from memory' : '');
    const detail = otherDetail(ins);
    return { op: 'other', name, writes, frameWrites, otherMemWrite, partialRegWrite, ...(detail ? { detail } : {}) };
  }

  /**
   * A move's shape, decoded without the register-use tables (cheap): the destination
   * register (or a frame store), and the source register or the base of a memory source.
   * Undefined for anything but mov/movzx/movsx/movsxd.
   */
  moveShape(addr: number): { dst?: number; toFrame?: boolean; srcReg?: number; srcBase?: number } | undefined {
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.decodeOut(this.ins);
    const ins = this.ins;
    const m = ins.mnemonic;
    if ((m !== Mnemonic.Mov && m !== Mnemonic.Movzx && m !== Mnemonic.Movsx && m !== Mnemonic.Movsxd) || ins.opCount !== 2) return undefined;
    const out: { dst?: number; toFrame?: boolean; srcReg?: number; srcBase?: number } = {};
    if (ins.op0Kind === OpKind.Register) out.dst = gpr(ins.op0Register)?.idx;
    else if (ins.op0Kind === OpKind.Memory) out.toFrame = ins.memoryBase === Register.RSP || ins.memoryBase === Register.RBP;
    if (ins.op1Kind === OpKind.Register) out.srcReg = gpr(ins.op1Register)?.idx;
    else if (ins.op1Kind === OpKind.Memory) out.srcBase = gpr(ins.memoryBase)?.idx;
    return out;
  }

  /** Per iced Code: 1 when its mnemonic leaves the flags alone, 2 when not, 0 not yet known (the mnemonic depends on the Code only). */
  private keepsByCode = new Uint8Array(8192);

  /**
   * Whether the instruction at `addr` (of iced Code `code`) leaves the flags alone: mov,
   * movzx/movsx, lea, push, pop, nop (compilers schedule them between a test and its jump).
   */
  keepsFlags(addr: number, code: number): boolean {
    let k = code < this.keepsByCode.length ? this.keepsByCode[code] : 0;
    if (k === 0) {
      (this.decoder as unknown as { position: number }).position = addr - this.base;
      this.decoder.decodeOut(this.ins);
      k = KEEPS_FLAGS.has(this.ins.mnemonic) ? 1 : 2;
      if (this.ins.code === code && code < this.keepsByCode.length) this.keepsByCode[code] = k;
    }
    return k === 1;
  }

  /** The flag-setting shape of the instruction at `addr` (FlagSetter), or undefined. */
  flagSetter(addr: number): FlagSetter | undefined {
    (this.decoder as unknown as { position: number }).position = addr - this.base;
    this.decoder.decodeOut(this.ins);
    const ins = this.ins;
    const m = ins.mnemonic;
    if ((m !== Mnemonic.Test && m !== Mnemonic.And && m !== Mnemonic.Cmp) || ins.opCount !== 2) return undefined;
    const f = m === Mnemonic.Test ? 'test' : m === Mnemonic.And ? 'and' : 'cmp';
    let a: FlagSetter['a'];
    let width: number;
    if (ins.op0Kind === OpKind.Register) {
      const g = gpr(ins.op0Register);
      if (!g || g.idx === RSP) return undefined;
      a = { reg: g.idx, high8: !!g.high8 };
      width = g.bits / 8;
    } else if (ins.op0Kind === OpKind.Memory) {
      const b = gpr(ins.memoryBase);
      if (!b || b.bits !== 64 || ins.memoryIndex !== Register.None || ins.segmentPrefix !== Register.None) return undefined;
      a = { base: b.idx, disp: i64(ins.memoryDisplacement) };
      width = MemorySizeExt.size(ins.memorySize);
    } else return undefined;
    if (width !== 1 && width !== 2 && width !== 4 && width !== 8) return undefined;
    const k = ins.op1Kind;
    if (k === OpKind.Register) {
      if (f !== 'test' || !('reg' in a) || ins.op1Register !== ins.op0Register) return undefined;
      return { f, width, a, self: true };
    }
    if (k === OpKind.Memory || k < OpKind.Immediate8 || k > OpKind.Immediate32to64) return undefined;
    const raw = ins.immediate(1);
    const imm = Number(BigInt.asUintN(Math.min(32, width * 8), raw));
    // iced hands the immediate back as an unsigned 64-bit value: a sign-extended negative imm32 has its upper half set.
    return { f, width, a, imm, ...(width === 8 && BigInt.asUintN(64, raw) >> 32n !== 0n ? { immNeg: true } : {}) };
  }
}

const KEEPS_FLAGS = new Set<Mnemonic>([Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Movsxd, Mnemonic.Lea, Mnemonic.Push, Mnemonic.Pop, Mnemonic.Nop]);

function otherDetail(ins: Instruction): OtherDetail | undefined {
  const m = ins.mnemonic;
  if (m === Mnemonic.Lea) {
    const b = ins.memoryBase;
    const x = ins.memoryIndex;
    if (b === Register.RSP || b === Register.RBP) return { k: 'frameLea', base: b === Register.RSP ? RSP : RBP, disp: i64(ins.memoryDisplacement), indexed: x !== Register.None };
    if (x === Register.RSP || x === Register.RBP) return { k: 'frameLea', base: x === Register.RSP ? RSP : RBP, disp: i64(ins.memoryDisplacement), indexed: true };
    return undefined;
  }
  if ((m === Mnemonic.Mov || m === Mnemonic.Movzx) && ins.opCount === 2 && ins.op0Kind === OpKind.Register) {
    const d = gpr(ins.op0Register);
    if (!d || d.idx === RSP) return undefined;
    if (ins.op1Kind === OpKind.Register) {
      const s = gpr(ins.op1Register);
      return m === Mnemonic.Mov && d.idx === RBP && d.bits === 64 && s && s.bits === 64 && s.idx !== RSP ? { k: 'regMove', dst: d.idx, src: s.idx } : undefined;
    }
    if (ins.op1Kind !== OpKind.Memory || ins.memoryIndex !== Register.None || ins.segmentPrefix !== Register.None) return undefined;
    const b = gpr(ins.memoryBase);
    if (!b || b.bits !== 64 || b.idx === RSP || (d.bits !== 32 && d.bits !== 64)) return undefined;
    const size = MemorySizeExt.size(ins.memorySize);
    if (m === Mnemonic.Mov ? size !== d.bits / 8 : size !== 1 && size !== 2) return undefined;
    return { k: 'load', dst: d.idx, base: b.idx, disp: i64(ins.memoryDisplacement), size: size as 1 | 2 | 4 | 8 };
  }
  if ((m === Mnemonic.And || m === Mnemonic.Or) && ins.opCount === 2 && ins.op0Kind === OpKind.Memory && ins.op1Kind !== OpKind.Register && ins.op1Kind !== OpKind.Memory) {
    const b = ins.memoryBase;
    if ((b !== Register.RSP && b !== Register.RBP) || ins.memoryIndex !== Register.None) return undefined;
    const size = MemorySizeExt.size(ins.memorySize);
    return { k: 'memImm', f: m === Mnemonic.And ? 'and' : 'or', base: b === Register.RSP ? RSP : RBP, disp: i64(ins.memoryDisplacement), size, imm: Number(BigInt.asUintN(32, ins.immediate(1))) };
  }
  return undefined;
}

type GenericShape = { k: 'inert'; e: Effect } | { k: 'op0'; name: string } | { k: 'maybe'; fam: number };

/** Instruction shapes for generic(): the iced Code, which of the first five operands are memory, a rep/repne prefix. */
function genericShapeKey(ins: Instruction): number {
  let mem = 0;
  const n = Math.min(ins.opCount, 5);
  for (let k = 0; k < n; k++) if (ins.opKind(k) === OpKind.Memory) mem |= 1 << k;
  const rep = ins.hasRepPrefix || ins.hasRepePrefix || ins.hasRepnePrefix ? 1 : 0;
  return (ins.code * 32 + mem) * 2 + rep;
}

/** Registers no instruction writes implicitly: a first operand among them that is the only register written is the operand's write alone. */
const NEVER_IMPLICIT = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

/**
 * What generic() may reuse for every instance of this instance's shape, from its effect by
 * the register-use tables; undefined: nothing (yet). A first operand among the registers
 * instructions also write implicitly (rax…rdi, r11) proves nothing alone, but two instances
 * that each write exactly their first operand, a different register each time, do: an
 * implicit write would be the same register in both (`prev`: the first of them).
 */
function learnShape(ins: Instruction, e: Effect, prev?: GenericShape): GenericShape | undefined {
  if (e.op !== 'other' || e.frameWrites.length || e.otherMemWrite) return undefined;
  if (e.writes === 0 && e.partialRegWrite === 0 && !e.detail) return prev ? undefined : { k: 'inert', e };
  const d = ins.op0Kind === OpKind.Register ? gpr(ins.op0Register) : undefined;
  if (!d || e.writes !== 1 << d.idx || !onlyOperandIs(ins, d.idx)) return undefined;
  if (NEVER_IMPLICIT & (1 << d.idx)) return { k: 'op0', name: e.name };
  if (prev?.k === 'maybe') return prev.fam === d.idx ? undefined : { k: 'op0', name: e.name };
  return { k: 'maybe', fam: d.idx };
}

/** No other operand of the instruction names register family `idx` (a second written operand could hide behind the first). */
function onlyOperandIs(ins: Instruction, idx: number): boolean {
  const n = Math.min(ins.opCount, 5);
  for (let k = 1; k < n; k++) {
    const kind = ins.opKind(k);
    if (kind === OpKind.Register && gpr(ins.opRegister(k))?.idx === idx) return false;
    if (kind === OpKind.Memory && (gpr(ins.memoryBase)?.idx === idx || gpr(ins.memoryIndex)?.idx === idx)) return false;
  }
  return true;
}

function memSize(ins: Instruction): number {
  // Unknown sizes (e.g. xsave areas) count as 64 bytes, the widest vector store.
  const n = ins.memorySize ? MemorySizeExt.size(ins.memorySize) : 0;
  return n > 0 ? n : 64;
}

/** Whether an operand access reads, and whether it writes (conditional ones count: either may happen). */
export const accessReads = (acc: OpAccess) => acc === OpAccess.Read || acc === OpAccess.CondRead || acc === OpAccess.ReadWrite || acc === OpAccess.ReadCondWrite;
export const accessWrites = (acc: OpAccess) => acc === OpAccess.Write || acc === OpAccess.CondWrite || acc === OpAccess.ReadWrite || acc === OpAccess.ReadCondWrite;

/** The general-purpose register families (bitmasks) an instruction reads and writes, from iced's register use. */
export function gprAccess(info: { usedRegisters(): { register: Register; access: number; free(): void }[] }): { reads: number; writes: number } {
  let reads = 0;
  let writes = 0;
  for (const r of info.usedRegisters()) {
    const g = gpr(r.register);
    const acc = r.access as OpAccess;
    if (g) {
      if (accessReads(acc)) reads |= 1 << g.idx;
      if (accessWrites(acc)) writes |= 1 << g.idx;
    }
    r.free();
  }
  return { reads, writes };
}
