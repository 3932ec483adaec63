import type { CallGraph } from '../../analysis/seed-graph/graph';
import { reachableSyscalls, syscallNodeKey } from '../../analysis/seed-graph/graph';
import type { SeedCallgraph } from '../../analysis/seed-graph/seed-format';
import { syscallName, syscallNumber } from '../../analysis/syscalls/table';
import type { ObjectReach } from './object-reach';

/**
 * Compares, per exported function both know, the syscalls the seed's glibc call graph
 * (glibc 2.31, source-level) reaches with the ones our binary analysis reaches in the
 * host's libc.so.6 (2.36). Every disagreement is put in the first category whose
 * mechanical check holds; what no check explains stays 'unexplained'.
 */

export type Category =
  | 'seed-blanket'
  | 'legacy-syscall-replaced'
  | 'ours-via-indirect-call'
  | 'stub-in-2.36'
  | 'call-dropped-in-2.36'
  | 'syscall-unknown-to-seed'
  | 'seed-lost-alias'
  | 'seed-missed-inline-syscall'
  | 'inherited-from-callee'
  | 'ours-indirect-rule'
  | 'unexplained';

export const CATEGORY_TEXT: Record<Category, string> = {
  'seed-blanket': "the seed attaches this syscall directly to at least half of its functions (its blanket set for code it could not analyse), not a call chain",
  'legacy-syscall-replaced': '2.36 makes the newer equivalent (open→openat, stat→newfstatat, …) where 2.31 made the old one',
  'ours-via-indirect-call': "ours reaches it only through an indirect call or jump (IFUNC, function pointer): the seed's source graph sees a direct call; our sound rule still covers it",
  'stub-in-2.36': 'our function reaches no code at all (2.34 moved mtrace/mcheck to libc_malloc_debug.so and left stubs)',
  'call-dropped-in-2.36': "the seed's chain runs through a libc function that ours also says makes it, but 2.36's function no longer calls that function",
  'syscall-unknown-to-seed': 'the seed graph names this syscall nowhere (newer syscall, or made only from assembly the seed did not read)',
  'seed-lost-alias': "the seed's node for this name is not the real definition (its alias to __libc_NAME/__NAME is missing), and that definition reaches it in the seed",
  'seed-missed-inline-syscall': "our function's own code makes the syscall, where the seed's node of that name has no such leaf (glibc's INTERNAL_SYSCALL inline asm, which a source call graph does not see as a call)",
  'inherited-from-callee': 'the same disagreement exists, already explained, at a libc function this one reaches',
  'ours-indirect-rule': "only our indirect-call rule (every address-taken function) adds it: over-approximation, not a call the seed missed",
  unexplained: 'no rule explains it',
};

/** Old syscalls glibc stopped making, with what 2.33+ makes instead. */
export const LEGACY_REPLACEMENTS: Record<string, string[]> = {
  open: ['openat'], creat: ['openat'], stat: ['newfstatat', 'statx'], lstat: ['newfstatat', 'statx'], fstat: ['newfstatat', 'statx'],
  access: ['faccessat', 'faccessat2'], mkdir: ['mkdirat'], chmod: ['fchmodat'], chown: ['fchownat'], mknod: ['mknodat'], pipe: ['pipe2'],
  select: ['pselect6'], utime: ['utimensat'], utimes: ['utimensat'], futimesat: ['utimensat'], unlink: ['unlinkat'], rename: ['renameat', 'renameat2'],
  readlink: ['readlinkat'], rmdir: ['unlinkat'], link: ['linkat'], symlink: ['symlinkat'], dup2: ['dup3'], poll: ['ppoll'], getdents: ['getdents64'],
};

export interface Disagreement {
  fn: string;
  syscall: number;
  /** 'seed': the seed reaches it and ours (direct edges) does not; 'ours': the reverse. */
  side: 'seed' | 'ours';
  category: Category;
}

