import type { ObjectSummary } from '../summary/object-summary';
import type { GuardCond, ValueLoc } from './value-domain';

/**
 * Parameter-guarded edges (issue 26; the summary's `g`, schemas/elf-scan.schema.json `Guard`): a function's
 * `g` lists items (callees, imports, syscall sites) it reaches only when a condition on
 * one of its entry values holds. The program graph gives each guard an id and marks the
 * edges of its items with it (EdgeList.guard); the walk follows a marked edge only once
 * the guard can hold for some value the function can be entered with (guard-values.ts).
 */
export interface GuardInfo {
  /** The guarded function's node, object and index. */
  node: number;
  o: number;
  f: number;
  loc: ValueLoc;
  cond: GuardCond;
}

export class GuardTable {
  readonly list: GuardInfo[] = [];

  get count(): number {
    return this.list.length;
  }
}

type FunctionRecord = ObjectSummary['functions'][number];

/** One function's guarded items by kind, each mapped to its guard id (in `table`). */
export interface FunctionGuards {
  callee: Map<number, number>;
  imp: Map<number, number>;
  site: Map<number, number>;
}

/** Registers function f's guards in the table; undefined when it has none. */
export function functionGuards(table: GuardTable, fn: FunctionRecord, node: number, o: number, f: number): FunctionGuards | undefined {
  if (!fn.g?.length) return undefined;
  const out: FunctionGuards = { callee: new Map(), imp: new Map(), site: new Map() };
  for (const g of fn.g) {
    const id = table.list.length;
    table.list.push({ node, o, f, loc: { p: g.v.p, ...(g.v.off !== undefined ? { off: g.v.off, w: g.v.w ?? 8 } : {}) }, cond: { op: g.c.op, k: g.c.k } });
    // An item in two guards would be a broken summary: neither guard alone is sure to hold for it, so it gets no mark.
    const mark = (m: Map<number, number>, x: number) => m.set(x, m.has(x) ? -1 : id);
    for (const t of g.e ?? []) mark(out.callee, t);
    for (const i of g.i ?? []) mark(out.imp, i);
    for (const s of g.s ?? []) mark(out.site, s);
  }
  return out;
}

/** The EdgeList.guard mark for an item (0: unguarded, or in two guards). */
export function guardMark(m: Map<number, number> | undefined, x: number): number {
  const id = m?.get(x);
  return id === undefined || id < 0 ? 0 : id + 1;
}
