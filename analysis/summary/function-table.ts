import type { CodeAnalysis } from '../x86/code-analysis';
import { lastAtOrBefore } from '../x86/sorted';

/** The summary's function indexes of a decoded object: functions in address order, and the index an address belongs to. */
export class FunctionTable {
  /** Function starts in address order: function i of the summary begins at starts[i]. */
  readonly starts: number[];
  readonly index: Map<number, number>;

  constructor(private readonly code: CodeAnalysis) {
    this.starts = [...code.functions.keys()].sort((x, y) => x - y);
    this.index = new Map<number, number>(this.starts.map((s, i) => [s, i]));
  }

  /** The function whose code holds `addr`. */
  containing(addr: number): number | undefined {
    const best = lastAtOrBefore(this.starts, addr);
    if (best < 0) return undefined;
    return addr < this.code.functions.get(this.starts[best])!.end ? best : undefined;
  }

  /** The function beginning at or holding `addr`, else `fallback`. */
  at(addr: number, fallback: number): number {
    return this.index.get(addr) ?? this.containing(addr) ?? fallback;
  }

  /** The function a code address held in data enters: one beginning there, or the one an entry settled inside belongs to (analysis/x86/data-starts.ts). */
  entered(addr: number): number | undefined {
    const i = this.index.get(addr);
    if (i !== undefined) return i;
    const holder = this.code.innerEntries.get(addr);
    return holder === undefined ? undefined : this.index.get(holder);
  }
}
