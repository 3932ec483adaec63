import { Code, Decoder, DecoderOptions, Instruction, InstructionInfoFactory, MemorySizeExt, Mnemonic, OpAccess, OpKind, Register } from 'iced-x86';
import { accessReads, accessWrites, gprAccess, type Dst, type Effect, type Slot } from './effects';
import { endsFlow, K, Program, ProgramFunction } from './program';
import { CALLEE_SAVED, GPR_NAMES, gpr, RAX, RDX, RSP } from './registers';
import type { CodeAnalysis } from './code-analysis';
import type { Gpr } from './types';

/**
 * "Callback with its context" (musl's __setxid → __synccall(do_setxid, &ctx)): a function
 * F whose address the code only hands to a function S, S calling it back with the context
 * its caller gave next to it. Proven here, from the code alone, with two forward taint
 * passes over S and over every function that reads what S stored in globals (the signal
 * handler that runs the callback in other threads):
 *
 * 1. F's address exists only as `lea F(%rip),%A` (or `mov $F,%A`) followed in straight-line
 *    code, %A untouched, by a direct `call S`; no data holds an address in F (the ELF side:
 *    no relocation, init/fini entry or data word), F is not exported and nothing calls or
 *    jumps to it directly. So F runs only where S's value of %A (or a copy) is called.
 * 2. Pass 1, "may hold S's %A": taint flows through registers, S's own frame slots, and
 *    private globals (no symbol, no relocation, named by code only in plain 8-byte loads
 *    and stores); it may not leave: not as an argument of any call or syscall, not stored
 *    through a pointer or to thread-local storage, not returned. Every indirect call whose
 *    target may be tainted must pass, in F's context register P, a value that is *for
 *    sure* one of S's entry registers C (unchanged), or a global every store to which
 *    (in the whole object) is such a value of S's.
 * 3. Pass 2, "may hold S's %C": the context likewise only reaches those calls (in P), its
 *    globals and S's frame; a write through it must be through the unchanged pointer at a
 *    known offset, away from the number field.
 *
 * Then every call of F passes in P the context a caller of S at (1) passed in C: the
 * numbers are those that caller stores at the field (analysis/x86/idioms.ts).
 *
 * Assumed (analysis/x86/README.md, soundness assumptions): no code reaches S's frame below
 * the lowest frame address S takes (a callee handed a frame address stays at or above it;
 * the taint's slots are checked to lie below it); a function that reads the globals reads
 * a pair stored by one running call of S (musl's handler runs only while __synccall holds
 * synccall_lock and waits for it); after a call, caller-saved registers other than the
 * return value are not read before being written (SysV); the targets other than F of the
 * checked calls (musl's dummy) do not write the number field.
 */

export interface CallbackPairing {
  /** The function F is handed to. */
  s: number;
  /** The register F's address is passed to S in. */
  fnReg: Gpr;
  /** S's entry register whose value F receives as its context. */
  ctxReg: Gpr;
  /** Instruction indices of the direct calls of S that pass F. */
  calls: number[];
}

export interface CallbackOptions {
  isPrivateGlobal?: (addr: number) => boolean;
  /** Whether data (a relocation, an init/fini entry, a data word) may hold an address in [start, end). */
  codeAddressInData?: (start: number, end: number) => boolean;
}

const ARG_REGS = ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'].map((r) => GPR_NAMES.indexOf(r as Gpr));
const ARG_MASK = ARG_REGS.reduce((m, r) => m | (1 << r), 0);
const SYSCALL_MASK = ['rax', 'rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'].reduce((m, r) => m | (1 << GPR_NAMES.indexOf(r as Gpr)), 0);
/** What the caller of a function sees of its registers on return: the return value and the callee-saved ones. */
const RETURN_MASK = (1 << RAX) | (1 << RDX) | [...CALLEE_SAVED].reduce((m, r) => m | (1 << r), 0);
const CALLER_SAVED_MASK = 0xffff & ~[...CALLEE_SAVED, RSP].reduce((m, r) => m | (1 << r), 0);
/** Must-values: an entry register of S (0..15) or the context read from a context global. */
const FROM_CTX_GLOBAL = 100;

const i64 = (b: bigint): number => Number(BigInt.asIntN(64, b));

/** Taint state before one instruction. */
interface State {
  /** rsp relative to its value at the function's entry. */
  off: number;
  /** Registers that may hold the tainted value (bitmask). */
  may: number;
  /** Frame byte ranges [lo, hi) (entry-relative) that may hold it. */
  slots: [number, number][];
  /** Locations that hold for sure a known value: `r<idx>` or `s<off>` (8-byte slot) → value id. */
  must: Map<string, number>;
  /** Reached from S's entry (a reader of the globals otherwise; the two never meet). */
  fromS: boolean;
}

interface PassConfig {
  /** Registers tainted at S's entry (the other entries start clean). */
  entryMay: number;
  /** Globals whose loads are tainted. */
  mayGlobals: Set<number>;
  /** Globals whose 8-byte loads hold a known value for sure. */
  mustGlobals: Map<number, number>;
  /** Pass 2: the indirect calls that may call F, where the context may go in `ctxParam`. */
  checkedCalls?: Set<number>;
  ctxParam: number;
  /** Pass 2: the number field's offset (a write through the context must avoid it). */
  field?: number;
  /** Pass 2: globals the context may be stored in. */
  allowedGlobals?: Set<number>;
}

interface PassResult {
  /** Pass 1: indirect calls whose target may be tainted → the must-value in ctxParam there (undefined: none), and whether reached from S's entry. */
  taintedCalls: Map<number, { must?: number; fromS: boolean }>;
  /** Stores to a global: the must-value of the stored register (undefined: none), whether tainted, whether reached from S's entry. */
  globalStores: { g: number; at: number; must?: number; tainted: boolean; fromS: boolean }[];
}

class Fail extends Error {}

/** F's hand-off to S (proof step 1). */
interface HandOff {
  s: number;
  /** S's function index and the instruction index of its entry. */
  si: number;
  sEntry: number;
  /** The register F's address is passed to S in. */
  fnReg: number;
  calls: number[];
}

