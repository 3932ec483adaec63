import { Code, Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, Register } from 'iced-x86';
import type { FunctionStart } from './types';

/**
 * What the first pass keeps per instruction. Everything is computed from the
 * instruction's Code and raw bytes, because every wasm getter (and every BigInt
 * iced hands back for addresses) costs more than the decode itself.
 */
export const K = {
  NEXT: 0,
  CALL: 1,
  CALL_IND: 2,
  JMP: 3,
  JMP_IND: 4,
  JCC: 5,
  RET: 6,
  SYSCALL: 7,
  INT80: 8,
  SYSENTER: 9,
  /** hlt, ud2, int3, invalid bytes: execution does not continue to the next instruction. */
  STOP: 10,
  /** Other interrupts / far transfers: treated as falling through (conservative for data-flow, which gives up on them). */
  OTHER: 11,
} as const;

const codeNames = Object.keys(Code).filter((k) => isNaN(Number(k))) as (keyof typeof Code)[];
const REL8 = new Set<number>();
const REL32 = new Set<number>();
for (const n of codeNames) {
  if (/_rel8_64/.test(n)) REL8.add(Code[n]);
  else if (/_rel32_64/.test(n)) REL32.add(Code[n]);
}
REL32.add(Code.Xbegin_rel32);

/** Per-Code flow classification, filled lazily from iced's flowControl (it depends only on the Code). */
const kindOfCode = new Int8Array(codeNames.length + 16).fill(-1);

function classify(code: number, fc: FlowControl, lastByte: number): number {
  switch (code) {
    case Code.Syscall:
      return K.SYSCALL;
    case Code.Sysenter:
      return K.SYSENTER;
    case Code.Int_imm8:
      return lastByte === 0x80 ? K.INT80 : K.OTHER;
    case Code.INVALID:
    case Code.Hlt:
    case Code.Ud2:
    case Code.Int3:
      return K.STOP;
  }
  switch (fc) {
    case FlowControl.Next:
      return K.NEXT;
    case FlowControl.Call:
      return REL32.has(code) ? K.CALL : K.CALL_IND;
    case FlowControl.IndirectCall:
      return K.CALL_IND;
    case FlowControl.UnconditionalBranch:
      return REL8.has(code) || REL32.has(code) ? K.JMP : K.JMP_IND;
    case FlowControl.IndirectBranch:
      return K.JMP_IND;
    case FlowControl.ConditionalBranch:
      return K.JCC;
    case FlowControl.Return:
      return K.RET;
    case FlowControl.Exception:
      return K.STOP;
    case FlowControl.XbeginXabortXend:
      return REL32.has(code) ? K.JCC : K.NEXT;
    default:
      return K.OTHER;
  }
}

/** Kinds after which execution does not continue with the next instruction. */
export function endsFlow(kind: number): boolean {
  return kind === K.JMP || kind === K.JMP_IND || kind === K.RET || kind === K.STOP;
}

export interface ProgramFunction {
  addr: number;
  end: number;
  name?: string;
  exported: boolean;
  /** Instruction index range [first, last) into the Program arrays. */
  first: number;
  last: number;
}

/**
 * All decoded instructions of an object's functions, in address order, as parallel
 * typed arrays. Functions partition the code: each runs from its start to its
 * size (if given) or to the next start, whichever comes first.
 */
export class Program {
  n = 0;
  addr = new Float64Array(1024);
  len = new Uint8Array(1024);
  code = new Uint16Array(1024);
  kind = new Uint8Array(1024);
  /** Direct branch target, NaN otherwise; for lea rip-relative / mov imm, the address materialised (or NaN). */
  target = new Float64Array(1024);
  fnOf = new Int32Array(1024);
  functions: ProgramFunction[] = [];
  /**
   * Data addresses the code names (only when decoded with `dataRefs`): instruction
   * index and address, in instruction order. `refOf` says how: 1 = the address itself is
   * materialised (lea, mov imm: the object's address is taken), 0 = a load or store
   * through it (the object is used in place).
   */
  refInsn = new Int32Array(0);
  refAddr = new Float64Array(0);
  refOf = new Uint8Array(0);
  refCount = 0;
  private jumpSrc?: Map<number, number[]>;
  private callSrc?: Map<number, number[]>;

