import type { ResolveArtifact } from '../../schemas/types';
import { argValueName } from '../syscalls/arg-names';
import { syscallName } from '../syscalls/table';
import { TRACKED_ARGS } from '../x86/syscall-args';
import type { ProgramResolution } from './link';

type Rules = NonNullable<ResolveArtifact['argRules']>;
type Rule = Rules[string];

/**
 * An image's argument rules, over all its programs' walks: a tracked syscall keeps a
 * condition only while every source of it gave one. A walk whose rule is
 * unconditional, or a source with no argument facts at all (a seed graph, a Go
 * override list), makes it unconditional for the image, naming the first cause.
 */
export class ArgRulesMerge {
  private rules = new Map<number, Rule>();

  addWalk(binary: string, res: ProgramResolution): void {
    for (const t of TRACKED_ARGS) {
      if (!res.syscalls.has(t.nr)) continue;
      const r = res.argRules.get(t.nr);
      const cur = this.get(t.nr, t.arg);
      if (cur.unconditional) continue;
      if (!r) { this.force(t.nr, t.arg, { binary, object: binary, site: -1, function: '', reason: 'the walk gave no argument rule' }); continue; }
      if (r.unconditional) { this.force(t.nr, t.arg, { binary, ...r.unconditional }); continue; }
      const name = syscallName(t.nr) ?? `syscall_${t.nr}`;
      for (const v of r.values) {
        const o = r.origins.get(v);
        const have = cur.values.find((x) => x.value === v);
        const steps = o?.steps.map((st) => ({ object: st.object, function: st.function, ...(st.via ? { via: st.via } : {}), ...(st.takenBy ? { takenBy: st.takenBy } : {}) })) ?? [];
        // Keep the shortest chain over all programs, as provenance does.
        if (have && have.steps.length <= steps.length) continue;
        const n = argValueName(name, t.arg, v);
        const entry = { value: v, ...(n ? { name: n } : {}), binary, object: o?.object ?? binary, function: o?.function ?? '', steps };
        if (have) cur.values[cur.values.indexOf(have)] = entry;
        else cur.values.push(entry);
      }
    }
  }

  /** Syscalls from a source without argument facts (seed graph, override list): unconditional if tracked. */
  addOpaque(nrs: Iterable<number>, binary: string, reason: string): void {
    for (const nr of nrs) {
      const t = TRACKED_ARGS.find((x) => x.nr === nr);
      if (t) this.force(nr, t.arg, { binary, object: binary, site: -1, function: '', reason });
    }
  }

  /** The rules for the syscalls the image ends up allowing; a tracked one no walk saw is unconditional. */
  result(all: Set<number>): Rules {
    const out: Rules = {};
    for (const t of TRACKED_ARGS) {
      if (!all.has(t.nr)) continue;
      const name = syscallName(t.nr) ?? `syscall_${t.nr}`;
      const r = this.rules.get(t.nr) ?? { arg: t.arg, values: [], unconditional: { binary: '', object: '', site: -1, function: '', reason: 'no program walk reached it (added by another source)' } };
      out[name] = r.unconditional ? { arg: r.arg, values: [], unconditional: r.unconditional } : { arg: r.arg, values: [...r.values].sort((a, b) => a.value - b.value) };
    }
    return out;
  }

  private get(nr: number, arg: number): Rule {
    let r = this.rules.get(nr);
    if (!r) this.rules.set(nr, (r = { arg, values: [] }));
    return r;
  }

  private force(nr: number, arg: number, why: NonNullable<Rule['unconditional']>): void {
    const r = this.get(nr, arg);
    if (!r.unconditional) r.unconditional = why;
  }
}
