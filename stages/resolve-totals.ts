import { ArgRulesMerge } from '../analysis/link/arg-rules-merge';
import type { ProgramResolution } from '../analysis/link/link';
import { UnresolvedSites } from '../analysis/link/unresolved-sites';
import { syscallName } from '../analysis/syscalls/table';
import type { ResolveArtifact } from '../schemas/types';

/** Syscall names, sorted: how the artifact lists sets of numbers. */
export function names(nrs: Set<number>): string[] {
  return [...nrs].map((n) => syscallName(n) ?? `syscall_${n}`).sort();
}

/**
 * What the image's walks add up to: the union of reached syscalls and its parts by rule,
 * one line per walk, the shortest "why" for each syscall, unresolved sites and argument
 * rules. Kept apart from the walking so the order walks happen in is the only thing the
 * walker decides.
 */
export class ResolveTotals {
  readonly all = new Set<number>();
  readonly directOnly = new Set<number>();
  readonly reachableAT = new Set<number>();
  readonly wholeProgramAT = new Set<number>();
  readonly unresolved = new UnresolvedSites();
  readonly provenance: ResolveArtifact['provenance'] = {};
  readonly argRules = new ArgRulesMerge();
  readonly perBinary: ResolveArtifact['perBinary'] = [];
  /** Executed 32-bit programs (i386, x32): not analysed, so profile-emit keeps the base profile whole. */
  readonly compatPrograms: { path: string; abi: 'i386' | 'x32' }[] = [];

  /** One whole-program walk, labelled as the report names it. */
  addWalk(label: string, res: ProgramResolution): void {
    for (const nr of res.syscalls) { this.all.add(nr); this.reachableAT.add(nr); }
    for (const nr of res.withoutIndirectRule) this.directOnly.add(nr);
    for (const nr of res.wholeProgramAT) this.wholeProgramAT.add(nr);
    this.keepShortestProvenance(label, res);
    this.unresolved.add(label, res.unresolvedSites);
    this.argRules.addWalk(label, res);
    this.perBinary.push({ path: label, syscalls: names(res.syscalls), unresolvedSites: res.unresolvedSites.length });
  }

  /** Syscalls from a source with no call chain or argument facts (a seed graph, -g). */
  addOpaque(nrs: Iterable<number>, from: string, why: string): void {
    const list = [...nrs];
    for (const nr of list) this.all.add(nr);
    this.argRules.addOpaque(list, from, why);
  }

  /** Keep the shortest chain over all programs: the clearest answer to "why". */
  private keepShortestProvenance(label: string, res: ProgramResolution): void {
    for (const [nr, p] of res.provenance) {
      const name = syscallName(nr) ?? `syscall_${nr}`;
      if (!this.provenance[name] || this.provenance[name].steps.length > p.steps.length) {
        this.provenance[name] = { binary: label, steps: p.steps.map((st) => ({ object: st.object, function: st.function, ...(st.via ? { via: st.via } : {}), ...(st.takenBy ? { takenBy: st.takenBy } : {}), ...(st.kept ? { kept: st.kept } : {}) })), site: p.site, siteObject: p.siteObject, ...(p.kept ? { kept: p.kept } : {}) };
      }
    }
  }
}