/** Pass 1's growing scope: the globals the callback reaches, the functions it runs over, their results. */
interface Pass1Scope {
  mayGlobals: Set<number>;
  mustGlobals: Map<number, number>;
  results: Map<number, PassResult>;
  funcs: Set<number>;
}

/** One pass over one function: its worklist and what it found. */
interface PassRun {
  fn: ProgramFunction;
  cfg: PassConfig;
  ctxId: number | undefined;
  res: PassResult;
  /** Where the function is entered (a state not from this pass's flow). */
  seeds: number[];
  /** State before each instruction (index - fn.first), once reached. */
  states: (State | undefined)[];
  work: number[];
  queued: Set<number>;
  /** The lowest frame address the function takes. */
  floor: number;
  /** Frame ranges the pass relies on (taint or must-values): checked to lie below `floor`. */
  slotsUsed: [number, number][];
}

type RegisterUse = { reads: number; writes: number; dataReads: number; mems: Mem[]; lea: boolean };

/** One memory write of an instruction, with what the instruction reads. */
interface MemWrite {
  u: RegisterUse;
  ins: Instruction;
  m: Mem;
  taintIn: boolean;
}

export class CallbackContext {
  private decoder: Decoder;
  private ins = new Instruction();
  private info = new InstructionInfoFactory();
  private p: Program;

  constructor(
    private a: CodeAnalysis,
    private effect: (addr: number) => Effect,
    private opts: CallbackOptions,
  ) {
    this.p = a.program;
    this.decoder = new Decoder(64, this.p.bytes, DecoderOptions.None);
  }

  free(): void {
    this.ins.free();
    this.info.free();
    this.decoder.free();
  }

  private decode(i: number): Instruction {
    const p = this.p;
    (this.decoder as unknown as { position: number }).position = p.addr[i] - p.base;
    this.decoder.ip = BigInt(p.addr[i]);
    this.decoder.decodeOut(this.ins);
    return this.ins;
  }

  /**
   * Whether F (taking its context in `param`) is only ever called with the context a
   * caller handed S with it, and how: the pairing, or why not.
   */
  pair(f: number, param: Gpr, field: number): CallbackPairing | string {
    try {
      return this.pairOrThrow(f, GPR_NAMES.indexOf(param), field);
    } catch (e) {
      if (e instanceof Fail) return e.message;
      throw e;
    }
  }

  /** The proof of the class comment, step by step; each step throws Fail when it does not hold. */
  private pairOrThrow(f: number, param: number, field: number): CallbackPairing {
    const end = this.checkOnlyHandedOn(f, param);
    const hand = this.handOff(f, end);
    const scope: Pass1Scope = { mayGlobals: new Set(), mustGlobals: new Map(), results: new Map(), funcs: new Set([hand.si]) };
    this.runPass1(hand, param, scope);
    const ctx = this.contextRegister(hand, scope.results);
    // With the context globals known, pass 1 again: a reader's call may then be proven to get the context.
    if (this.findContextGlobals(hand, scope, ctx)) {
      scope.results.clear();
      this.runPass1(hand, param, scope);
    }
    const checkedCalls = checkCallsGetContext(this.p, scope.results, ctx);
    this.runPass2(hand, scope, { ctx, param, field, checkedCalls });
    return { s: hand.s, fnReg: GPR_NAMES[hand.fnReg], ctxReg: GPR_NAMES[ctx], calls: hand.calls };
  }

  /**
   * F's own checks (1, the ELF side): nothing but code materialising its address can get
   * it called — it is not exported, no data holds its address, no direct call or jump from
   * elsewhere reaches it. Returns F's end address.
   */
  private checkOnlyHandedOn(f: number, param: number): number {
    const a = this.a;
    const p = this.p;
    if (!ARG_REGS.includes(param)) fail('its context is not in an argument register');
    if (a.functions.get(f)?.exported) fail('it is exported');
    if (p.refCount === 0 || !this.opts.isPrivateGlobal || !this.opts.codeAddressInData) fail('the object gives no data references to check');
    const fi = p.functionIndexContaining(f);
    if (fi === undefined || p.functions[fi].addr !== f) fail('it is not a decoded function');
    const end = p.functions[fi!].end;
    if (this.opts.codeAddressInData!(f, end)) fail('data holds its address');
    if ((p.callSources.get(f) ?? []).length || (p.jumpSources.get(f) ?? []).some((j) => p.fnOf[j] !== fi)) fail('it is also called directly');
    return end;
  }

  /** 1. Every materialisation of an address in F goes straight to a direct call of one S, in one register. */
  private handOff(f: number, end: number): HandOff {
    const p = this.p;
    const calls: number[] = [];
    let s: number | undefined;
    let fnReg: number | undefined;
    for (let i = 0; i < p.n; i++) {
      const t = p.target[i];
      if (!(t >= f && t < end) || p.kind[i] === K.CALL || p.kind[i] === K.JMP || p.kind[i] === K.JCC) continue;
      const { r, c } = this.callTakingAddress(i, f);
      const target = p.target[c];
      if ((s !== undefined && s !== target) || (fnReg !== undefined && fnReg !== r)) fail('its address is passed to more than one function or register');
      s = target;
      fnReg = r;
      calls.push(c);
    }
    if (s === undefined || fnReg === undefined) fail('no code passes its address');
    const si = p.functionIndexContaining(s!);
    const sEntry = p.indexOf(s!);
    if (si === undefined || sEntry === undefined) fail(`it is passed to 0x${s!.toString(16)}, not decoded code`);
    return { s: s!, si: si!, sEntry: sEntry!, fnReg: fnReg!, calls };
  }

