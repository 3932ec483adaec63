import { ConfineError } from './errors';
import type { Stage } from './stage';

/**
 * Orders stages so each comes after everything it needs, and checks the graph:
 * unknown needs, duplicates, cycles and an image stage needing an `after` stage are
 * programming errors caught before any work starts.
 */
export function orderStages<S extends Stage<any, any, any>>(stages: readonly S[]): S[] {
  const byName = new Map<string, S>();
  for (const s of stages) {
    if (byName.has(s.name)) throw new ConfineError('internal', `two stages are named ${s.name}`);
    byName.set(s.name, s);
  }
  const rank: Record<Stage['scope'], number> = { before: 0, image: 1, after: 2 };
  const out: S[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: S, path: string[]) => {
    const st = state.get(s.name);
    if (st === 'done') return;
    if (st === 'visiting') throw new ConfineError('internal', `stage cycle: ${[...path, s.name].join(' → ')}`);
    state.set(s.name, 'visiting');
    for (const n of s.needs) {
      const dep = byName.get(n);
      if (!dep) throw new ConfineError('internal', `stage ${s.name} needs unknown stage ${n}`);
      if (rank[dep.scope] > rank[s.scope]) throw new ConfineError('internal', `${s.scope} stage ${s.name} cannot need ${dep.scope} stage ${n}`);
      visit(dep, [...path, s.name]);
    }
    state.set(s.name, 'done');
    out.push(s);
  };
  for (const s of stages) visit(s, []);
  return out;
}
