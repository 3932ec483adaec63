import { ArgRulesMerge } from './arg-rules-merge';
import type { ArgRule } from './arg-rules';
import type { ProgramResolution } from './link';

const walk = (syscalls: number[], rules: [number, ArgRule][]) => ({ syscalls: new Set(syscalls), argRules: new Map(rules) }) as unknown as ProgramResolution;
const limited = (values: number[]): ArgRule => ({ arg: 0, values, origins: new Map(values.map((v) => [v, { object: '/x', function: 'f', steps: [{ object: '/x', function: 'f' }] }])) });

test('values are the union over programs, with names', () => {
  const m = new ArgRulesMerge();
  m.addWalk('/a', walk([41], [[41, limited([2])]]));
  m.addWalk('/b', walk([41, 53], [[41, limited([1, 2])], [53, limited([1])]]));
  const r = m.result(new Set([41, 53, 0]));
  expect(r.socket.unconditional).toBeUndefined();
  expect(r.socket.values.map((v) => [v.value, v.name])).toEqual([[1, 'AF_UNIX'], [2, 'AF_INET']]);
  expect(r.socketpair.values.map((v) => v.value)).toEqual([1]);
});

test('one unconditional program, a seed graph or a walk-less source makes the syscall unconditional', () => {
  const u = new ArgRulesMerge();
  u.addWalk('/a', walk([41], [[41, limited([2])]]));
  u.addWalk('/b', walk([41], [[41, { arg: 0, values: [], origins: new Map(), unconditional: { object: '/b', site: 5, function: 'main', reason: 'from argv' } }]]));
  expect(u.result(new Set([41])).socket.unconditional).toMatchObject({ binary: '/b', reason: 'from argv' });

  const s = new ArgRulesMerge();
  s.addWalk('/a', walk([41], [[41, limited([2])]]));
  s.addOpaque([41], '/a', 'seed graph');
  expect(s.result(new Set([41])).socket.unconditional?.reason).toBe('seed graph');

  // socket allowed although no walk reached it (a -g list added it without saying so).
  const n = new ArgRulesMerge();
  expect(n.result(new Set([41])).socket.unconditional).toBeDefined();
  // A walk that reached socket but has no rule for it.
  const w = new ArgRulesMerge();
  w.addWalk('/a', walk([41], []));
  expect(w.result(new Set([41])).socket.unconditional).toBeDefined();
});