  /**
   * Instruction i names an address in F: it must put F's exact address in a register r that
   * straight-line code, not touching r, then passes as an argument of the direct call c.
   */
  private callTakingAddress(i: number, f: number): { r: number; c: number } {
    const p = this.p;
    const t = p.target[i];
    const at = `0x${p.addr[i].toString(16)}`;
    const ins = this.decode(i);
    const dst = ins.op0Kind === OpKind.Register ? gpr(ins.op0Register) : undefined;
    const materialises = t === f && dst && dst.bits === 64 && (ins.code === Code.Lea_r64_m || ins.code === Code.Mov_r64_imm64) ||
      t === f && dst && dst.bits === 32 && ins.code === Code.Mov_r32_imm32;
    if (!materialises) fail(`its address is taken at ${at} other than to pass it to a call`);
    const r = dst!.idx;
    let c = i + 1;
    for (; c < p.functions[p.fnOf[i]].last; c++) {
      if (p.jumpSources.has(p.addr[c]) || p.isInnerEntry(c)) fail(`its address at ${at} may reach another path`);
      if (p.kind[c] !== K.NEXT) break;
      const u = this.registerUse(c);
      if ((u.reads | u.writes) & (1 << r)) fail(`its address at ${at} is used before the call`);
    }
    if (p.kind[c] !== K.CALL || !ARG_REGS.includes(r)) fail(`its address at ${at} is not an argument of a direct call`);
    return { r, c };
  }

  /**
   * 2. Pass 1 over S and whatever reads the globals S stores F's address in, until no new
   * global takes it (each such global checked private and plainly used).
   */
  private runPass1(hand: HandOff, param: number, scope: Pass1Scope): void {
    const { mayGlobals, mustGlobals, results, funcs } = scope;
    for (let round = 0; ; round++) {
      if (round > 8) fail('the callback spreads through too many globals');
      const before = mayGlobals.size;
      for (const g of funcs) {
        const reads = [...mayGlobals, ...mustGlobals.keys()].flatMap((gl) => this.refsIn(g, gl));
        results.set(g, this.pass(g, { entryMay: 1 << hand.fnReg, mayGlobals, mustGlobals, ctxParam: param }, undefined, g === hand.si ? hand.sEntry : undefined, reads));
        for (const st of results.get(g)!.globalStores) {
          if (st.tainted && !mayGlobals.has(st.g)) {
            this.checkGlobal(st.g);
            mayGlobals.add(st.g);
          }
        }
      }
      for (const gl of mayGlobals) for (const h of this.functionsNaming(gl)) funcs.add(h);
      if (mayGlobals.size === before && [...funcs].every((h) => results.has(h))) break;
    }
  }

  /**
   * The context C: the one entry register of S every tainted call of S passes in P; when S
   * calls F only from a handler, the one entry register S stores in globals.
   */
  private contextRegister(hand: HandOff, results: Map<number, PassResult>): number {
    const s = `0x${hand.s.toString(16)}`;
    const sCalls = [...results.get(hand.si)!.taintedCalls.values()].filter((c) => c.fromS);
    let ctx: number | undefined;
    for (const v of sCalls) {
      if (v.must === undefined || v.must === FROM_CTX_GLOBAL) fail(`${s} may call it with another context`);
      if (ctx !== undefined && ctx !== v.must) fail(`${s} calls it with more than one of its arguments`);
      ctx = v.must;
    }
    if (ctx === undefined) {
      const sStores = results.get(hand.si)!.globalStores.filter((x) => x.fromS);
      const stored = sStores.map((x) => x.must).filter((m): m is number => m !== undefined && m !== FROM_CTX_GLOBAL);
      if (new Set(stored).size !== 1) fail(`${s} does not call it with one of its arguments`);
      ctx = stored[0];
    }
    if (!ARG_REGS.includes(ctx!)) fail('its context is not an argument of S');
    return ctx!;
  }

  /**
   * Context globals: globals S stores to that are private and whose every store in the
   * object is S's unchanged entry register C; their loads then hold C for sure (in
   * scope.mustGlobals). Whether there is any.
   */
  private findContextGlobals(hand: HandOff, scope: Pass1Scope, ctx: number): boolean {
    const sStores = scope.results.get(hand.si)!.globalStores.filter((x) => x.fromS);
    const stores = [...scope.results.values()].flatMap((r) => r.globalStores);
    for (const g of new Set(sStores.map((x) => x.g))) {
      if (scope.mayGlobals.has(g) || !this.opts.isPrivateGlobal!(g)) continue;
      const ok = (i: number) => stores.some((x) => x.at === i) && stores.every((x) => x.at !== i || (x.fromS && x.must === ctx));
      if (this.plainGlobal(g, ok)) scope.mustGlobals.set(g, FROM_CTX_GLOBAL);
    }
    return scope.mustGlobals.size > 0;
  }

  /** 3. Pass 2: the context reaches only the checked calls, its globals and S's frame, and leaves the number field alone. */
  private runPass2(hand: HandOff, scope: Pass1Scope, c: { ctx: number; param: number; field: number; checkedCalls: Set<number> }): void {
    const ctxGlobals = new Set(scope.mustGlobals.keys());
    const ctxFuncs = new Set(scope.funcs);
    for (const g of ctxGlobals) for (const h of this.functionsNaming(g)) ctxFuncs.add(h);
    for (const h of ctxFuncs) {
      this.pass(h, {
        entryMay: 1 << c.ctx, mayGlobals: ctxGlobals, mustGlobals: scope.mustGlobals, checkedCalls: c.checkedCalls, ctxParam: c.param, field: c.field, allowedGlobals: ctxGlobals,
      }, c.ctx, h === hand.si ? hand.sEntry : undefined, [...ctxGlobals].flatMap((gl) => this.refsIn(h, gl)));
    }
  }


  /** Where function index fi can be entered: its start, call targets inside it, addresses code or data takes. */
  private entriesOf(fi: number): number[] {
    const p = this.p;
    const fn = p.functions[fi];
    const out = [fn.first];
    const taken = this.materialised();
    for (let i = fn.first + 1; i < fn.last; i++) if (p.isInnerEntry(i) || this.a.addressTaken.has(p.addr[i]) || taken.has(p.addr[i])) out.push(i);
    return out;
  }

