import { Code, Decoder, DecoderOptions, Instruction, InstructionInfoFactory, MemorySizeExt, OpAccess, OpKind, Register } from 'iced-x86';
import { accessWrites } from './effects';
import { applyEffect, BackwardFlow, Loc, Recovered } from './dataflow';
import { CallbackContext } from './callback-context';
import { callSitesOf, EntryResult, resolveEntry } from './param-syscalls';
import { K } from './program';
import { GPR_NAMES, gpr, RBP, RSP } from './registers';
import type { Gpr, Unresolved } from './types';
import type { CodeAnalysis } from './code-analysis';

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
 * Assumed (analysis/x86/README.md, soundness): functions F calls, and the code that loads the
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
  idiom: 'number in caller structure' | 'function table';
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
  /**
   * The private tables of function pointers that hold `fn`'s address, as [start, end)
   * ranges of relocated pointer slots no symbol covers; undefined when its address is
   * stored anywhere else too (init arrays, exported data, absolute words without
   * relocations) or the ELF side cannot tell. Without it the table form is not resolved.
   */
  pointerTables?: (fn: number) => [number, number][] | undefined;
  /**
   * Whether data may hold an address in [start, end): a relocation, an init/fini entry, a
   * data word. Answered by the ELF side; without it the callback form (callback-context.ts)
   * is not resolved.
   */
  codeAddressInData?: (start: number, end: number) => boolean;
}

/** How far before a table a materialised address still counts as the table's (a structure holding it). */
const TABLE_SLACK = 512;

/** What a pointer held in a register may be, for the function-table idiom. */
interface Provenance {
  /** The address of (or into) a table holding the function. */
  tableAddress: boolean;
  /** A value read from such a table: possibly the function itself. */
  tableContent: boolean;
  /** Where the value comes from is not known (it may be either). */
  unknown: boolean;
  /** Computed by arithmetic other than a base plus a constant (a jump table's target). */
  computed: boolean;
}


