import { Code, Decoder, DecoderOptions, Instruction, InstructionInfoFactory, MemorySizeExt, OpAccess, OpKind, Register } from 'iced-x86';
import type { BackwardFlow, Recovered } from './dataflow';
import { callSitesOf } from './param-syscalls';
import { K } from './program';
import { GPR_NAMES, gpr, RBP, RSP } from './registers';
import type { CodeAnalysis, Gpr, Unresolved } from './types';

/**
 * Library idioms that put a syscall number where the register walk of dataflow.ts
 * cannot follow it, resolved by rules narrow enough to check from the code alone.
 *
 * "Number in the caller's structure" (glibc's setxid broadcast): a function F takes
 * the address of a structure in its caller's frame and makes the syscall whose number
 * it loads from a field of it — directly (`mov (%rbx),%eax; syscall`, rbx = F's %rdi),
 * or in a signal handler through a private global F stored the address in
 * (`mov G(%rip),%rax; mov (%rax),%eax; syscall`). glibc's setuid/setgid/setgroups/…
 * store `__NR_…` in the structure (`movl $0x69,(%rsp); mov %rsp,%rdi; call F`).
 * The numbers are those each caller stores, attributed to that caller (a caller whose
 * store is not recovered leaves the site unknown for that caller only).
 *
 * Checked: F is neither exported nor address-taken (its only callers are direct calls
 * in this object); each caller passes a frame address set in straight-line code before
 * the call and stores the field with a constant the walk recovers; F itself writes no
 * memory that may overlap the field through a pointer that may be the structure; the
 * global is private (not exported, no relocation stores its address, zero at load),
 * named only by plain loads and by stores of F's parameter, never by taking its address.
 * Assumed (x86/README.md, soundness): functions F calls, and the code that loads the
 * global, do not write the number field — the structure is the caller's request, read
 * by F and the handler.
 */

export interface IdiomUse {
  caller: number;
  callerName?: string;
  callSite: number;
  numbers: number[];
}

export interface IdiomResolution {
  idiom: 'number in caller structure';
  /** Numbers a site makes, by the caller whose call supplies them. */
  uses: IdiomUse[];
  /** Where the number stays unknown: `fn` is the function whose reach makes it so. */
  unresolved: (Unresolved & { fn: number })[];
}

interface FieldLoad {
  dst: number;
  /** The pointer register (base of the memory operand), or undefined for an absolute/rip-relative address. */
  base?: number;
  /** Field offset from the pointer, or the absolute address. */
  disp: number;
}

export interface IdiomOptions {
  /**
   * Whether a data address is a private variable: not exported, no relocation stores
   * its address, zero before the program runs. Answered by the ELF side; without it
   * the handler form is not resolved.
   */
  isPrivateGlobal?: (addr: number) => boolean;
}

const i64 = (b: bigint): number => Number(BigInt.asIntN(64, b));
const FIELD_BYTES = 4; // the number is the field's low 32 bits
const ARG_REGS = new Set<Gpr>(['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9']);

type StructResult = { uses: IdiomUse[]; unresolved: (Unresolved & { fn: number })[] };

export class SyscallIdioms {
  private decoder: Decoder;
  private ins = new Instruction();
  private info = new InstructionInfoFactory();
  private structMemo = new Map<string, StructResult>();

  constructor(
    private a: CodeAnalysis,
    private flow: BackwardFlow,
    private opts: IdiomOptions = {},
  ) {
    this.decoder = new Decoder(64, a.program.bytes, DecoderOptions.None);
  }

  free(): void {
    this.ins.free();
    this.info.free();
    this.decoder.free();
  }

  private decode(i: number): Instruction {
    const p = this.a.program;
    (this.decoder as unknown as { position: number }).position = p.addr[i] - p.base;
    this.decoder.ip = BigInt(p.addr[i]);
    this.decoder.decodeOut(this.ins);
    return this.ins;
  }

  /** `mov disp(%base),%r32|%r64` (or from an absolute / rip-relative address), no index, no segment. */
  private fieldLoad(i: number): FieldLoad | undefined {
    const ins = this.decode(i);
    if (ins.code !== Code.Mov_r32_rm32 && ins.code !== Code.Mov_r64_rm64 && ins.code !== Code.Movsxd_r64_rm32) return undefined;
    if (ins.op1Kind !== OpKind.Memory || ins.memoryIndex !== Register.None) return undefined;
    if (ins.segmentPrefix !== Register.None) return undefined;
    const dst = gpr(ins.op0Register)!.idx;
    const b = ins.memoryBase;
    if (b === Register.RIP || b === Register.None) return { dst, disp: i64(ins.memoryDisplacement) };
    const g = gpr(b);
    if (!g || g.bits !== 64 || g.idx === RSP || g.idx === RBP) return undefined;
    return { dst, base: g.idx, disp: i64(ins.memoryDisplacement) };
  }

