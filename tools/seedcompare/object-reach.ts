import { exportIndex, matchExport } from '../../analysis/link/link';
import type { ObjectSummary } from '../../analysis/summary/object-summary';

/**
 * Syscalls reachable from one exported function of a library, inside that library
 * and the objects it imports from (for glibc: libc.so.6 itself, then ld.so). This is
 * the per-function view of analysis/link/link.ts's whole-program walk, so it can be set
 * against a per-function call graph such as the seed's.
 *
 * Indirect calls either follow sysfilter's rule (any function with an indirect call
 * or jump reaches every address-taken function of every object here) or are cut, so
 * a caller can see how much of an answer the rule supplies.
 */
export interface ReachObject {
  path: string;
  summary: ObjectSummary;
}

export interface FunctionReach {
  syscalls: Set<number>;
  /** Whether a reached function makes an indirect call or jump. */
  indirect: boolean;
  /** Reached syscall sites whose number the analysis did not recover. */
  unresolvedSites: number;
}

export class ObjectReach {
  private readonly base: number[] = [];
  private readonly adj: number[][] = [];
  private readonly sys: number[][] = [];
  private readonly hasIndirect: boolean[] = [];
  private readonly unresolved: number[] = [];
  private readonly taken: number[] = [];
  private readonly exports;
  private indirectClosure?: FunctionReach;

  /** objects[0] is the library whose exports are asked about; imports bind in list order. */
  constructor(private readonly objects: ReachObject[]) {
    let n = 0;
    for (const o of objects) {
      this.base.push(n);
      n += o.summary.functions.length;
    }
    const idx = objects.map((o) => exportIndex(o.summary));
    this.exports = idx[0];
    objects.forEach((ob, o) => {
      const s = ob.summary;
      const bind = (i: number): number[] => {
        for (let p = 0; p < objects.length; p++) {
          const fns = matchExport(idx[p], s.imports[i]);
          if (fns.length) return fns.map((f) => this.base[p] + f);
        }
        return [];
      };
      const bound = new Map<number, number[]>();
      const importTargets = (i: number) => {
        let b = bound.get(i);
        if (!b) bound.set(i, (b = bind(i)));
        return b;
      };
      s.functions.forEach((fn, f) => {
        const k = this.base[o] + f;
        this.adj[k] = [...(fn.e ?? []).map((t) => this.base[o] + t), ...(fn.i ?? []).flatMap(importTargets)];
        this.sys[k] = (fn.s ?? []).flatMap((x) => x.nr);
        this.hasIndirect[k] = !!(fn.ic || fn.ij);
        this.unresolved[k] = 0;
      });
      for (const x of s.importArgs) for (const u of x.uses) this.sys[this.base[o] + u.fn].push(...u.nr);
      for (const u of s.unresolved) this.unresolved[this.base[o] + u.fn]++;
      for (const a of s.addressTaken) this.taken.push(this.base[o] + a);
      for (const i of s.importsAddressTaken) this.taken.push(...importTargets(i));
    });
  }

  /** Function indexes (in objects[0]) an unversioned reference to `name` binds to; empty if not exported. */
  exported(name: string): number[] {
    return matchExport(this.exports, name);
  }

  /** Exported function names of objects[0], without versions. */
  exportNames(): string[] {
    return [...this.exports.byName.keys()].sort();
  }

  reach(name: string, opts: { indirectRule: boolean }): FunctionReach | undefined {
    const roots = this.exported(name);
    if (!roots.length) return undefined;
    const r = this.walk(roots);
    if (opts.indirectRule && r.indirect) {
      const all = this.closureOfIndirect();
      return { syscalls: new Set([...r.syscalls, ...all.syscalls]), indirect: true, unresolvedSites: r.unresolvedSites + all.unresolvedSites };
    }
    return r;
  }

  /** What every address-taken function reaches (with the rule applied inside): the same for every caller. */
  private closureOfIndirect(): FunctionReach {
    if (!this.indirectClosure) this.indirectClosure = this.walk(this.taken);
    return this.indirectClosure;
  }

  /** Syscall numbers the code of `name`'s own function supplies (its sites and constants it passes to wrappers). */
  ownSyscalls(name: string): Set<number> {
    return new Set(this.exported(name).flatMap((f) => this.sys[f]));
  }

  /** Functions of objects[0] reached from `name` by direct edges (indexes into its summary's functions). */
  reachedFunctions(name: string): number[] {
    const seen = this.seen(this.exported(name));
    const out: number[] = [];
    const n = this.objects[0].summary.functions.length;
    for (let k = 0; k < n; k++) if (seen[k]) out.push(k);
    return out;
  }

  private seen(roots: number[]): Uint8Array {
    const seen = new Uint8Array(this.adj.length);
    const stack = [...roots];
    for (const r of roots) seen[r] = 1;
    while (stack.length) for (const t of this.adj[stack.pop()!]) if (!seen[t]) { seen[t] = 1; stack.push(t); }
    return seen;
  }

  private walk(roots: number[]): FunctionReach {
    const seen = new Uint8Array(this.adj.length);
    const stack = [...roots];
    const syscalls = new Set<number>();
    let indirect = false;
    let unresolvedSites = 0;
    for (const r of roots) seen[r] = 1;
    while (stack.length) {
      const k = stack.pop()!;
      for (const nr of this.sys[k]) syscalls.add(nr);
      if (this.hasIndirect[k]) indirect = true;
      unresolvedSites += this.unresolved[k];
      for (const t of this.adj[k]) {
        if (!seen[t]) {
          seen[t] = 1;
          stack.push(t);
        }
      }
    }
    return { syscalls, indirect, unresolvedSites };
  }
}