export interface Comparison {
  exported: number;
  both: number;
  /** Functions where seed and ours-without-the-indirect-rule reach the same set. */
  agreeDirect: number;
  /** Functions where ours-with-the-rule reaches everything the seed reaches. */
  coversSeedWithRule: number;
  /** Functions where the two agree once blanket entries are set aside and every remaining disagreement is explained. */
  disagreements: Disagreement[];
  /** ours-with-rule minus (seed ∪ ours-direct): counted, not categorised one by one. */
  ruleOnly: number;
  blanket: number[];
}

const N = (s: string): number => syscallNumber(s)!;

/** Names the seed may give the function our export `name` is: itself, then glibc's internal spellings. */
function seedAliases(name: string): string[] {
  return [`__libc_${name}`, `__${name}`, `__${name}_internal`, `_IO_${name}`];
}

/** Our export that a seed node name stands for (`__chmod` → `chmod`), if any. */
function ourName(reach: ObjectReach, seedName: string): string | undefined {
  // GCC clone suffixes, and glibc's `_new`/`_old` implementations of versioned symbols.
  const base = seedName.replace(/\.(isra|part|constprop|cold)\.?\d*$/, '').replace(/_(new|old)$/, '');
  for (const c of [base, base.replace(/^__libc_/, ''), base.replace(/^_+/, '')]) if (reach.exported(c).length) return c;
  return undefined;
}