  private returns = new Map<number, boolean>();
  /**
   * Whether a direct callee may return: some path from its entry reaches a `ret`, a jump
   * out or an indirect jump (musl's __stack_chk_fail is `hlt; ret`: noreturn.ts sees the ret).
   */
  private mayReturn(target: number): boolean {
    let r = this.returns.get(target);
    if (r !== undefined) return r;
    r = false;
    const p = this.p;
    const fi = p.functionIndexContaining(target);
    const start = p.indexOf(target);
    if (fi === undefined || start === undefined) r = true;
    else {
      const fn = p.functions[fi];
      const seen = new Set<number>();
      const work = [start];
      while (work.length && !r) {
        const i = work.pop()!;
        if (seen.has(i)) continue;
        seen.add(i);
        if (i < fn.first || i >= fn.last || seen.size > 5000) { r = true; break; }
        const k = p.kind[i];
        if (k === K.STOP) continue;
        if (k === K.RET || k === K.JMP_IND) { r = true; break; }
        if (k === K.JMP || k === K.JCC) {
          const ti = p.indexOf(p.target[i]);
          if (ti === undefined || ti < fn.first || ti >= fn.last) { r = true; break; }
          work.push(ti);
          if (k === K.JMP) continue;
        }
        if (k === K.CALL && this.a.noReturn.has(p.target[i])) continue;
        work.push(i + 1);
      }
    }
    this.returns.set(target, r);
    return r;
  }

  private taken?: Set<number>;
  /** Addresses code materialises (lea, mov $imm): musl's handler inside __synccall's extent is one. */
  private materialised(): Set<number> {
    if (!this.taken) {
      const p = this.p;
      this.taken = new Set();
      for (let i = 0; i < p.n; i++) if (p.kind[i] === K.NEXT && !Number.isNaN(p.target[i])) this.taken.add(p.target[i]);
    }
    return this.taken;
  }

  /** Instruction indices of function index fi that name global g. */
  private refsIn(fi: number, g: number): number[] {
    const p = this.p;
    const out: number[] = [];
    for (let k = 0; k < p.refCount; k++) if (Math.abs(p.refAddr[k] - g) < 8 && p.fnOf[p.refInsn[k]] === fi) out.push(p.refInsn[k]);
    return out;
  }

  /** Function indices whose code names global g. */
  private functionsNaming(g: number): number[] {
    const p = this.p;
    const out = new Set<number>();
    for (let k = 0; k < p.refCount; k++) if (Math.abs(p.refAddr[k] - g) < 8) out.add(p.fnOf[p.refInsn[k]]);
    return [...out];
  }

  /** A global the callback may be stored in: private, named only by plain 8-byte accesses. */
  private checkGlobal(g: number): void {
    if (!this.opts.isPrivateGlobal!(g)) throw new Fail(`it is stored in 0x${g.toString(16)}, not a private variable`);
    if (!this.plainGlobal(g, () => true)) throw new Fail(`code uses 0x${g.toString(16)} other than by plain loads and stores`);
  }

  /**
   * Whether code names g (and the 7 bytes around it) only by 8-byte loads, indirect calls
   * through it, compares, and stores `storeOk` accepts — never by taking its address.
   */
  private plainGlobal(g: number, storeOk: (i: number) => boolean): boolean {
    const p = this.p;
    for (let k = 0; k < p.refCount; k++) {
      if (Math.abs(p.refAddr[k] - g) >= 8) continue;
      if (p.refAddr[k] !== g || p.refOf[k] !== 0) return false;
      const i = p.refInsn[k];
      const ins = this.decode(i);
      if (ins.memoryBase !== Register.RIP || MemorySizeExt.size(ins.memorySize) !== 8) return false;
      if (ins.code === Code.Mov_r64_rm64 || ins.code === Code.Call_rm64 || ins.code === Code.Cmp_r64_rm64 || ins.code === Code.Cmp_rm64_r64) continue;
      if (ins.code === Code.Mov_rm64_r64 || ins.code === Code.Mov_rm64_imm32) {
        if (!storeOk(i)) return false;
        continue;
      }
      return false;
    }
    return true;
  }

  /**
   * Whether the function at `target` (a direct callee) may read any register of `mask`
   * before writing it: read by an instruction, or still unwritten at a call, tail jump,
   * syscall or indirect jump it makes. A callee taking fewer arguments never reads the
   * others: a leftover value in them is not passed (musl's __synccall still has its
   * context in %rsi when it calls __block_app_sigs(&set)).
   */
  private mayRead(target: number, mask: number): boolean {
    const p = this.p;
    const fi = p.functionIndexContaining(target);
    const start = p.indexOf(target);
    if (fi === undefined || start === undefined) return true;
    const fn = p.functions[fi];
    const seen = new Map<number, number>();
    const work: [number, number][] = [[start, mask]];
    let steps = 0;
    while (work.length) {
      if (++steps > 5000) return true;
      const [i, live] = work.pop()!;
      if (i < fn.first || i >= fn.last) return true;
      const old = seen.get(i);
      if (old !== undefined && (old | live) === old) continue;
      seen.set(i, (old ?? 0) | live);
      const k = p.kind[i];
      if (k === K.RET || k === K.STOP) continue;
      if (k === K.CALL || k === K.CALL_IND || k === K.JMP_IND || k === K.SYSCALL || k === K.INT80 || k === K.SYSENTER) return true;
      let next = live;
      if (k === K.NEXT || k === K.OTHER) {
        const e = this.effect(p.addr[i]);
        if (e.op === 'const' && typeof e.dst === 'number') next &= ~(1 << e.dst);
        else {
          const u = this.registerUse(i);
          if (u.reads & live) return true;
          next &= ~u.writes;
        }
      } else if (k === K.JCC || k === K.JMP) {
        const u = this.registerUse(i);
        if (u.reads & live) return true;
      }
      if (next === 0) continue;
      if (k === K.JMP || k === K.JCC) {
        const t = p.target[i];
        const ti = t >= p.addr[fn.first] && t < fn.end ? p.indexOf(t) : undefined;
        if (ti === undefined) return true; // a tail jump passes them on
        work.push([ti, next]);
      }
      if (k !== K.JMP) work.push([i + 1, next]);
    }
    return false;
  }