  /** Direct jump (jmp/jcc) sources by target address; built on first use (most objects never need it). */
  get jumpSources(): Map<number, number[]> {
    if (!this.jumpSrc) this.buildSources();
    return this.jumpSrc!;
  }

  /** Direct call sites by target address. */
  get callSources(): Map<number, number[]> {
    if (!this.callSrc) this.buildSources();
    return this.callSrc!;
  }

  /**
   * Addresses inside a function that code outside its flow enters besides direct calls:
   * data-derived entries that fall inside a sized function's code (analyze-object.ts
   * settles them there instead of cutting the function).
   */
  get innerEntries(): ReadonlySet<number> {
    return this.inner;
  }
  set innerEntries(s: ReadonlySet<number>) {
    this.inner = s;
    this.marks = undefined;
  }
  private inner: ReadonlySet<number> = new Set();
  /** Per instruction: 1 a direct jump targets it, 2 a direct call does, 4 one of innerEntries (the per-instruction form of the three sets, for hot loops). */
  private marks?: Uint8Array;

  private entryMarks(): Uint8Array {
    if (this.marks && this.marks.length === this.n) return this.marks;
    const m = new Uint8Array(this.n);
    const mark = (addr: number, bit: number): void => {
      const i = this.indexOf(addr);
      if (i !== undefined) m[i] |= bit;
    };
    for (const t of this.jumpSources.keys()) mark(t, 1);
    for (const t of this.callSources.keys()) mark(t, 2);
    for (const a of this.inner) mark(a, 4);
    return (this.marks = m);
  }

  private targetIdx?: { of: Float64Array; index: Int32Array };

  /**
   * The instruction index of instruction i's direct target (a jmp, jcc or call landing on
   * an instruction start), -1 for none: indexOf's answer kept per instruction, for the
   * scans that ask it of every branch, several times over. Rebuilt when the decode has
   * grown or replaced the arrays since.
   */
  targetIndex(i: number): number {
    let t = this.targetIdx?.of === this.target && this.targetIdx.index.length === this.n ? this.targetIdx.index : undefined;
    if (!t) {
      t = new Int32Array(this.n).fill(-1);
      this.targetIdx = { of: this.target, index: t };
      for (let j = 0; j < this.n; j++) {
        const k = this.kind[j];
        if (k === K.JMP || k === K.JCC || k === K.CALL) t[j] = this.indexOf(this.target[j]) ?? -1;
      }
    }
    return t[i];
  }

  /** Some direct jmp/jcc lands on instruction i. */
  isJumpTarget(i: number): boolean {
    return (this.entryMarks()[i] & 1) !== 0;
  }

  /**
   * Instruction i is an entry although it is not its function's start: a direct call's
   * target (hand-written code called in the middle of a symbol's extent, like musl's
   * __syscall_cp_asm after memset; code without symbols) or one of innerEntries. A value
   * there can come from the entry's callers as well as from the code before it.
   */
  isInnerEntry(i: number): boolean {
    return (this.entryMarks()[i] & 6) !== 0;
  }

  private buildSources(): void {
    this.jumpSrc = new Map();
    this.callSrc = new Map();
    for (let i = 0; i < this.n; i++) {
      const k = this.kind[i];
      if (k === K.CALL) push(this.callSrc, this.target[i], i);
      else if (k === K.JMP || k === K.JCC) push(this.jumpSrc, this.target[i], i);
    }
  }