  /**
   * The numbers behind one unresolved path of a syscall site, when that path ends at
   * a load of the number this idiom explains; undefined otherwise (the path stays as it was).
   */
  resolve(u: Unresolved): IdiomResolution | undefined {
    const p = this.a.program;
    const q = p.indexOf(u.at);
    if (q === undefined) return undefined;
    const load = this.fieldLoad(q);
    if (!load || load.base === undefined) return undefined;
    // The walk stopped because the tracked register is this load's destination.
    if (!u.reason.startsWith(`${GPR_NAMES[load.dst]} written by mov`)) return undefined;
    const ptr = this.flow.valuesBefore(q, { r: load.base });
    const fi = p.fnOf[q];
    const param = onlyParam(ptr);
    if (param && param.fn === p.functions[fi].addr) {
      return { idiom: 'number in caller structure', ...this.structParam(param.fn, param.loc, load.disp) };
    }
    const g = this.onlyGlobal(ptr);
    if (g !== undefined) {
      const r = this.globalStruct(g, load.disp);
      if (r) return { idiom: 'number in caller structure', ...r };
    }
    return undefined;
  }

  /** The one private global a pointer was loaded from, on every path. */
  private onlyGlobal(r: Recovered): number | undefined {
    if (r.numbers.size || r.params.size || !r.unresolved.size) return undefined;
    let g: number | undefined;
    for (const u of r.unresolved.values()) {
      const i = this.a.program.indexOf(u.at);
      if (i === undefined) return undefined;
      const l = this.fieldLoad(i);
      if (!l || l.base !== undefined || this.ins.code !== Code.Mov_r64_rm64) return undefined;
      if (g !== undefined && g !== l.disp) return undefined;
      g = l.disp;
    }
    return g;
  }

  /**
   * A handler reading the structure through global `g`: the numbers of every function
   * that stores its structure parameter there, or undefined when anything else touches `g`.
   */
  private globalStruct(g: number, field: number): StructResult | undefined {
    const p = this.a.program;
    if (!this.opts.isPrivateGlobal?.(g) || p.refCount === 0) return undefined;
    const out: StructResult = { uses: [], unresolved: [] };
    for (let k = 0; k < p.refCount; k++) {
      if (p.refAddr[k] !== g) continue;
      const i = p.refInsn[k];
      if (p.refOf[k] !== 0) return undefined; // its address is taken
      const ins = this.decode(i);
      if (ins.code === Code.Mov_r64_rm64 && ins.op1Kind === OpKind.Memory) continue; // a plain load
      if (ins.code !== Code.Mov_rm64_r64 || ins.op0Kind !== OpKind.Memory || ins.memoryIndex !== Register.None) return undefined;
      const src = gpr(ins.op1Register)!.idx;
      const param = onlyParam(this.flow.valuesBefore(i, { r: src }));
      if (!param || param.fn !== p.functions[p.fnOf[i]].addr) return undefined;
      const r = this.structParam(param.fn, param.loc, field);
      out.uses.push(...r.uses);
      out.unresolved.push(...r.unresolved);
    }
    return out;
  }

  /** Numbers the callers of `fn` store at `field` of the structure whose address they pass in `loc`. */
  private structParam(fn: number, loc: Gpr, field: number): StructResult {
    const key = `${fn}:${loc}:${field}`;
    let r = this.structMemo.get(key);
    if (!r) this.structMemo.set(key, (r = this.computeStructParam(fn, loc, field)));
    return r;
  }

  private computeStructParam(fn: number, loc: Gpr, field: number): StructResult {
    const a = this.a;
    const p = a.program;
    const info = a.functions.get(fn);
    const name = info?.name ?? `0x${fn.toString(16)}`;
    const whole = (reason: string): StructResult => ({ uses: [], unresolved: [{ fn, at: fn, reason: `number loaded from the structure at %${loc} of ${name}, ${reason}` }] });
    if (!ARG_REGS.has(loc)) return whole('which is not an argument register');
    if (info?.exported) return whole('which is exported (any caller may pass any structure)');
    if (a.addressTaken.has(fn)) return whole('which is address-taken (any caller may pass any structure)');
    const fi = p.functionIndexContaining(fn);
    if (fi === undefined) return whole('which is not decoded');
    const clash = this.writesField(fi, fn, loc, field);
    if (clash !== undefined) return whole(`which may write the field itself at 0x${clash.toString(16)}`);
    const out: StructResult = { uses: [], unresolved: [] };
    const sites = callSitesOf(p, fn);
    if (!sites.length) return whole('which has no direct caller');
    for (const c of sites) {
      const caller = p.functions[p.fnOf[c]];
      const fail = (reason: string): void => {
        out.unresolved.push({ fn: caller.addr, at: p.addr[c], reason: `number loaded from the structure ${caller.name ?? `0x${caller.addr.toString(16)}`} passes to ${name}: ${reason}` });
      };
      if (p.kind[c] !== K.CALL) { fail('passed on by a tail jump'); continue; }
      const slot = this.frameAddressAt(c, GPR_NAMES.indexOf(loc));
      if (typeof slot === 'string') { fail(slot); continue; }
      const v = this.flow.valuesBefore(c, { s: RSP, d: slot + field });
      if (v.numbers.size) out.uses.push({ caller: caller.addr, callerName: caller.name, callSite: p.addr[c], numbers: [...v.numbers].sort((x, y) => x - y) });
      for (const u of v.unresolved.values()) fail(u.reason);
      for (const pr of v.params.values()) fail(`the field holds ${typeof pr.loc === 'string' ? `%${pr.loc}` : `stack+${pr.loc.stack}`} at entry of 0x${pr.fn.toString(16)}`);
      if (!v.numbers.size && !v.unresolved.size && !v.params.size) fail('no store of the field found');
    }
    return out;
  }