  private registerUse(i: number): RegisterUse {
    const ins = this.decode(i);
    const info = this.info.info(ins);
    let reads = 0;
    let writes = 0;
    let addrRegs = 0;
    const mems: Mem[] = [];
    try {
      ({ reads, writes } = gprAccess(info));
      for (const m of info.usedMemory()) {
        const acc = m.access as OpAccess;
        const b = gpr(m.base);
        const x = gpr(m.index);
        if (b) addrRegs |= 1 << b.idx;
        if (x) addrRegs |= 1 << x.idx;
        mems.push({
          // iced gives a rip-relative operand as an absolute address (no base): a global either way.
          base: (m.base === Register.RIP || m.base === Register.None) && m.index === Register.None ? 'rip' : b ? b.idx : 'other',
          index: m.index !== Register.None,
          disp: i64(m.displacement),
          size: ins.memorySize ? MemorySizeExt.size(ins.memorySize) : 0,
          segment: m.segment === Register.FS || m.segment === Register.GS,
          read: accessReads(acc),
          write: accessWrites(acc),
          addr: (m.base === Register.RIP || m.base === Register.None) && m.index === Register.None ? i64(m.displacement) : NaN,
        });
        m.free();
      }
    } finally {
      info.free();
    }
    const lea = ins.code === Code.Lea_r64_m || ins.code === Code.Lea_r32_m;
    // Registers read as data: not only to form an address (a load's result is not its pointer), except lea's.
    let opRegs = 0;
    for (let k = 0; k < ins.opCount; k++) {
      if (ins.opKind(k) === OpKind.Register) { const g = gpr(ins.opRegister(k)); if (g) opRegs |= 1 << g.idx; }
    }
    const dataReads = lea ? reads : (reads & ~addrRegs) | (reads & opRegs);
    return { reads, writes, dataReads, mems, lea };
  }

  /**
   * One forward pass over function index `fi`. Throws Fail when the tainted value may
   * leave. `ctxId` (pass 2): the must-value of the context, for writes through it.
   */
  private pass(fi: number, cfg: PassConfig, ctxId?: number, entry?: number, mustReach: number[] = []): PassResult {
    const run = this.startRun(fi, cfg, ctxId, entry);
    let steps = 0;
    while (run.work.length) {
      if (++steps > 200_000) failAt(this.p, run.fn.first, 'too many steps');
      const i = run.work.pop()!;
      run.queued.delete(i);
      this.visit(run, i, cloneState(run.states[i - run.fn.first]!));
    }
    this.checkNoOtherWayIn(run);
    for (const i of mustReach) if (!run.states[i - run.fn.first]) failAt(this.p, i, 'not reached from an entry of its function');
    for (const [lo, hi] of run.slotsUsed) {
      if (hi > run.floor || hi > 0) throw new Fail(`a frame slot that holds it (${lo}) is not below every frame address ${fnName(this.p, fi)} takes`);
    }
    return run.res;
  }

  /**
   * The pass's start: S from its entry (a function start, or a call target inside one:
   * musl's __synccall) with its entry registers as must-values; a reader of the globals
   * from every place it can be entered, clean.
   */
  private startRun(fi: number, cfg: PassConfig, ctxId: number | undefined, entry: number | undefined): PassRun {
    const fn = this.p.functions[fi];
    const seeds = this.entriesOf(fi);
    if (entry !== undefined && !seeds.includes(entry)) seeds.push(entry);
    const sInit: State = { off: 0, may: cfg.entryMay, slots: [], must: new Map(), fromS: true };
    for (const r of ARG_REGS) sInit.must.set(`r${r}`, r);
    const states = new Array<State | undefined>(fn.last - fn.first);
    for (const e of seeds) states[e - fn.first] = e === entry ? cloneState(sInit) : { off: 0, may: 0, slots: [], must: new Map(), fromS: false };
    return {
      fn, cfg, ctxId, seeds, states, res: { taintedCalls: new Map(), globalStores: [] },
      work: [...seeds], queued: new Set(seeds), floor: Infinity, slotsUsed: [],
    };
  }

  /** Merges state `st` into instruction `to`'s (reached from `from`) and queues it when that grew. */
  private flowTo(run: PassRun, from: number, to: number, st: State): void {
    const fn = run.fn;
    if (to < fn.first || to >= fn.last) {
      // Falling off the end (after a call not known not to return): like a tail jump.
      if (to === fn.last && st.may === 0) return;
      failAt(this.p, from, 'leaves the function');
    }
    const k = to - fn.first;
    const old = run.states[k];
    let next: State;
    if (!old) next = cloneState(st);
    else {
      if (old.off !== st.off) failAt(this.p, to, 'the stack pointer differs between paths');
      if (old.fromS !== st.fromS) failAt(this.p, to, 'S and another entry share code');
      const slots = old.slots.slice();
      for (const r of st.slots) if (!slots.some((x) => x[0] === r[0] && x[1] === r[1])) slots.push(r);
      const must = new Map<string, number>();
      for (const [key, v] of old.must) if (st.must.get(key) === v) must.set(key, v);
      next = { off: old.off, may: old.may | st.may, slots, must, fromS: old.fromS };
      if (next.may === old.may && next.slots.length === old.slots.length && next.must.size === old.must.size) return;
    }
    run.states[k] = next;
    if (!run.queued.has(to)) { run.queued.add(to); run.work.push(to); }
  }