  private refMode = REF_NONE;
  /** Offset in `bytes` of the first byte the current decoder was given (decodeFunctions). */
  private origin = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly base: number,
  ) {}

  /** Instruction index of an instruction start (addresses are sorted: functions partition the code). */
  indexOf(addr: number): number | undefined {
    const a = this.addr;
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = a[mid];
      if (v === addr) return mid;
      if (v < addr) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  functionIndexContaining(addr: number): number | undefined {
    const fs = this.functions;
    let lo = 0;
    let hi = fs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (fs[mid].addr <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return undefined;
    return addr < fs[hi].end ? hi : undefined;
  }

  private grow(): void {
    this.reserve(Math.ceil(this.addr.length * 1.5));
  }

  reserve(cap: number): void {
    if (cap <= this.addr.length) return;
    const g = <T extends Float64Array | Uint8Array | Uint16Array | Int32Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(cap);
      b.set(a);
      return b;
    };
    this.addr = g(this.addr, Float64Array);
    this.len = g(this.len, Uint8Array);
    this.code = g(this.code, Uint16Array);
    this.kind = g(this.kind, Uint8Array);
    this.target = g(this.target, Float64Array);
    this.fnOf = g(this.fnOf, Int32Array);
  }

  /** A program with no instructions yet, recording data references as `refMode` says (REF_*). */
  static empty(bytes: Uint8Array, base: number, refMode: number): Program {
    const p = new Program(bytes, base);
    p.refMode = refMode;
    return p;
  }

  /** The function starts decode works on: inside the code, one per address (aliases merged), in address order. */
  static sortedStarts(bytes: Uint8Array, base: number, starts: FunctionStart[]): FunctionStart[] {
    const end = base + bytes.length;
    const byAddr = new Map<number, FunctionStart>();
    for (const s of starts) {
      if (s.addr < base || s.addr >= end) continue;
      const prev = byAddr.get(s.addr);
      // Aliases (read/__read/__libc_read) share a start: keep the largest size and any name.
      if (!prev) byAddr.set(s.addr, { ...s });
      else {
        prev.size = Math.max(prev.size ?? 0, s.size ?? 0) || undefined;
        prev.name = betterName(prev.name, s.name);
        prev.exported = prev.exported || s.exported;
      }
    }
    return [...byAddr.values()].sort((a, b) => a.addr - b.addr);
  }

  /**
   * Decodes functions sorted[from..to) and appends them (fnOf holds their index in
   * `sorted`). `resumeAt` is where code resumes after function from-1 (its start when
   * from is 0); returns that position after function to-1, so ranges decoded apart and
   * concatenated (analysis/x86/decode-slices.ts) give exactly what one pass gives.
   */
  decodeFunctions(sorted: readonly FunctionStart[], from: number, to: number, resumeAt: number): number {
    const p = this;
    const base = this.base;
    const end = base + this.bytes.length;
    // The decoder gets only the bytes this range can read (iced copies them into its
    // memory): from where decoding may resume to the start after the range, plus one
    // longest instruction for a straddling one. The same bytes decode the same way.
    const rangeEnd = to < sorted.length ? sorted[to].addr : end;
    const lo = Math.max(0, Math.min(resumeAt, from < to ? sorted[from].addr : resumeAt) - base);
    const hi = Math.min(this.bytes.length, rangeEnd - base + 16);
    const decoder = new Decoder(64, lo === 0 && hi === this.bytes.length ? this.bytes : this.bytes.subarray(lo, Math.max(lo, hi)), DecoderOptions.None);
    this.origin = lo;
    const ins = new Instruction();
    try {
      for (let f = from; f < to; f++) {
        const s = sorted[f];
        const next = f + 1 < sorted.length ? sorted[f + 1].addr : end;
        const stop = s.size && s.size > 0 ? Math.min(s.addr + s.size, next) : next;
        const fn: ProgramFunction = { addr: s.addr, end: stop, name: s.name, exported: !!s.exported, first: p.n, last: p.n };
        p.functions.push(fn);
        // A start inside the previous function's trailing nop padding (glibc's signal
        // trampoline FDE begins one byte early, so unwinders find it from pc-1): the
        // code really begins after the nop.
        if (resumeAt < s.addr) resumeAt = base + nopPaddingEnd(decoder, ins, resumeAt - base, s.addr - base, this.origin);
        const from = resumeAt > s.addr && resumeAt < stop ? resumeAt : s.addr;
        resumeAt = base + p.decodeRange(decoder, ins, from - base, stop - base, f);
        // Hand-written assembly may end its FDE before its code does (glibc's clone3
        // closes its CFI before the `syscall` that starts the child): when the last
        // instruction inside the size falls through, the function goes on to the next start.
        // (A trailing call is a call that does not return — __stack_chk_fail, abort —
        // in compiled code: no extension then.)
        const lastKind = p.kind[p.n - 1];
        if (stop < next && p.n > fn.first && !endsFlow(lastKind) && lastKind !== K.CALL && lastKind !== K.CALL_IND && resumeAt <= stop) {
          fn.end = next;
          resumeAt = base + p.decodeRange(decoder, ins, stop - base, next - base, f);
        }
        fn.last = p.n;
      }
    } finally {
      ins.free();
      decoder.free();
    }
    return resumeAt;
  }

  /** How data references are recorded (REF_NONE, REF_PIC, REF_ABSOLUTE). */
  get referenceMode(): number {
    return this.refMode;
  }

  /**
   * One wasm call (memoryBase) per instruction; the address itself only for the few
   * that have a rip-relative (or, in position-dependent code, absolute) operand.
   */
  private noteDataRef(ins: Instruction, i: number, materialised: number, flags: number, pos: number, len: number): void {
    // A rip-relative operand needs a ModRM byte with mod=00, rm=101; an instruction with
    // no such byte has none, and the wasm call (the cost of this pass) is skipped.
    if (this.refMode === REF_PIC) {
      const b = this.bytes;
      let maybe = false;
      for (let k = pos; k < pos + len; k++) if ((b[k] & 0xc7) === 0x05) { maybe = true; break; }
      if (!maybe) return;
    }
    const mb = ins.memoryBase;
    const isLea = ins.code === Code.Lea_r64_m || ins.code === Code.Lea_r32_m;
    if (mb === Register.RIP) {
      // The decoder's own ip drifts from our addresses (we move its position between
      // functions), so take the displacement relative to its idea of the next ip.
      const disp = Number(BigInt.asIntN(64, ins.ipRelMemoryAddress - ins.nextIP));
      this.pushRef(i, this.addr[i] + this.len[i] + disp, isLea ? 1 : 0);
      return;
    }
    if (this.refMode !== REF_ABSOLUTE) return;
    if (flags & F_MATERIALISING && !Number.isNaN(materialised) && materialised > 0) {
      this.pushRef(i, materialised, 1);
      return;
    }
    // [disp32] or [index*scale+disp32] with no base: the displacement is an address.
    if (mb === Register.None && ins.memoryDisplSize >= 4) {
      const d = Number(ins.memoryDisplacement);
      if (d > 0) this.pushRef(i, d, isLea ? 1 : 0);
    }
  }

  private pushRef(i: number, addr: number, materialised: number): void {
    const n = this.refCount;
    if (n === this.refInsn.length) {
      // Typed arrays, grown by doubling: millions of references in a large object, and
      // plain arrays of numbers were a GC cost.
      const cap = Math.max(1024, n * 2);
      const insn = new Int32Array(cap);
      insn.set(this.refInsn);
      const addrs = new Float64Array(cap);
      addrs.set(this.refAddr);
      const of = new Uint8Array(cap);
      of.set(this.refOf);
      this.refInsn = insn;
      this.refAddr = addrs;
      this.refOf = of;
    }
    this.refInsn[n] = i;
    this.refAddr[n] = addr;
    this.refOf[n] = materialised;
    this.refCount = n + 1;
  }

  /** Returns where code resumes after the range: past its end if its last instruction was a straddling nop. */
  private decodeRange(decoder: Decoder, ins: Instruction, from: number, to: number, fnIdx: number): number {
    const bytes = this.bytes;
    const base = this.base;
    (decoder as unknown as { position: number }).position = from - this.origin;
    let pos = from;
    let straddlingNopEnd = to;
    while (pos < to) {
      decoder.decodeOut(ins);
      const len = ins.length;
      const code = ins.code;
      let kind = code < kindOfCode.length ? kindOfCode[code] : -1;
      if (kind < 0 || code === Code.Int_imm8) {
        kind = classify(code, ins.flowControl, bytes[pos + len - 1]);
        if (code !== Code.Int_imm8 && code < kindOfCode.length) kindOfCode[code] = kind;
      }
      if (pos + len > to && code !== Code.INVALID) {
        if (ins.mnemonic === Mnemonic.Nop) straddlingNopEnd = pos + len;
        // An instruction straddling the next function: execution cannot go on from it.
        kind = K.STOP;
      }
      const i = this.n;
      if (i === this.addr.length) this.grow();
      const a = base + pos;
      const next = a + len;
      this.addr[i] = a;
      this.len[i] = len;
      this.code[i] = code;
      this.kind[i] = kind;
      this.fnOf[i] = fnIdx;
      let t = NaN;
      const flags = code < CODE_FLAGS.length ? CODE_FLAGS[code] : 0;
      if (kind === K.CALL || kind === K.JMP || kind === K.JCC) {
        if (flags & F_REL32) t = next + readI32(bytes, pos + len - 4);
        else if (flags & F_REL8) t = next + ((bytes[pos + len - 1] << 24) >> 24);
      } else if (kind === K.NEXT && flags & F_MATERIALISING) {
        t = materialisedAddress(ins, code, bytes, pos, len, next);
      }
      this.target[i] = t;
      if (this.refMode !== REF_NONE && code !== Code.INVALID) this.noteDataRef(ins, i, t, flags, pos, len);
      this.n++;
      pos += len;
      if (code === Code.INVALID) {
        // Resynchronise one byte later; the STOP kind keeps data-flow from walking through it.
        pos = pos - len + 1;
        (decoder as unknown as { position: number }).position = pos - this.origin;
      }
    }
    return straddlingNopEnd;
  }
}

