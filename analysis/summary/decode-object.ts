import { decodeFunctions, finishAnalysis } from '../x86/analyze-object';
import type { SplitOptions } from '../x86/decode-slices';
import { isCodeAddress, isWithheldAddress } from '../x86/from-elf';
import type { CodeInput, FunctionInfo } from '../x86/types';
import type { CodeAnalysis } from '../x86/code-analysis';
import type { DataImage } from './data-image';
import type { ObjectImage } from './object-image';

/**
 * The decode step of a scan: which code to decode with analysis/x86/ and where its
 * functions begin, beyond what FDEs and symbols say.
 */

export interface AnalyzedObject {
  code: CodeAnalysis;
  input: CodeInput;
}

/** How many times the starts may grow by direct call targets that begin no known function. */
const UNKNOWN_TARGET_ROUNDS = 8;

/** Decodes an object with analysis/x86/ (large ones in ranges, with `split`) and returns the code analysis plus the input it was given. */
export function decodeObject(image: ObjectImage, split: SplitOptions = {}, codeAt: number[] = []): AnalyzedObject | undefined {
  const base = image.code(codeAt);
  if (!base) return undefined;
  const plt = image.plt;
  // Data references drive which address-taken functions count (analysis/summary/region-facts.ts).
  // Where a start may be put that no FDE or symbol names: executable bytes that are no PLT
  // stub (a stub is an import wherever code calls it or data points at it).
  const startable = (a: number) => isCodeAddress(base, a) && !plt.has(a);
  let input: CodeInput = { ...base, pltTargets: plt, functionStarts: withGapStarts(image.data, base, startable), dataRefs: { absolute: image.data.absolute } };
  let decoded = decodeFunctions(input, split);
  // Direct calls to addresses that begin no known function (static functions of an
  // object without symbols or FDEs, e.g. musl's libc.so calling _dlstart_c) would be
  // dead ends: make them function starts and decode again, until none are left. Only
  // the decoding is redone per round; the data-flow runs once, on the final starts.
  for (let round = 0; round < UNKNOWN_TARGET_ROUNDS; round++) {
    const extra = new Set<number>();
    for (const f of decoded.functions.values()) for (const t of f.unknownTargets) if (startable(t) && !decoded.functions.has(t)) extra.add(t);
    if (!extra.size) break;
    input = { ...input, functionStarts: [...input.functionStarts, ...[...extra].map((addr) => ({ addr }))] };
    decoded = decodeFunctions(input, split);
  }
  // Code that branches into bytes of an executable segment its section table calls data
  // (a section relabelled to hide code): that section is code after all; decode it too.
  const into = base.withheld ? branchesInto(decoded.functions.values(), (t) => isWithheldAddress(base, t)) : [];
  if (into.length) return decodeObject(image, split, [...codeAt, ...into]);
  return { code: finishAnalysis(decoded), input: decoded.input };
}

/** Direct branch targets (or the starts of the functions they land in) for which `inside` holds. */
function branchesInto(functions: Iterable<FunctionInfo>, inside: (addr: number) => boolean): number[] {
  const out = new Set<number>();
  for (const f of functions) {
    for (const list of [f.calls, f.tailCalls, f.jumpsInto, f.unknownTargets]) for (const t of list) if (inside(t)) out.add(t);
  }
  return [...out];
}

/**
 * Code addresses stored in a non-PIE executable's data (absolute, 8-byte aligned):
 * function pointer tables like busybox's applet_main[] point at functions no FDE or
 * symbol names. They become function starts so the code they point to is decoded.
 */
function dataPointerStarts(data: DataImage, input: CodeInput, startable: (addr: number) => boolean): CodeInput['functionStarts'] {
  if (!data.absolute) return [];
  const lo = input.codeVaddr;
  const hi = lo + input.code.length;
  const known = new Set(input.functionStarts.map((f) => f.addr));
  const out = new Set<number>();
  data.forEachAbsoluteWord((_at, v) => {
    if (v >= lo && v < hi && !known.has(v) && startable(v)) out.add(v);
  });
  return [...out].map((addr) => ({ addr, fromData: true }));
}

/**
 * Without .eh_frame (musl's stripped libc.so has 4 FDEs), sized dynsym functions leave
 * gaps of unnamed static code between them. Each gap becomes a function (running to
 * the next start) so its calls and syscalls are decoded and reachable.
 */
function withGapStarts(data: DataImage, input: CodeInput, startable: (addr: number) => boolean): CodeInput['functionStarts'] {
  // Gaps are decoded even when FDEs are plentiful: programs built with
  // -fno-asynchronous-unwind-tables (busybox) have FDEs for their libc parts only,
  // and the rest of their code sits in the gaps.
  const starts = [...input.functionStarts, ...dataPointerStarts(data, input, startable)];
  const end = input.codeVaddr + input.code.length;
  const sorted = [...starts].sort((x, y) => x.addr - y.addr);
  const known = new Set(sorted.map((f) => f.addr));
  const out = [...starts];
  if (sorted.length && sorted[0].addr > input.codeVaddr) out.push({ addr: input.codeVaddr });
  let reach = input.codeVaddr;
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i];
    if (f.size) reach = Math.max(reach, f.addr + f.size);
    else reach = Math.max(reach, f.addr + 1);
    const next = i + 1 < sorted.length ? sorted[i + 1].addr : end;
    // Gaps of alignment padding only (< 16 bytes) hold no function.
    if (f.size && reach < next && next - reach >= 16 && !known.has(reach) && startable(reach)) out.push({ addr: reach });
  }
  return out;
}