  /** One instruction of the pass, by its kind in the program's control flow. */
  private visit(run: PassRun, i: number, st: State): void {
    const k = this.p.kind[i];
    if (k === K.RET) {
      // S handing the context back to its caller gives that caller its own frame address:
      // F runs no more once S has returned (the pairing assumption), so that is no escape.
      if (st.may & RETURN_MASK && !(run.cfg.checkedCalls && st.fromS)) failAt(this.p, i, 'returned to the caller');
      return;
    }
    if (k === K.STOP) return;
    if (k === K.JMP_IND) failAt(this.p, i, 'an indirect jump');
    if (k === K.JMP || k === K.JCC) return this.visitJump(run, i, st);
    if (k === K.SYSCALL || k === K.INT80 || k === K.SYSENTER) {
      if (st.may & SYSCALL_MASK) failAt(this.p, i, 'passed to the kernel');
      for (const r of [RAX, 1, 11]) setReg(st, r, false);
      return this.flowTo(run, i, i + 1, st);
    }
    if (k === K.CALL) {
      if (st.may & ARG_MASK && this.mayRead(this.p.target[i], st.may & ARG_MASK)) failAt(this.p, i, 'passed to a callee');
      afterCall(run.cfg, st, false);
      if (!this.a.noReturn.has(this.p.target[i]) && this.mayReturn(this.p.target[i])) this.flowTo(run, i, i + 1, st);
      return;
    }
    if (k === K.CALL_IND) return this.visitIndirectCall(run, i, st);
    // NEXT / OTHER: one instruction's effect on the state.
    this.step(run, i, st);
    this.flowTo(run, i, i + 1, st);
  }

  /** A direct jump: inside the function it carries the state on; out of it (a tail jump) the taint may not go. */
  private visitJump(run: PassRun, i: number, st: State): void {
    const p = this.p;
    const t = p.target[i];
    const inside = t >= p.addr[run.fn.first] && t < run.fn.end;
    if (!inside) {
      if (st.may) failAt(p, i, 'passed on by a tail jump');
    } else {
      const ti = p.indexOf(t);
      if (ti === undefined) failAt(p, i, 'a jump into an instruction');
      this.flowTo(run, i, ti!, st);
    }
    if (p.kind[i] === K.JCC) this.flowTo(run, i, i + 1, st);
  }

  /**
   * An indirect call. Pass 1 records where the target may be the callback (with the
   * must-value in F's context register); pass 2 lets the context go, in that register,
   * only to the calls pass 1 checked. Neither lets the taint go in another argument.
   */
  private visitIndirectCall(run: PassRun, i: number, st: State): void {
    const cfg = run.cfg;
    const tainted = this.callTargetTainted(i, st, cfg);
    if (cfg.checkedCalls) {
      const checked = cfg.checkedCalls.has(i);
      const allowed = checked ? 1 << cfg.ctxParam : 0;
      if (st.may & ARG_MASK & ~allowed) failAt(this.p, i, 'passed to a callee');
      if (tainted) failAt(this.p, i, 'called');
      afterCall(cfg, st, checked);
    } else {
      if (st.may & ARG_MASK) failAt(this.p, i, 'passed to a callee');
      if (tainted) run.res.taintedCalls.set(i, { must: st.must.get(`r${cfg.ctxParam}`), fromS: st.fromS });
      afterCall(cfg, st, false);
    }
    this.flowTo(run, i, i + 1, st);
  }

  /** Whether an indirect call's target (a register, a frame slot, a global, a memory operand) may be tainted. */
  private callTargetTainted(i: number, st: State, cfg: PassConfig): boolean {
    const ins = this.decode(i);
    if (ins.op0Kind === OpKind.Register) return (st.may & (1 << gpr(ins.op0Register)!.idx)) !== 0;
    if (ins.memoryBase === Register.RSP && ins.memoryIndex === Register.None) {
      const d = st.off + i64(ins.memoryDisplacement);
      return slotTainted(st, d, d + 8);
    }
    if (ins.memoryBase === Register.RIP) return cfg.mayGlobals.has(i64(ins.memoryDisplacement));
    return (ins.memoryBase !== Register.None && (st.may & (1 << (gpr(ins.memoryBase)?.idx ?? RSP))) !== 0) || (ins.memoryIndex !== Register.None && (st.may & (1 << (gpr(ins.memoryIndex)?.idx ?? RSP))) !== 0);
  }

  /**
   * Every instruction of the function is reached, or padding: no way in (a landing pad, a
   * jump table's target, an entry not known) brings a state this pass did not see.
   */
  private checkNoOtherWayIn(run: PassRun): void {
    const p = this.p;
    const fn = run.fn;
    for (let i = fn.first; i < fn.last; i++) {
      if (run.states[i - fn.first]) {
        if (!run.seeds.includes(i) && (p.isInnerEntry(i) || this.a.addressTaken.has(p.addr[i]) || this.materialised().has(p.addr[i]))) failAt(p, i, 'entered from elsewhere');
        for (const j of p.jumpSources.get(p.addr[i]) ?? []) if (j < fn.first || j >= fn.last) failAt(p, i, 'entered from another function');
        continue;
      }
      if (p.kind[i] !== K.STOP && this.decode(i).mnemonic !== Mnemonic.Nop) failAt(p, i, 'code not reached from an entry');
    }
  }

  /** A straight-line instruction's effect on the state: the effects the model follows, else from its operands. */
  private step(run: PassRun, i: number, st: State): void {
    if (!this.followedEffect(run, i, st)) this.operandStep(run, i, st);
  }

  /**
   * The instruction's effect as effects.ts models it, when that is one followed here
   * exactly (register and frame-slot moves, push/pop, rsp arithmetic). False: not handled.
   */
  private followedEffect(run: PassRun, i: number, st: State): boolean {
    const e = this.effect(this.p.addr[i]);
    switch (e.op) {
      case 'const':
        if (typeof e.dst === 'number') { setReg(st, e.dst, false); return true; }
        if (isRspSlot(e.dst)) { const d = st.off + e.dst.disp; killMust(st, d, d + 8); return true; }
        return false;
      case 'copy':
        return this.copyStep(run, i, st, e.dst, e.src);
      case 'xform':
        if (typeof e.src === 'number') { setReg(st, e.dst, isTainted(st, e.src)); return true; }
        if (isRspSlot(e.src)) { const d = st.off + e.src.disp; setReg(st, e.dst, slotTainted(st, d, d + 8)); return true; }
        return false;
      case 'xchg': {
        const ta = isTainted(st, e.a);
        const tb = isTainted(st, e.b);
        const ma = mustOf(st, e.a);
        const mb = mustOf(st, e.b);
        setReg(st, e.a, tb, mb);
        setReg(st, e.b, ta, ma);
        return true;
      }
      case 'cmov':
        setReg(st, e.dst, isTainted(st, e.dst) || isTainted(st, e.src));
        return true;
      case 'push':
        pushStep(run, st, e.src);
        return true;
      case 'pop':
        popStep(run, st, e.dst);
        return true;
      case 'rspAdd':
        st.off += e.delta;
        return true;
      case 'rbpFromRsp':
      case 'leave':
        failAt(this.p, i, 'a frame pointer (not followed)');
    }
    return false;
  }