export function compareGlibc(reach: ObjectReach, seedGraph: CallGraph, seed: SeedCallgraph): Comparison {
  const leafCount = new Map<number, number>();
  for (const nrs of seed.syscallLeaves.values()) for (const n of nrs) leafCount.set(n, (leafCount.get(n) ?? 0) + 1);
  const blanket = new Set([...leafCount].filter(([, c]) => c >= seed.syscallLeaves.size / 2).map(([n]) => n));

  const known = reach.exportNames().filter((n) => seedGraph.hasNode(n) && seedGraph.getNodeAttributes(n).kind === 'function');
  const S = new Map<string, Set<number>>();
  const D = new Map<string, Set<number>>();
  const I = new Map<string, Set<number>>();
  for (const n of known) {
    S.set(n, reachableSyscalls(seedGraph, [n]).syscalls);
    D.set(n, reach.reach(n, { indirectRule: false })!.syscalls);
    I.set(n, reach.reach(n, { indirectRule: true })!.syscalls);
  }
  // Memoised lookups for the cross-function checks.
  const ourReachedNames = new Map<string, Set<string>>();
  const fnNames = new Map<number, string[]>();
  for (const n of reach.exportNames()) for (const f of reach.exported(n)) (fnNames.get(f) ?? fnNames.set(f, []).get(f)!).push(n);
  const oursReached = (n: string) => {
    let s = ourReachedNames.get(n);
    if (!s) {
      s = new Set(reach.reachedFunctions(n).flatMap((f) => fnNames.get(f) ?? []));
      ourReachedNames.set(n, s);
    }
    return s;
  };
  const seedReached = new Map<string, string[]>();
  const seedCallees = (n: string) => {
    let s = seedReached.get(n);
    if (!s) {
      const out: string[] = [];
      const seen = new Set([n]);
      const stack = [n];
      while (stack.length) for (const t of seedGraph.outNeighbors(stack.pop()!)) if (!seen.has(t)) { seen.add(t); stack.push(t); if (seedGraph.getNodeAttributes(t).kind === 'function') out.push(t); }
      seedReached.set(n, (s = out));
    }
    return s;
  };

  const out: Disagreement[] = [];
  const pending: Disagreement[] = [];
  for (const n of known) {
    const s = S.get(n)!, d = D.get(n)!, i = I.get(n)!;
    for (const x of s) {
      if (d.has(x)) continue;
      const name = syscallName(x) ?? '';
      let category: Category = 'unexplained';
      if (blanket.has(x)) category = 'seed-blanket';
      else if ((LEGACY_REPLACEMENTS[name] ?? []).some((y) => d.has(N(y)))) category = 'legacy-syscall-replaced';
      else if (i.has(x)) category = 'ours-via-indirect-call';
      else if (!reach.reachedFunctions(n).some((f) => f !== reach.exported(n)[0]) && d.size === 0) category = 'stub-in-2.36';
      else if (seedCallees(n).some((g) => { const o = ourName(reach, g); return !!o && o !== n && D.get(o)?.has(x) && !oursReached(n).has(o); })) category = 'call-dropped-in-2.36';
      (category === 'unexplained' ? pending : out).push({ fn: n, syscall: x, side: 'seed', category });
    }
    for (const x of d) {
      if (s.has(x)) continue;
      const name = syscallName(x) ?? '';
      let category: Category = 'unexplained';
      if (!seedGraph.hasNode(syscallNodeKey(x))) category = 'syscall-unknown-to-seed';
      else if (Object.entries(LEGACY_REPLACEMENTS).some(([old, ys]) => ys.includes(name) && s.has(N(old)))) category = 'legacy-syscall-replaced';
      else if (seedAliases(n).some((a) => seedGraph.hasNode(a) && reachableSyscalls(seedGraph, [a]).syscalls.has(x))) category = 'seed-lost-alias';
      else if (reach.ownSyscalls(n).has(x)) category = 'seed-missed-inline-syscall';
      (category === 'unexplained' ? pending : out).push({ fn: n, syscall: x, side: 'ours', category });
    }
  }
  // A disagreement another function it reaches has too, explained there, is that one.
  const explained = new Set(out.map((e) => `${e.side}:${e.fn}:${e.syscall}`));
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of pending) {
      if (p.category !== 'unexplained') continue;
      const callees = p.side === 'ours' ? [...oursReached(p.fn)] : seedCallees(p.fn).map((g) => ourName(reach, g) ?? g);
      if (callees.some((g) => g !== p.fn && explained.has(`${p.side}:${g}:${p.syscall}`))) {
        p.category = 'inherited-from-callee';
        explained.add(`${p.side}:${p.fn}:${p.syscall}`);
        changed = true;
      }
    }
  }
  out.push(...pending);
  let ruleOnly = 0;
  for (const n of known) for (const x of I.get(n)!) if (!S.get(n)!.has(x) && !D.get(n)!.has(x)) ruleOnly++;
  return {
    exported: reach.exportNames().length,
    both: known.length,
    agreeDirect: known.filter((n) => S.get(n)!.size === D.get(n)!.size && [...S.get(n)!].every((x) => D.get(n)!.has(x))).length,
    coversSeedWithRule: known.filter((n) => [...S.get(n)!].every((x) => I.get(n)!.has(x))).length,
    disagreements: out,
    ruleOnly,
    blanket: [...blanket].sort((a, b) => a - b),
  };
}

/** Counts per side and category, as a Markdown table. */
export function comparisonTable(c: Comparison): string {
  const rows = new Map<string, { n: number; fns: Set<string>; sys: Map<number, number> }>();
  for (const d of c.disagreements) {
    const k = `${d.side}|${d.category}`;
    const r = rows.get(k) ?? rows.set(k, { n: 0, fns: new Set(), sys: new Map() }).get(k)!;
    r.n++;
    r.fns.add(d.fn);
    r.sys.set(d.syscall, (r.sys.get(d.syscall) ?? 0) + 1);
  }
  const lines = ['| only in | category | (function, syscall) pairs | functions | top syscalls |', '|---|---|---:|---:|---|'];
  for (const [k, r] of [...rows].sort()) {
    const [side, cat] = k.split('|');
    const top = [...r.sys].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([nr, n]) => `${syscallName(nr) ?? nr} ${n}`).join(', ');
    lines.push(`| ${side} | ${cat} | ${r.n} | ${r.fns.size} | ${top} |`);
  }
  return lines.join('\n');
}
