import { DirectedGraph } from 'graphology';
import { bfsFromNode } from 'graphology-traversal';
import type { ObjectSummary } from './object-summary';

/**
 * Whole-program syscall resolution: one graph over the executable, its libraries
 * (load order) and the dynamic loader, walked from the program's entry points.
 *
 * Indirect calls follow sysfilter's sound rule: once ANY reached function of any
 * object makes an indirect call (or indirect jump), every address-taken function of
 * every loaded object is a root. It is modelled as one node, INDIRECT, with an edge
 * from each function that has an indirect transfer and an edge to every address-taken
 * function (local ones, plus exported functions whose address another object stores
 * through GLOB_DAT / R_X86_64_64). glibc's start code calls `main` through a pointer,
 * so for glibc programs the rule always fires; `withoutIndirectRule` is the same walk
 * with INDIRECT cut, to show how much the rule adds.
 *
 * Not modelled (documented limits): dlopen/dlsym, code outside `.text` (`.init`,
 * `.fini`, glibc's `__libc_freeres_fn`), signal handlers installed by address are
 * covered only through address-taken.
 */

export interface ProgramObject {
  path: string;
  summary: ObjectSummary;
}

export interface ProgramInput {
  executable: ProgramObject;
  /** Libraries in load order (breadth-first over DT_NEEDED, as ld.so searches them). */
  libraries: ProgramObject[];
  /** PT_INTERP's object, analysed from its own entry (may also be among `libraries`). */
  loader?: ProgramObject;
}

export interface ChainStep {
  object: string;
  function: string;
  /** How this step was entered from the previous one. */
  via?: 'call' | 'indirect' | 'entry' | 'init' | 'syscall()' | `import ${string}`;
}

export interface Provenance {
  steps: ChainStep[];
  /** The syscall instruction (or, for numbers passed to a wrapper, the wrapper's site). */
  site: number;
  siteObject: string;
}

export interface UnresolvedSiteReport {
  object: string;
  site: number;
  function: string;
  reason: string;
}

export interface ProgramResolution {
  syscalls: Set<number>;
  /** Syscalls reached through direct edges only (INDIRECT cut): what the sound rule adds is the difference. */
  withoutIndirectRule: Set<number>;
  /** Whether some reached function makes an indirect call, so the address-taken roots apply. */
  indirectRuleFired: boolean;
  perObject: { path: string; functions: number; reachedFunctions: number; syscalls: number[] }[];
  /** Sites in reached functions whose number is unknown on some path: never dropped. */
  unresolvedSites: UnresolvedSiteReport[];
  /** Imports no loaded object defines (weak ones are normal: __gmon_start__, _ITM_*). */
  unresolvedImports: { object: string; import: string }[];
  /** For each syscall, one shortest chain from an entry point. */
  provenance: Map<number, Provenance>;
  graph: { nodes: number; edges: number };
}

type NodeAttr = { o: number; f: number } | { nr: number } | { special: string };
type EdgeAttr = { via?: ChainStep['via']; site?: number };

const ROOT = '<root>';
const INDIRECT = '<indirect>';
const fnKey = (o: number, f: number) => `${o}:${f}`;
const sysKey = (nr: number) => `#${nr}`;

export interface ExportIndex {
  byName: Map<string, { version?: string; isDefault: boolean; fn: number }[]>;
}

export function exportIndex(s: ObjectSummary): ExportIndex {
  const byName = new Map<string, { version?: string; isDefault: boolean; fn: number }[]>();
  for (const e of s.exports) {
    const at = e.name.indexOf('@');
    const name = at < 0 ? e.name : e.name.slice(0, at);
    const isDefault = at < 0 || e.name.startsWith('@@', at);
    const version = at < 0 ? undefined : e.name.slice(at + (isDefault ? 2 : 1));
    let l = byName.get(name);
    if (!l) byName.set(name, (l = []));
    l.push({ version, isDefault, fn: e.fn });
  }
  return { byName };
}

/**
 * Matches an import (`name@VER` or `name`) against one object's exports: a versioned
 * import needs that version; an unversioned one binds to the default (`@@`) or an
 * unversioned definition — or, if the object has only non-default versions, to all
 * of them (over-approximation rather than a missed edge).
 */
export function matchExport(idx: ExportIndex, importKeyStr: string): number[] {
  const at = importKeyStr.indexOf('@');
  const name = at < 0 ? importKeyStr : importKeyStr.slice(0, at);
  const version = at < 0 ? undefined : importKeyStr.slice(at + 1);
  const cands = idx.byName.get(name);
  if (!cands) return [];
  if (version !== undefined) {
    const exact = cands.filter((c) => c.version === version);
    // A versioned reference to an unversioned definition still binds (ld.so accepts it).
    return (exact.length ? exact : cands.filter((c) => c.version === undefined)).map((c) => c.fn);
  }
  const def = cands.filter((c) => c.isDefault);
  return (def.length ? def : cands).map((c) => c.fn);
}