  /**
   * A move between registers and frame slots: taint follows; a must-value only through a
   * full 64-bit mov (a narrower one is not the same value). False: not such a move.
   */
  private copyStep(run: PassRun, i: number, st: State, dst: Dst, src: Dst): boolean {
    const is64Move = () => {
      const c = this.decode(i).code;
      return c === Code.Mov_r64_rm64 || c === Code.Mov_rm64_r64;
    };
    if (typeof dst === 'number' && typeof src === 'number') {
      if (src === RSP) noteFrameAddress(run, st.off);
      setReg(st, dst, isTainted(st, src), is64Move() ? mustOf(st, src) : undefined);
      return true;
    }
    if (typeof dst === 'number' && isRspSlot(src)) {
      const d = st.off + src.disp;
      const m = is64Move() ? st.must.get(`s${d}`) : undefined;
      if (m !== undefined) run.slotsUsed.push([d, d + 8]);
      setReg(st, dst, slotTainted(st, d, d + 8), m);
      return true;
    }
    if (isRspSlot(dst) && typeof src === 'number') {
      const d = st.off + dst.disp;
      killMust(st, d, d + 8);
      if (isTainted(st, src)) taintSlot(run, st, d, d + 8);
      const m = is64Move() ? mustOf(st, src) : undefined;
      if (m !== undefined) { st.must.set(`s${d}`, m); run.slotsUsed.push([d, d + 8]); }
      return true;
    }
    return false;
  }

  /**
   * Any other instruction, from its operands: what it reads (registers as data, frame
   * slots, globals) taints everything it writes; each memory write is checked.
   */
  private operandStep(run: PassRun, i: number, st: State): void {
    const u = this.registerUse(i);
    if (u.writes & (1 << RSP)) failAt(this.p, i, 'the stack pointer moves in a way not followed');
    const ins = this.decode(i);
    if (u.lea && ins.memoryBase === Register.RSP && ins.memoryIndex === Register.None) noteFrameAddress(run, st.off + i64(ins.memoryDisplacement));
    else if (u.dataReads & (1 << RSP)) noteFrameAddress(run, st.off);
    const { taintIn, loadMust } = memoryReads(run.cfg, st, u, ins);
    for (const m of u.mems) if (m.write) this.memoryWrite(run, i, st, { u, ins, m, taintIn });
    // A load of a context global holds its must-value (pass 2 also taints it through mayGlobals).
    for (let r = 0; r < 16; r++) {
      if (!(u.writes & (1 << r))) continue;
      setReg(st, r, taintIn, ins.code === Code.Mov_r64_rm64 && r === gpr(ins.op0Register)?.idx ? loadMust : undefined);
    }
  }

  /** One memory write of instruction i: to the frame, to a global, or through a pointer. */
  private memoryWrite(run: PassRun, i: number, st: State, w: MemWrite): void {
    const { ins, m, taintIn } = w;
    if (m.base === RSP && !m.index) {
      const lo = st.off + m.disp;
      const hi = lo + (m.size > 0 && !isString(ins) ? m.size : 4096);
      killMust(st, lo, hi);
      if (taintIn) taintSlot(run, st, lo, hi);
      return;
    }
    if (m.base === RSP) {
      if (taintIn) failAt(this.p, i, 'stored into the frame at an unknown place');
      killMust(st, -Infinity, Infinity);
      return;
    }
    if (m.base === 'rip') return globalWrite(this.p, run, i, st, w);
    if (m.segment && taintIn) failAt(this.p, i, 'stored in thread-local storage');
    if (taintIn) failAt(this.p, i, 'stored through a pointer');
    checkWriteThroughContext(this.p, run, i, st, w);
  }
}

interface Mem {
  base: number | 'rip' | 'other';
  index: boolean;
  disp: number;
  size: number;
  segment: boolean;
  read: boolean;
  write: boolean;
  addr: number;
}

function cloneState(s: State): State {
  return { off: s.off, may: s.may, slots: s.slots.slice(), must: new Map(s.must), fromS: s.fromS };
}

function isString(ins: Instruction): boolean {
  return ins.hasRepPrefix || ins.hasRepePrefix || ins.hasRepnePrefix || ins.isStringInstruction;
}

function fnName(p: Program, fi: number): string {
  const f = p.functions[fi];
  return f.name ?? `0x${f.addr.toString(16)}`;
}

function fail(why: string): never {
  throw new Fail(why);
}

function failAt(p: Program, i: number, why: string): never {
  throw new Fail(`${why} at 0x${p.addr[i].toString(16)}`);
}

/** Pass 1 and 2 require the same of every tainted indirect call: S's calls get C, a reader's the context global's value. */
function checkCallsGetContext(p: Program, results: Map<number, PassResult>, ctx: number): Set<number> {
  const checkedCalls = new Set<number>();
  for (const r of results.values()) {
    for (const [c, v] of r.taintedCalls) {
      if (v.fromS ? v.must !== ctx : v.must !== FROM_CTX_GLOBAL) fail(`0x${p.addr[c].toString(16)} may call it with another context`);
      checkedCalls.add(c);
    }
  }
  return checkedCalls;
}