  /**
   * Offset from %rsp at call instruction `c` of the frame address register `reg` holds
   * there, or why it is not one: set by `mov %rsp,%reg` / `lea d(%rsp),%reg` with only
   * straight-line code that leaves %rsp alone between it and the call.
   */
  private frameAddressAt(c: number, reg: number): number | string {
    const p = this.a.program;
    const v = this.flow.valuesBefore(c, { r: reg });
    if (v.numbers.size || v.params.size || v.unresolved.size !== 1) return 'the structure address is not one frame address';
    const at = [...v.unresolved.values()][0].at;
    const s = p.indexOf(at);
    if (s === undefined || s >= c || p.fnOf[s] !== p.fnOf[c]) return 'the structure address is not set before the call';
    const ins = this.decode(s);
    let off: number;
    if ((ins.code === Code.Mov_r64_rm64 || ins.code === Code.Mov_rm64_r64) && ins.op1Kind === OpKind.Register && ins.op1Register === Register.RSP && ins.op0Kind === OpKind.Register) {
      off = 0;
    } else if (ins.code === Code.Lea_r64_m && ins.memoryBase === Register.RSP && ins.memoryIndex === Register.None) {
      off = i64(ins.memoryDisplacement);
    } else return 'the structure address is not a frame address';
    if (gpr(ins.op0Register)?.idx !== reg) return 'the structure address is not a frame address';
    const jumps = p.jumpSources;
    for (let k = s + 1; k < c; k++) {
      if (p.kind[k] !== K.NEXT || jumps.has(p.addr[k])) return 'the structure address is set on another path than the call';
      const e = this.flow.effects.effect(p.addr[k]);
      if (e.op === 'push' || e.op === 'pop' || e.op === 'rspAdd' || e.op === 'leave' || (e.op === 'other' && e.writes & (1 << RSP))) {
        return 'the stack pointer moves between the structure address and the call';
      }
    }
    if (jumps.has(p.addr[c])) return 'the structure address is set on another path than the call';
    return off;
  }

  /**
   * The address of an instruction of function index `fi` that writes memory which may
   * overlap [field, field+4) of the structure whose address was `loc` at entry, if any.
   * Own-frame (rsp/rbp) and global (rip-relative, absolute) writes cannot be the
   * caller's structure, nor is thread-local storage (%fs/%gs); any other write through a register that may hold the
   * parameter, with an overlapping or unknown range, is a clash.
   */
  private writesField(fi: number, fn: number, loc: Gpr, field: number): number | undefined {
    const p = this.a.program;
    const f = p.functions[fi];
    for (let i = f.first; i < f.last; i++) {
      const k = p.kind[i];
      if (k !== K.NEXT && k !== K.OTHER) continue;
      const ins = this.decode(i);
      // Thread-local storage (%fs/%gs: errno) is not a caller's frame.
      if (ins.segmentPrefix === Register.FS || ins.segmentPrefix === Register.GS) continue;
      const info = this.info.info(ins);
      let clash = false;
      try {
        for (const m of info.usedMemory()) {
          const acc = m.access as OpAccess;
          const writes = acc === OpAccess.Write || acc === OpAccess.CondWrite || acc === OpAccess.ReadWrite || acc === OpAccess.ReadCondWrite;
          const base = m.base;
          const index = m.index;
          const disp = i64(m.displacement);
          m.free();
          if (!writes || clash) continue;
          if (index === Register.None && (base === Register.RSP || base === Register.RBP || base === Register.RIP || base === Register.None)) continue;
          const size = ins.memorySize ? MemorySizeExt.size(ins.memorySize) : 0;
          const overlaps = index !== Register.None || size <= 0 || (disp < field + FIELD_BYTES && field < disp + size);
          if (!overlaps) continue;
          const g = gpr(base);
          if (!g) { clash = true; continue; }
          const v = this.flow.valuesBefore(i, { r: g.idx });
          if (v.unresolved.size || [...v.params.values()].some((x) => x.fn === fn && x.loc === loc) || v.params.size) clash = true;
        }
      } finally {
        info.free();
      }
      if (clash) return p.addr[i];
    }
    return undefined;
  }
}

/** The single register parameter (no pending operations) every path of a walk ended at. */
function onlyParam(r: Recovered): { fn: number; loc: Gpr } | undefined {
  if (r.numbers.size || r.unresolved.size || r.params.size !== 1) return undefined;
  const e = [...r.params.values()][0];
  if (typeof e.loc !== 'string' || e.xf?.length) return undefined;
  return { fn: e.fn, loc: e.loc };
}