/** Sweeps the gap before a function start; if it is nop padding whose last nop straddles the start, returns that nop's end. */
function nopPaddingEnd(decoder: Decoder, ins: Instruction, from: number, to: number, origin: number): number {
  (decoder as unknown as { position: number }).position = from - origin;
  let pos = from;
  while (pos < to) {
    decoder.decodeOut(ins);
    if (ins.mnemonic !== Mnemonic.Nop) return to;
    pos += ins.length;
  }
  return pos;
}

/** Among aliases, the public spelling reads best in reports: `read` over `__libc_read`. */
function betterName(a: string | undefined, b: string | undefined): string | undefined {
  if (!a || !b) return a ?? b;
  const score = (n: string) => (n.startsWith('_') ? 1000 : 0) + n.length;
  return score(b) < score(a) ? b : a;
}

function push(m: Map<number, number[]>, k: number, v: number): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

export function readI32(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
}

/**
 * Addresses code can take of a function: `lea sym(%rip)` (PIC), `mov $sym` and
 * `push $sym` (non-PIC), `movq $sym, mem`. The displacement/immediate is always the
 * instruction's last bytes for these encodings, so it is read from the bytes.
 */
const MATERIALISING = new Set<number>([
  Code.Lea_r64_m, Code.Lea_r32_m, Code.Mov_r32_imm32, Code.Mov_r64_imm64, Code.Mov_rm64_imm32, Code.Mov_rm32_imm32, Code.Pushq_imm32,
]);

