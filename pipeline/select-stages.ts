import { ConfineError } from './errors';
import { Stage } from './stage';

export type Mode = 'run' | 'reuse-only';

/** Which stages take part, and whether each may run or must come from the cache. */
export function selectStages<C>(ordered: Stage<any, any, C>[], until?: string, only?: string): Map<string, Mode> {
  const names = ordered.map((s) => s.name);
  for (const n of [until, only]) {
    if (n !== undefined && !names.includes(n)) throw new ConfineError('bad-input', `unknown stage '${n}'; stages are: ${names.join(', ')}`);
  }
  const target = only ?? until;
  const out = new Map<string, Mode>();
  if (!target) {
    for (const s of ordered) out.set(s.name, 'run');
    return out;
  }
  // The target and its transitive needs, nothing downstream of it.
  const byName = new Map(ordered.map((s) => [s.name, s]));
  const wanted = new Set<string>();
  const visit = (n: string) => {
    if (wanted.has(n)) return;
    wanted.add(n);
    for (const d of byName.get(n)!.needs) visit(d);
  };
  visit(target);
  for (const s of ordered) if (wanted.has(s.name)) out.set(s.name, only && s.name !== only ? 'reuse-only' : 'run');
  return out;
}