const isTainted = (st: State, r: number): boolean => (st.may & (1 << r)) !== 0;
const mustOf = (st: State, r: number): number | undefined => st.must.get(`r${r}`);
const isRspSlot = (d: Dst): d is Slot => typeof d === 'object' && d.base === RSP;
const slotTainted = (st: State, lo: number, hi: number): boolean => st.slots.some(([a, b]) => a < hi && lo < b);

/** The frame bytes [lo, hi) may hold the taint (and must lie below the function's frame floor). */
function taintSlot(run: PassRun, st: State, lo: number, hi: number): void {
  run.slotsUsed.push([lo, hi]);
  if (!st.slots.some(([a, b]) => a === lo && b === hi)) st.slots.push([lo, hi]);
}

/** The function takes a frame address `x`: slots the pass relies on must lie below the lowest. */
function noteFrameAddress(run: PassRun, x: number): void {
  run.floor = Math.min(run.floor, x);
}

/** Frame bytes [lo, hi) are overwritten: an 8-byte must-slot overlapping them no longer holds its value. */
function killMust(st: State, lo: number, hi: number): void {
  for (const key of [...st.must.keys()]) {
    if (key[0] !== 's') continue;
    const d = Number(key.slice(1));
    if (d < hi && lo < d + 8) st.must.delete(key);
  }
}

function setReg(st: State, r: number, tainted: boolean, must?: number): void {
  st.may = tainted ? st.may | (1 << r) : st.may & ~(1 << r);
  if (must === undefined) st.must.delete(`r${r}`);
  else st.must.set(`r${r}`, must);
}

function afterCall(cfg: PassConfig, st: State, checked: boolean): void {
  // SysV: caller-saved registers are clobbered; only rax/rdx carry a result (F's, at a checked call, may be its context).
  st.may &= ~CALLER_SAVED_MASK;
  if (checked && cfg.checkedCalls) st.may |= (1 << RAX) | (1 << RDX);
  for (let r = 0; r < 16; r++) if (CALLER_SAVED_MASK & (1 << r)) st.must.delete(`r${r}`);
  // The callee's frame lies below rsp.
  killMust(st, -Infinity, st.off);
}

/** push: the new slot takes the register's taint and must-value (an immediate: neither). */
function pushStep(run: PassRun, st: State, src: number | { value: number }): void {
  const d = st.off - 8;
  killMust(st, d, d + 8);
  if (typeof src === 'number') {
    if (src === RSP) noteFrameAddress(run, st.off);
    if (isTainted(st, src)) taintSlot(run, st, d, d + 8);
    const m = mustOf(st, src);
    if (m !== undefined) { st.must.set(`s${d}`, m); run.slotsUsed.push([d, d + 8]); }
  }
  st.off = d;
}

/** pop: the register takes the top slot's taint and must-value. */
function popStep(run: PassRun, st: State, dst: number): void {
  const d = st.off;
  const m = st.must.get(`s${d}`);
  if (m !== undefined) run.slotsUsed.push([d, d + 8]);
  setReg(st, dst, slotTainted(st, d, d + 8), m);
  st.off += 8;
}

/**
 * What an instruction's operands bring in: whether any read (a register as data, a frame
 * slot, a tainted global) may be tainted, and the must-value of a plain 8-byte load of a
 * context global.
 */
function memoryReads(cfg: PassConfig, st: State, u: RegisterUse, ins: Instruction): { taintIn: boolean; loadMust?: number } {
  let taintIn = (st.may & u.dataReads) !== 0;
  let loadMust: number | undefined;
  for (const m of u.mems) {
    if (!m.read) continue;
    if (m.base === RSP && !m.index) taintIn ||= slotTainted(st, st.off + m.disp, st.off + m.disp + Math.max(m.size, 1));
    else if (m.base === RSP) taintIn ||= st.slots.length > 0;
    if (m.base === 'rip' && cfg.mayGlobals.has(m.addr)) taintIn = true;
    // What S's own code reads back from a context global may be an earlier call's: only readers get the pairing.
    if (m.base === 'rip' && ins.code === Code.Mov_r64_rm64 && !st.fromS) loadMust = cfg.mustGlobals.get(m.addr);
  }
  return { taintIn, loadMust };
}

/**
 * A write to a global: plain 8-byte stores are recorded (with the stored register's
 * must-value) for the global checks; the taint may go only into plain stores to allowed
 * globals.
 */
function globalWrite(p: Program, run: PassRun, i: number, st: State, w: MemWrite): void {
  const { ins, m, taintIn } = w;
  const src = ins.code === Code.Mov_rm64_r64 ? gpr(ins.op1Register)!.idx : undefined;
  if (ins.code === Code.Mov_rm64_r64 || ins.code === Code.Mov_rm64_imm32) {
    run.res.globalStores.push({ g: m.addr, at: i, must: src === undefined ? undefined : mustOf(st, src), tainted: taintIn, fromS: st.fromS });
    if (taintIn && run.cfg.allowedGlobals && !run.cfg.allowedGlobals.has(m.addr)) failAt(p, i, `stored in 0x${m.addr.toString(16)}`);
    return;
  }
  if (taintIn) failAt(p, i, 'stored in a global');
}

/** A write through the context pointer: only at a known offset of the unchanged pointer, away from the number. */
function checkWriteThroughContext(p: Program, run: PassRun, i: number, st: State, w: MemWrite): void {
  const { u, ins, m } = w;
  const cfg = run.cfg;
  const baseTainted = typeof m.base === 'number' && isTainted(st, m.base);
  const indexTainted = m.index && (st.may & u.reads & ~u.dataReads) !== 0;
  if (!(baseTainted || indexTainted)) return;
  if (cfg.field === undefined) failAt(p, i, 'written through');
  const exact = typeof m.base === 'number' && run.ctxId !== undefined && mustOf(st, m.base) === run.ctxId && !m.index && m.size > 0 && !isString(ins);
  if (!exact) failAt(p, i, 'written through at an unknown offset');
  if (m.disp < cfg.field! + 4 && cfg.field! < m.disp + m.size) failAt(p, i, 'its number field is written');
}