export function resolveProgram(input: ProgramInput): ProgramResolution {
  // One object list: executable, libraries in load order, the loader (once).
  const objects: ProgramObject[] = [input.executable];
  for (const l of input.libraries) if (!objects.some((o) => o.path === l.path)) objects.push(l);
  let loaderIdx: number | undefined;
  if (input.loader) {
    loaderIdx = objects.findIndex((o) => o.path === input.loader!.path);
    if (loaderIdx < 0) {
      loaderIdx = objects.length;
      objects.push(input.loader);
    }
  }
  const indexes = objects.map((o) => exportIndex(o.summary));
  const g = new DirectedGraph<NodeAttr, EdgeAttr>();
  g.addNode(ROOT, { special: 'root' });
  g.addNode(INDIRECT, { special: 'indirect' });
  const edge = (a: string, b: string, attr: EdgeAttr) => {
    if (!g.hasEdge(a, b)) g.addDirectedEdge(a, b, attr);
  };
  const sys = (nr: number) => {
    const k = sysKey(nr);
    if (!g.hasNode(k)) g.addNode(k, { nr });
    return k;
  };

  objects.forEach((ob, o) => ob.summary.functions.forEach((_, f) => g.addNode(fnKey(o, f), { o, f })));

  // Import resolution in the global scope (load order): first object defining it wins.
  const unresolvedImports: ProgramResolution['unresolvedImports'] = [];
  const bindings: Map<number, { o: number; f: number }[]>[] = objects.map((ob, o) => {
    const m = new Map<number, { o: number; f: number }[]>();
    // Only imports code calls or whose address is stored matter; data imports (stdout,
    // _rtld_global) bind to objects, not functions.
    const used = new Set<number>(ob.summary.importsAddressTaken);
    for (const fn of ob.summary.functions) for (const i of fn.i ?? []) used.add(i);
    ob.summary.imports.forEach((key, i) => {
      if (!used.has(i)) return;
      // ld.so's global scope: executable, then libraries in load order; an object's
      // undefined symbols are never its own definitions, so no self-first rule.
      for (let p = 0; p < objects.length; p++) {
        const fns = matchExport(indexes[p], key);
        if (fns.length) {
          m.set(i, fns.map((f) => ({ o: p, f })));
          return;
        }
      }
      unresolvedImports.push({ object: ob.path, import: key });
    });
    return m;
  });

  const wrappers = objects.map((ob) => new Map(ob.summary.paramWrappers.map((w) => [w.fn, w])));
  const pendingUnresolved: { o: number; f: number; site: number; reason: string; siteObject: number }[] = [];

  objects.forEach((ob, o) => {
    const s = ob.summary;
    const args = new Map(s.importArgs.map((x) => [x.import, x]));
    s.functions.forEach((fn, f) => {
      const from = fnKey(o, f);
      for (const t of fn.e ?? []) edge(from, fnKey(o, t), { via: 'call' });
      for (const i of fn.i ?? []) {
        for (const b of bindings[o].get(i) ?? []) {
          edge(from, fnKey(b.o, b.f), { via: `import ${s.imports[i]}` });
          const w = wrappers[b.o].get(b.f);
          if (w && !(args.get(i) && JSON.stringify(args.get(i)!.loc) === JSON.stringify(w.loc))) {
            pendingUnresolved.push({ o, f, site: w.site, siteObject: b.o, reason: `calls ${s.imports[i]}, a wrapper taking the syscall number in ${JSON.stringify(w.loc)}, whose argument was not recovered here` });
          }
        }
      }
      for (const st of fn.s ?? []) for (const nr of st.nr) edge(from, sys(nr), { site: st.at });
      if (fn.ic || fn.ij) edge(from, INDIRECT, { via: 'indirect' });
    });
    for (const x of s.importArgs) {
      for (const u of x.uses) for (const nr of u.nr) edge(fnKey(o, u.fn), sys(nr), { via: 'syscall()', site: -1 });
    }
    for (const a of s.addressTaken) edge(INDIRECT, fnKey(o, a), { via: 'indirect' });
    for (const i of s.importsAddressTaken) for (const b of bindings[o].get(i) ?? []) edge(INDIRECT, fnKey(b.o, b.f), { via: 'indirect' });
    for (const u of s.unresolved) pendingUnresolved.push({ o, f: u.fn, site: u.site, reason: u.reason, siteObject: o });
    // Library constructors and destructors run whatever the program does; the
    // executable's own run through __libc_start_main / the loader.
    for (const i of s.inits) edge(ROOT, fnKey(o, i), { via: 'init' });
  });
  const exe = input.executable.summary;
  if (exe.entry !== undefined) edge(ROOT, fnKey(0, exe.entry), { via: 'entry' });
  if (loaderIdx !== undefined) {
    const l = objects[loaderIdx].summary;
    if (l.entry !== undefined) edge(ROOT, fnKey(loaderIdx, l.entry), { via: 'entry' });
  }
  // A param wrapper whose address is taken can be called indirectly with any number.
  objects.forEach((ob, o) => {
    const taken = new Set(ob.summary.addressTaken);
    for (const w of ob.summary.paramWrappers) {
      if (taken.has(w.fn)) pendingUnresolved.push({ o: -1, f: -1, site: w.site, siteObject: o, reason: `${fnName(ob, w.fn)} takes the syscall number as a parameter and its address is taken` });
    }
  });

  const direct = reach(g, false);
  const full = reach(g, true);

  const numbers = (seen: Set<string>) => {
    const out = new Set<number>();
    for (const k of seen) {
      const a = g.getNodeAttributes(k);
      if ('nr' in a) out.add(a.nr);
    }
    return out;
  };

  const label = (k: string): { object: string; function: string } => {
    const a = g.getNodeAttributes(k);
    if ('o' in a) return { object: objects[a.o].path, function: fnName(objects[a.o], a.f) };
    return { object: '', function: k };
  };
  const provenance = new Map<number, Provenance>();
  for (const [k, parent] of full.parent) {
    const a = g.getNodeAttributes(k);
    if (!('nr' in a)) continue;
    const chain: string[] = [];
    for (let p: string | undefined = parent; p !== undefined && p !== ROOT; p = full.parent.get(p)) chain.push(p);
    chain.reverse();
    // INDIRECT is not a step: the step after it is entered `via: 'indirect'` from the one before.
    const steps: ChainStep[] = chain.flatMap((n, idx) => {
      if (n === INDIRECT) return [];
      const via = g.getEdgeAttributes(idx === 0 ? ROOT : chain[idx - 1], n).via;
      return [{ ...label(n), ...(via ? { via } : {}) }];
    });
    const last = g.getEdgeAttributes(parent, k);
    const lastAttr = g.getNodeAttributes(parent);
    provenance.set(a.nr, { steps, site: last.site ?? -1, siteObject: 'o' in lastAttr ? objects[lastAttr.o].path : '' });
  }

  const unresolvedSites: UnresolvedSiteReport[] = [];
  const seenSite = new Set<string>();
  const indirectReached = full.seen.has(INDIRECT);
  for (const u of pendingUnresolved) {
    const reached = u.o === -1 ? indirectReached : full.seen.has(fnKey(u.o, u.f));
    if (!reached) continue;
    const key = `${u.siteObject}:${u.site}:${u.reason}`;
    if (seenSite.has(key)) continue;
    seenSite.add(key);
    unresolvedSites.push({ object: objects[u.siteObject].path, site: u.site, function: u.o === -1 ? '(indirect)' : fnName(objects[u.o], u.f), reason: u.reason });
  }

  const perObject = objects.map((ob, o) => {
    let reached = 0;
    const nrs = new Set<number>();
    ob.summary.functions.forEach((fn, f) => {
      if (!full.seen.has(fnKey(o, f))) return;
      reached++;
      for (const st of fn.s ?? []) st.nr.forEach((n) => nrs.add(n));
    });
    for (const x of ob.summary.importArgs) for (const u of x.uses) if (full.seen.has(fnKey(o, u.fn))) u.nr.forEach((n) => nrs.add(n));
    return { path: ob.path, functions: ob.summary.functions.length, reachedFunctions: reached, syscalls: [...nrs].sort((x, y) => x - y) };
  });

  return {
    syscalls: numbers(full.seen),
    withoutIndirectRule: numbers(direct.seen),
    indirectRuleFired: indirectReached,
    perObject,
    unresolvedSites,
    unresolvedImports,
    provenance,
    graph: { nodes: g.order, edges: g.size },
  };
}

/** Breadth-first from ROOT (graphology-traversal), recording each node's BFS parent for shortest chains. */
function reach(g: DirectedGraph<NodeAttr, EdgeAttr>, followIndirect: boolean): { seen: Set<string>; parent: Map<string, string> } {
  const seen = new Set<string>();
  const parent = new Map<string, string>();
  bfsFromNode(g, ROOT, (node) => {
    if (!followIndirect && node === INDIRECT) return true; // do not expand
    seen.add(node);
    for (const out of g.outNeighbors(node)) if (!parent.has(out) && out !== ROOT) parent.set(out, node);
    return false;
  });
  if (!followIndirect) seen.delete(INDIRECT);
  return { seen, parent };
}

function fnName(ob: ProgramObject, f: number): string {
  const fn = ob.summary.functions[f];
  return fn.n ?? `0x${fn.a.toString(16)}`;
}