function materialisedAddress(ins: Instruction, code: number, bytes: Uint8Array, pos: number, len: number, next: number): number {
  switch (code) {
    case Code.Lea_r64_m:
    case Code.Lea_r32_m:
      return ins.isIpRelMemoryOperand ? next + readI32(bytes, pos + len - 4) : NaN;
    case Code.Mov_r32_imm32:
      return readI32(bytes, pos + len - 4) >>> 0;
    case Code.Mov_r64_imm64: {
      const lo = readI32(bytes, pos + len - 8) >>> 0;
      const hi = readI32(bytes, pos + len - 4) >>> 0;
      return hi < 0x200000 ? hi * 0x100000000 + lo : NaN;
    }
    case Code.Mov_rm64_imm32:
    case Code.Mov_rm32_imm32:
    case Code.Pushq_imm32: {
      const v = readI32(bytes, pos + len - 4);
      return v >= 0 ? v : NaN;
    }
    default:
      return NaN;
  }
}

export const REF_NONE = 0;
export const REF_PIC = 1;
export const REF_ABSOLUTE = 2;

/**
 * Which data addresses decoding records for each instruction: none; rip-relative
 * operands (`dataRefs`); and for position-dependent code (`absolute`) absolute
 * displacements and immediates too.
 */
export function refModeOf(opts: { dataRefs?: { absolute: boolean } }): number {
  return opts.dataRefs ? (opts.dataRefs.absolute ? REF_ABSOLUTE : REF_PIC) : REF_NONE;
}

/** REL8 / REL32 / MATERIALISING as bits per Code: the decode loop tests every instruction, a typed array beats three Set lookups. */
const F_REL8 = 1;
const F_REL32 = 2;
const F_MATERIALISING = 4;
const CODE_FLAGS = new Uint8Array(codeNames.length + 16);
for (const c of REL8) CODE_FLAGS[c] |= F_REL8;
for (const c of REL32) CODE_FLAGS[c] |= F_REL32;
for (const c of MATERIALISING) CODE_FLAGS[c] |= F_MATERIALISING;
