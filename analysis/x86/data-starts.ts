import { K, Program, REF_NONE, endsFlow } from './program';
import { sizedExtentContaining } from './sized-extents';
import type { FunctionInfo, FunctionStart, SyscallInsn } from './types';

/**
 * Function starts taken from data (an address some data word or relocation holds) are
 * guesses: a data word can hold any number that happens to fall in the code. Such a
 * start inside the code of a function whose extent an FDE or symbol gives must not cut
 * that function: cut there, the function would end early and, when the address is not
 * an instruction boundary, its instruction there would straddle the cut and stop the
 * flow (one data word one byte into a `call` of musl's __libc_start_main erased the
 * program's start-up code). Such a start is settled inside the function instead: the
 * function keeps its code, and the address is an extra entry of it.
 */
export interface SettledStarts {
  /** The starts that partition the code. */
  starts: FunctionStart[];
  /** Data-derived addresses inside a sized function's code → that function's start. */
  inside: Map<number, number>;
}

export function settleDataStarts(starts: readonly FunctionStart[]): SettledStarts {
  const firm = starts.filter((s) => !s.fromData);
  if (firm.length === starts.length) return { starts: [...starts], inside: new Map() };
  const firmAddrs = new Set(firm.map((s) => s.addr));
  const containing = sizedExtentContaining(firm);
  const out: FunctionStart[] = [...firm];
  const inside = new Map<number, number>();
  for (const s of starts) {
    if (!s.fromData || firmAddrs.has(s.addr)) continue;
    const c = containing(s.addr);
    if (c === undefined) out.push(s);
    else inside.set(s.addr, c);
  }
  return { starts: out, inside };
}

/**
 * What the bytes at a settled entry that is not an instruction boundary of its
 * function's decoding do when decoded from there: the second decoding of the same
 * bytes, which a jump to the entry would run. Both decodings are kept: the function's
 * own in the Program, this one as facts merged into the function (its calls and jumps
 * are edges, its syscall instructions are sites whose number is not recovered), and the
 * instructions where it runs back into the first decoding become entries of the walk.
 */
export interface SecondDecoding {
  entry: number;
  /** Start of the function whose bytes these are. */
  fn: number;
  /** Direct call / jump targets (outside this decoding). */
  calls: number[];
  jumps: number[];
  /** Addresses the code materialises (lea rip, mov imm). */
  materialised: number[];
  hasIndirectCall: boolean;
  hasIndirectJump: boolean;
  syscalls: { addr: number; insn: SyscallInsn }[];
  /** Instructions of the first decoding this one falls or jumps into. */
  rejoins: number[];
  /** The decoding was cut at the instruction limit: treat it as unknown code. */
  truncated: boolean;
}

/** Instructions decoded per second decoding at most (hostile input: any byte can start one). */
const MAX_SECOND_INSNS = 4096;
const CHUNK_BYTES = 512;

const INSN_OF: Record<number, SyscallInsn> = { [K.SYSCALL]: 'syscall', [K.INT80]: 'int80', [K.SYSENTER]: 'sysenter' };

/**
 * Decodes from `entry` (inside function `fnIdx` of `prog`, not an instruction boundary
 * there) along every path until it reaches an instruction of the first decoding, leaves
 * the function's bytes, or ends (ret, jmp, invalid bytes).
 */
export function secondDecoding(prog: Program, fnIdx: number, entry: number): SecondDecoding {
  const fn = prog.functions[fnIdx];
  const out: SecondDecoding = {
    entry, fn: fn.addr, calls: [], jumps: [], materialised: [], hasIndirectCall: false, hasIndirectJump: false, syscalls: [], rejoins: [], truncated: false,
  };
  const inFn = (a: number) => a >= fn.addr && a < fn.end;
  const firstAt = (a: number) => prog.indexOf(a) !== undefined;
  const rejoin = new Set<number>();
  const done = new Set<number>();
  const work = [entry];
  let count = 0;
  while (work.length) {
    const from = work.pop()!;
    if (done.has(from)) continue;
    // One linear run from `from`, decoded in chunks by a scratch Program (bounded by a
    // second start at the chunk's end, so it neither runs on nor reads past it).
    const chunkEnd = Math.min(fn.end, from + CHUNK_BYTES);
    const run = Program.empty(prog.bytes, prog.base, REF_NONE);
    run.decodeFunctions([{ addr: from, size: chunkEnd - from }, { addr: chunkEnd }], 0, 1, from);
    let i = 0;
    for (; i < run.n; i++) {
      const a = run.addr[i];
      if (firstAt(a)) {
        rejoin.add(a);
        break;
      }
      if (done.has(a)) break;
      if (a + run.len[i] > chunkEnd && chunkEnd < fn.end) {
        // Straddles the chunk's end, not the function's: decode it again from its start.
        work.push(a);
        break;
      }
      done.add(a);
      if (++count > MAX_SECOND_INSNS) {
        out.truncated = true;
        work.length = 0;
        break;
      }
      const kind = run.kind[i];
      const t = run.target[i];
      switch (kind) {
        case K.CALL:
          out.calls.push(t);
          break;
        case K.JMP:
        case K.JCC:
          if (inFn(t) && !firstAt(t)) work.push(t);
          else if (inFn(t)) rejoin.add(t);
          else out.jumps.push(t);
          break;
        case K.CALL_IND:
          out.hasIndirectCall = true;
          break;
        case K.JMP_IND:
          out.hasIndirectJump = true;
          break;
        case K.SYSCALL:
        case K.INT80:
        case K.SYSENTER:
          out.syscalls.push({ addr: a, insn: INSN_OF[kind] });
          break;
        case K.NEXT:
          if (!Number.isNaN(t)) out.materialised.push(t);
          break;
      }
      if (endsFlow(kind)) break;
    }
    // The whole chunk ran without ending: the code goes on after it.
    if (i === run.n && run.n > 0 && chunkEnd < fn.end) {
      const next = run.addr[run.n - 1] + run.len[run.n - 1];
      if (next < fn.end) work.push(next);
    }
  }
  out.rejoins = [...rejoin].sort((x, y) => x - y);
  return out;
}