const i64 = (b: bigint): number => Number(BigInt.asIntN(64, b));
const FIELD_BYTES = 4; // the number is the field's low 32 bits
/** Call levels climbed from the caller storing the number's parameter (as object-summary's maxDepth). */
const CLIMB_DEPTH = 4;
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

  /**
   * The numbers an address-taken function `fn` gets in `loc` (libcap's _cap_syscall3 /
   * _cap_syscall6 pass %rdi to syscall()), when its address sits only in private tables
   * of function pointers and the object's indirect calls that may read those tables
   * pass constants: attributed to the function making the call. Undefined when the
   * idiom does not apply (the parameter stays open, "address-taken").
   *
   * Checked: fn is not exported and no code materialises its address; the tables are
   * private (ELF side, pointerTables); code names a table only to call through a cell
   * (`call *cell(%rip)`), to store into a cell, or to materialise its address (lea);
   * every indirect call or jump whose target may be read from a table — its pointer's
   * provenance, walked back through loads and into callers, includes a table address,
   * or is unknown — passes a number that is recovered. A value from outside the object
   * (a parameter of an exported function) is not a table address: the tables are private.
   * Assumed (analysis/x86/README.md): a pointer read out of a table is called, not copied
   * elsewhere, and another object handed a table's address (libcap's
   * psx_load_syscalls(&three, &six)) writes through it and does not call through it.
   */
  resolveTableCalls(fn: number, loc: Gpr): IdiomResolution | undefined {
    const a = this.a;
    const p = a.program;
    if (!ARG_REGS.has(loc) || a.functions.get(fn)?.exported || p.refCount === 0) return undefined;
    for (const f of a.functions.values()) if (f.addressTaken.includes(fn)) return undefined;
    const tables = this.opts.pointerTables?.(fn);
    if (!tables?.length) return undefined;
    const inTable = (x: number, slack = 0) => tables.some(([lo, hi]) => x >= lo - slack && x < hi);
    // Code names a table only to call through a cell, store into a cell, or take its address.
    for (let k = 0; k < p.refCount; k++) {
      const x = p.refAddr[k];
      if (!inTable(x)) continue;
      if (p.refOf[k] === 1) continue;
      const i = p.refInsn[k];
      if (p.kind[i] === K.CALL_IND || p.kind[i] === K.JMP_IND) continue;
      const ins = this.decode(i);
      if (ins.code === Code.Mov_rm64_r64 && ins.op0Kind === OpKind.Memory) continue;
      return undefined;
    }
    const out: IdiomResolution = { idiom: 'function table', uses: [], unresolved: [] };
    const name = a.functions.get(fn)?.name ?? `0x${fn.toString(16)}`;
    const reg = GPR_NAMES.indexOf(loc);
    for (let i = 0; i < p.n; i++) {
      const k = p.kind[i];
      if (k !== K.CALL_IND && k !== K.JMP_IND) continue;
      if (!this.mayReadTable(i, inTable)) continue;
      const caller = p.functions[p.fnOf[i]];
      const fail = (reason: string): void => {
        out.unresolved.push({ fn: caller.addr, at: p.addr[i], reason: `number %${loc} passed to ${name} through a function table at 0x${p.addr[i].toString(16)}: ${reason}` });
      };
      if (k === K.JMP_IND) {
        // A tail jump through the table passes the caller's own argument on.
        fail('passed on by an indirect tail jump');
        continue;
      }
      const v = this.flow.valuesBefore(i, { r: reg });
      if (v.numbers.size) out.uses.push({ caller: caller.addr, callerName: caller.name, callSite: p.addr[i], numbers: [...v.numbers].sort((x, y) => x - y) });
      for (const u of v.unresolved.values()) fail(u.reason);
      for (const pr of v.params.values()) fail(`a parameter (${typeof pr.loc === 'string' ? `%${pr.loc}` : `stack+${pr.loc.stack}`} of 0x${pr.fn.toString(16)})`);
    }
    return out;
  }

  /** Whether indirect call/jump `i` may take its target from a table. */
  private mayReadTable(i: number, inTable: (x: number, slack?: number) => boolean): boolean {
    const ins = this.decode(i);
    if (ins.op0Kind === OpKind.Memory) {
      const b = ins.memoryBase;
      // [index*8+table]: a jump table (within the function) unless the table is ours.
      if (ins.memoryIndex !== Register.None && b === Register.None) return inTable(i64(ins.memoryDisplacement), TABLE_SLACK);
      if (b === Register.RIP || b === Register.None) return inTable(i64(ins.memoryDisplacement), TABLE_SLACK);
      const g = gpr(b);
      if (!g) return true;
      const pv = this.provenance(i, g.idx, 3, inTable, new Set());
      return pv.tableAddress || pv.tableContent || pv.unknown;
    }
    const g = gpr(ins.op0Register);
    if (!g) return true;
    const pv = this.provenance(i, g.idx, 3, inTable, new Set());
    if (pv.tableContent) return true;
    // An indirect jump to an address computed by arithmetic is a jump table, which jumps
    // within its own function (README, soundness assumptions); an indirect call is not.
    if (this.a.program.kind[i] === K.JMP_IND && pv.computed && !pv.tableAddress) return false;
    return pv.unknown;
  }

  /** What register `r` may hold before instruction `i`, as far as the tables go. */
  private provenance(i: number, r: number, depth: number, inTable: (x: number, slack?: number) => boolean, active: Set<string>): Provenance {
    const a = this.a;
    const p = a.program;
    const key = `${i}:${r}`;
    const out: Provenance = { tableAddress: false, tableContent: false, unknown: false, computed: false };
    if (active.has(key)) return out; // the other paths decide
    active.add(key);
    const v = this.flow.valuesBefore(i, { r });
    for (const n of v.numbers) if (inTable(n >>> 0, TABLE_SLACK)) out.tableAddress = true;
    for (const u of v.unresolved.values()) {
      const q = p.indexOf(u.at);
      if (q === undefined) { out.unknown = true; continue; }
      const ins = this.decode(q);
      if (ins.code === Code.Lea_r64_m || ins.code === Code.Lea_r32_m) {
        const b = ins.memoryBase;
        if (b === Register.RIP || b === Register.None) {
          if (inTable(i64(ins.memoryDisplacement), TABLE_SLACK)) out.tableAddress = true;
          continue;
        }
        if (b === Register.RSP || b === Register.RBP) continue; // a frame address is not a table
        // Pointer arithmetic: whatever the base points into.
        const g = gpr(b);
        if (!g || depth <= 0) { out.unknown = true; continue; }
        const base = this.provenance(q, g.idx, depth - 1, inTable, active);
        out.tableAddress ||= base.tableAddress || base.tableContent;
        out.unknown ||= base.unknown;
        continue;
      }
      if (ins.code === Code.Mov_r64_rm64 && ins.op1Kind === OpKind.Memory && ins.segmentPrefix === Register.None) {
        const b = ins.memoryBase;
        if (b === Register.RIP || b === Register.None) {
          if (ins.memoryIndex !== Register.None ? inTable(i64(ins.memoryDisplacement), TABLE_SLACK) : inTable(i64(ins.memoryDisplacement))) out.unknown = true;
          continue; // another global (a GOT slot, a variable): not a table's content
        }
        const g = gpr(b);
        if (!g || ins.memoryIndex !== Register.None || depth <= 0) { out.unknown = true; continue; }
        const base = this.provenance(q, g.idx, depth - 1, inTable, active);
        if (base.tableAddress) out.tableContent = true;
        if (base.unknown || base.tableContent) out.unknown = true;
        continue;
      }
      if (/ written by (add|sub|movsxd|movslq|or|and|shl|sar|shr|imul)/.test(u.reason)) out.computed = true;
      out.unknown = true;
    }
    for (const e of v.params.values()) {
      if (typeof e.loc !== 'string' || e.xf?.length) { out.unknown = true; continue; }
      // A parameter: what the callers in this object pass. An exported function's
      // callers elsewhere cannot pass a private table or its contents.
      if (a.addressTaken.has(e.fn) || depth <= 0) { out.unknown = true; continue; }
      const sites = callSitesOf(p, e.fn);
      if (!sites.length && !a.functions.get(e.fn)?.exported) { out.unknown = true; continue; }
      for (const c of sites) {
        const up = this.provenance(c, GPR_NAMES.indexOf(e.loc), depth - 1, inTable, active);
        out.tableAddress ||= up.tableAddress;
        out.tableContent ||= up.tableContent;
        out.unknown ||= up.unknown;
      }
    }
    active.delete(key);
    return out;
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
    const fi = p.functionIndexContaining(fn);
    if (fi === undefined) return whole('which is not decoded');
    if (a.addressTaken.has(fn)) {
      const clash = this.writesField(fi, fn, loc, field);
      if (clash !== undefined) return whole(`which is address-taken and may write the field itself at 0x${clash.toString(16)}`);
      return this.callbackStruct(fn, loc, field, whole);
    }
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
   * An address-taken `fn` called back with its context (musl's __synccall(do_setxid, &c),
   * analysis/x86/callback-context.ts): the numbers each caller handing fn to S stores at
   * `field` of the structure whose address it passes next to it, climbing into that
   * caller's callers while the value is its parameter (musl's setuid → __setxid(nr, …)).
   */
  private callbackStruct(fn: number, loc: Gpr, field: number, whole: (reason: string) => StructResult): StructResult {
    const p = this.a.program;
    const cb = new CallbackContext(this.a, (x) => this.flow.effects.effect(x), { isPrivateGlobal: this.opts.isPrivateGlobal, codeAddressInData: this.opts.codeAddressInData });
    let pair;
    try {
      pair = cb.pair(fn, loc, field);
    } finally {
      cb.free();
    }
    if (typeof pair === 'string') return whole(`which is address-taken (${pair})`);
    const name = this.a.functions.get(fn)?.name ?? `0x${fn.toString(16)}`;
    const out: StructResult = { uses: [], unresolved: [] };
    const memo = new Map<string, EntryResult>();
    for (const c of pair.calls) {
      const caller = p.functions[p.fnOf[c]];
      const callerName = caller.name ?? `0x${caller.addr.toString(16)}`;
      const fail = (at: number, reason: string): void => {
        out.unresolved.push({ fn: p.functions[p.functionIndexContaining(at) ?? p.fnOf[c]].addr, at, reason: `number loaded from the structure ${callerName} passes to 0x${pair.s.toString(16)} with ${name}: ${reason}` });
      };
      const slot = this.frameAddressAt(c, GPR_NAMES.indexOf(pair.ctxReg));
      if (typeof slot === 'string') { fail(p.addr[c], slot); continue; }
      // Per way in: musl's setuid, setgid, … tail-jump into __setxid, which has no start of its own.
      for (const w of this.waysIn(c, { s: RSP, d: slot + field })) {
        const from = p.functions[p.fnOf[w.at]];
        const v = w.loc === undefined ? undefined : typeof w.loc === 'number' ? w.loc : this.flow.valuesBefore(w.at, w.loc);
        if (v === undefined) { fail(p.addr[w.at], w.why ?? 'the field is not followed'); continue; }
        if (typeof v === 'number') { out.uses.push({ caller: from.addr, callerName: from.name, callSite: p.addr[w.at], numbers: [v] }); continue; }
        if (v.numbers.size) out.uses.push({ caller: from.addr, callerName: from.name, callSite: p.addr[w.at], numbers: [...v.numbers].sort((x, y) => x - y) });
        for (const u of v.unresolved.values()) fail(u.at, u.reason);
        if (!v.numbers.size && !v.unresolved.size && !v.params.size) fail(p.addr[w.at], 'no store of the field found');
        // The field holds a parameter of the caller: the constants its callers pass.
        for (const pr of v.params.values()) {
          const r = resolveEntry(this.a, this.flow, pr, CLIMB_DEPTH, memo, new Set());
          for (const x of r.uses) out.uses.push({ caller: x.caller, callerName: x.callerName, callSite: x.callSite, numbers: x.numbers });
          for (const x of r.unresolved) fail(x.at, x.reason);
          for (const o of r.open) fail(o.entry, `the field holds ${typeof o.loc === 'string' ? `%${o.loc}` : `stack+${o.loc.stack}`} at entry of ${o.entryName ?? `0x${o.entry.toString(16)}`}, which is ${o.why}`);
        }
      }
    }
    return out;
  }

  /**
   * Where the value of `loc` before call `c` comes from, one entry per way in: when the
   * straight-line code before c begins at a place only tail jumps from other functions
   * reach (musl's __setxid, jumped to by setuid, setgid, … and with no start of its
   * own), the location each jump leaves it in, so each jumping function gets its own
   * numbers; otherwise c itself (the walk from there covers every path).
   */
  private waysIn(c: number, loc: Loc): { at: number; loc?: Loc | number; why?: string }[] {
    const p = this.a.program;
    const fn = p.functions[p.fnOf[c]];
    const jumps = p.jumpSources;
    let e = c - 1;
    for (; e > fn.first && c - e < 64; e--) {
      if (p.kind[e] !== K.NEXT || p.isInnerEntry(e)) return [{ at: c, loc }];
      if (jumps.has(p.addr[e])) break;
    }
    if (e <= fn.first || !jumps.has(p.addr[e])) return [{ at: c, loc }];
    const sources = jumps.get(p.addr[e])!;
    if (sources.some((j) => p.fnOf[j] === p.fnOf[c])) return [{ at: c, loc }];
    // Nothing falls into it: the code before is a `ret` or a jump, then only padding.
    let k = e - 1;
    while (k > fn.first && p.kind[k] === K.NEXT && !jumps.has(p.addr[k]) && !p.isInnerEntry(k) && this.flow.effects.isNop(p.addr[k])) k--;
    if (!(p.kind[k] === K.RET || p.kind[k] === K.JMP || p.kind[k] === K.JMP_IND || p.kind[k] === K.STOP)) return [{ at: c, loc }];
    // The location at e: the straight-line code from e to c, walked back.
    let l: Loc | number = loc;
    for (let i = c - 1; i >= e; i--) {
      const r = applyEffect(this.flow.effects.effect(p.addr[i]), l, () => true);
      if (r.length !== 1) return [{ at: c, loc }];
      const x = r[0];
      if (typeof x === 'string') return [{ at: p.addr[i] === undefined ? c : i, why: x }];
      if (typeof x === 'number') return sources.map((j) => ({ at: j, loc: x }));
      l = x;
    }
    return sources.map((j) => ({ at: j, loc: l }));
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
          const writes = accessWrites(acc);
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