/** A syscall instruction of a second decoding: a site whose number is not recovered. */
export interface SecondSite {
  addr: number;
  fn: number;
  insn: SyscallInsn;
  reason: string;
}

/**
 * Puts the settled entries into the joined decode: each is an entry of the function
 * holding it (Program.innerEntries when it is an instruction boundary there, else its
 * second decoding's facts merged into the function), and an address-taken one.
 * Returns the entries (address → function start) and the second decodings' syscall sites.
 */
export function applySettledEntries(
  joined: { prog: Program; functions: Map<number, FunctionInfo>; addressTaken: Set<number> },
  inside: Map<number, number>,
  plt: Map<number, string>,
): { innerEntries: Map<number, number>; sites: SecondSite[] } {
  const { prog, functions, addressTaken } = joined;
  const innerEntries = new Map<number, number>();
  const sites: SecondSite[] = [];
  if (!inside.size) return { innerEntries, sites };
  const entryAddrs = new Set<number>();
  const add = <T>(xs: T[], x: T) => {
    if (!xs.includes(x)) xs.push(x);
  };
  for (const addr of [...inside.keys()].sort((a, b) => a - b)) {
    const fi = prog.functionIndexContaining(addr);
    const holder = fi === undefined ? undefined : functions.get(prog.functions[fi].addr);
    if (fi === undefined || !holder) {
      // Not inside decoded code after all (past the code its function's instructions
      // cover): a target to decode as a function of its own (analysis/summary/decode-object.ts's rounds).
      const owner = functions.get(inside.get(addr)!);
      if (owner) add(owner.unknownTargets, addr);
      continue;
    }
    innerEntries.set(addr, holder.addr);
    addressTaken.add(addr);
    if (prog.indexOf(addr) !== undefined) {
      entryAddrs.add(addr);
      continue;
    }
    const sd = secondDecoding(prog, fi, addr);
    const outside = (t: number, asCall: boolean) => {
      const imp = plt.get(t);
      if (imp !== undefined) return add(holder.imports, imp);
      if (functions.has(t)) return add(asCall ? holder.calls : holder.tailCalls, t);
      const g = prog.functionIndexContaining(t);
      if (g !== undefined) add(holder.jumpsInto, prog.functions[g].addr);
      else add(holder.unknownTargets, t);
    };
    for (const t of sd.calls) outside(t, true);
    for (const t of sd.jumps) outside(t, false);
    for (const t of sd.materialised) {
      if (functions.has(t)) {
        add(holder.addressTaken, t);
        addressTaken.add(t);
      } else if (plt.has(t)) {
        holder.importsTaken ??= [];
        add(holder.importsTaken, plt.get(t)!);
      }
    }
    if (sd.hasIndirectCall || sd.truncated) holder.hasIndirectCall = true;
    if (sd.hasIndirectJump || sd.truncated) holder.hasIndirectJump = true;
    const why = `the bytes at 0x${addr.toString(16)} (an address found in data, inside an instruction of ${holder.name ?? `0x${holder.addr.toString(16)}`}) decode differently from there`;
    for (const s of sd.syscalls) {
      add(holder.syscalls, s.addr);
      sites.push({ addr: s.addr, fn: holder.addr, insn: s.insn, reason: `syscall in a second decoding: ${why}` });
    }
    if (sd.truncated) sites.push({ addr, fn: holder.addr, insn: 'syscall', reason: `second decoding too long to follow: ${why}` });
    // Where it runs into the function's own instructions, values can come from it: an entry.
    for (const r of sd.rejoins) {
      entryAddrs.add(r);
      innerEntries.set(r, holder.addr);
      addressTaken.add(r);
    }
  }
  prog.innerEntries = entryAddrs;
  return { innerEntries, sites };
}
