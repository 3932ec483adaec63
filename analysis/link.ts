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

/** Node ids: ROOT and INDIRECT first, then every object's functions, then syscall numbers as they appear. */
const ROOT = 0;
const INDIRECT = 1;
const SPECIAL_KEYS = ['<root>', '<indirect>'];

/** Edge labels (`via`), as small integers: 0 none, then the fixed ones, then `import NAME` by interned name. */
const VIA_FIXED: (ChainStep['via'] | undefined)[] = [undefined, 'call', 'indirect', 'entry', 'init', 'syscall()'];
const V_CALL = 1;
const V_INDIRECT = 2;
const V_ENTRY = 3;
const V_INIT = 4;
const V_SYSCALL_FN = 5;

/**
 * Edges in insertion order as parallel typed arrays; the walk then reads them per
 * source node (CSR, stable), so a node's successors keep the order they were added in.
 * Duplicate edges are kept: the walk looks at a successor's first edge only, which is
 * the one a deduplicating graph would have kept (first insertion wins).
 */
class EdgeList {
  n = 0;
  src = new Int32Array(1 << 12);
  dst = new Int32Array(1 << 12);
  via = new Int32Array(1 << 12);
  site = new Float64Array(1 << 12);

  add(a: number, b: number, via: number, site: number): void {
    if (this.n === this.src.length) this.grow();
    const i = this.n++;
    this.src[i] = a;
    this.dst[i] = b;
    this.via[i] = via;
    this.site[i] = site;
  }

  private grow(): void {
    const cap = this.src.length * 2;
    const g = <T extends Int32Array | Float64Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(cap);
      b.set(a);
      return b;
    };
    this.src = g(this.src, Int32Array);
    this.dst = g(this.dst, Int32Array);
    this.via = g(this.via, Int32Array);
    this.site = g(this.site, Float64Array);
  }
}

/** Compressed adjacency: the successors of node v are edges order[start[v]] .. order[start[v+1]-1]. */
interface Adjacency {
  start: Int32Array;
  order: Int32Array;
}

function adjacency(edges: EdgeList, nodes: number): Adjacency {
  const start = new Int32Array(nodes + 1);
  for (let e = 0; e < edges.n; e++) start[edges.src[e] + 1]++;
  for (let v = 0; v < nodes; v++) start[v + 1] += start[v];
  const fill = start.slice(0, nodes);
  const order = new Int32Array(edges.n);
  for (let e = 0; e < edges.n; e++) order[fill[edges.src[e]]++] = e;
  return { start, order };
}

/** Distinct (source, target) pairs: what a graph without parallel edges would count. */
function distinctEdges(edges: EdgeList, adj: Adjacency, nodes: number): number {
  const stamp = new Int32Array(nodes).fill(-1);
  let count = 0;
  for (let v = 0; v < nodes; v++) {
    for (let k = adj.start[v]; k < adj.start[v + 1]; k++) {
      const d = edges.dst[adj.order[k]];
      if (stamp[d] !== v) {
        stamp[d] = v;
        count++;
      }
    }
  }
  return count;
}

interface Walk {
  /** Nodes in the order the breadth-first walk expanded them (ROOT first). */
  visited: Int32Array;
  visitedCount: number;
  seen: Uint8Array;
  /** The node that first named each node, and through which edge (-1: none). */
  parent: Int32Array;
  parentEdge: Int32Array;
  /** Nodes in the order they got their parent. */
  parented: Int32Array;
  parentedCount: number;
}

/**
 * Breadth-first from ROOT. A node's parent is the first expanded node with an edge to
 * it (so chains are shortest); with `followIndirect` false INDIRECT is reached but
 * not expanded, and not counted as seen.
 */
function reach(edges: EdgeList, adj: Adjacency, nodes: number, followIndirect: boolean, withParents: boolean): Walk {
  const queued = new Uint8Array(nodes);
  const seen = new Uint8Array(nodes);
  const queue = new Int32Array(nodes);
  const visited = new Int32Array(nodes);
  const parent = new Int32Array(withParents ? nodes : 0).fill(-1);
  const parentEdge = new Int32Array(withParents ? nodes : 0).fill(-1);
  const parented = new Int32Array(withParents ? nodes : 0);
  let parentedCount = 0;
  let visitedCount = 0;
  let head = 0;
  let tail = 0;
  queue[tail++] = ROOT;
  queued[ROOT] = 1;
  const { start, order } = adj;
  const dst = edges.dst;
  while (head < tail) {
    const v = queue[head++];
    if (!followIndirect && v === INDIRECT) continue;
    seen[v] = 1;
    visited[visitedCount++] = v;
    for (let k = start[v]; k < start[v + 1]; k++) {
      const e = order[k];
      const d = dst[e];
      if (withParents && parent[d] < 0 && d !== ROOT) {
        parent[d] = v;
        parentEdge[d] = e;
        parented[parentedCount++] = d;
      }
      if (!queued[d]) {
        queued[d] = 1;
        queue[tail++] = d;
      }
    }
  }
  return { visited, visitedCount, seen, parent, parentEdge, parented, parentedCount };
}

export function resolveProgram(input: ProgramInput): ProgramResolution {
  // One object list: executable, libraries in load order, the loader (once).
  const objects: ProgramObject[] = [input.executable];
  const listed = new Set<string>([input.executable.path]);
  for (const l of input.libraries) {
    if (listed.has(l.path)) continue;
    listed.add(l.path);
    objects.push(l);
  }
  let loaderIdx: number | undefined;
  if (input.loader) {
    loaderIdx = objects.findIndex((o) => o.path === input.loader!.path);
    if (loaderIdx < 0) {
      loaderIdx = objects.length;
      objects.push(input.loader);
    }
  }
  const indexes = objects.map((o) => exportIndex(o.summary));

  // Function nodes: object o's function f is node fnBase[o] + f.
  const fnBase: number[] = [];
  let nodes = SPECIAL_KEYS.length;
  for (const ob of objects) {
    fnBase.push(nodes);
    nodes += ob.summary.functions.length;
  }
  const fnNodes = nodes;
  /** Node of object o's function f; an index past the object's functions is a broken summary, never a silent edge into a neighbour. */
  const fnNode = (o: number, f: number): number => {
    if (!Number.isInteger(f) || f < 0 || f >= objects[o].summary.functions.length) throw new Error(`resolveProgram: ${objects[o].path} has no function #${f}`);
    return fnBase[o] + f;
  };
  const sysNode = new Map<number, number>();
  const sysNr: number[] = [];
  const sys = (nr: number) => {
    let k = sysNode.get(nr);
    if (k === undefined) {
      k = nodes++;
      sysNode.set(nr, k);
      sysNr.push(nr);
    }
    return k;
  };
  const objectOf = (node: number): number => {
    let lo = 0;
    let hi = fnBase.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (fnBase[mid] <= node) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  const edges = new EdgeList();
  const viaNames: string[] = [];
  const viaIds = new Map<string, number>();
  const importVia = (name: string): number => {
    let v = viaIds.get(name);
    if (v === undefined) {
      v = VIA_FIXED.length + viaNames.length;
      viaNames.push(name);
      viaIds.set(name, v);
    }
    return v;
  };
  const viaOf = (v: number): ChainStep['via'] | undefined => (v < VIA_FIXED.length ? VIA_FIXED[v] : `import ${viaNames[v - VIA_FIXED.length]}`);

  // Import resolution in the global scope (load order): first object defining it wins.
  const unresolvedImports: ProgramResolution['unresolvedImports'] = [];
  const bindings: Map<number, number[]>[] = objects.map((ob) => {
    const m = new Map<number, number[]>();
    // Only imports code calls or whose address is stored matter; data imports (stdout,
    // _rtld_global) bind to objects, not functions.
    const used = new Set<number>(ob.summary.importsAddressTaken);
    for (const fn of ob.summary.functions) if (fn.i) for (const i of fn.i) used.add(i);
    ob.summary.imports.forEach((key, i) => {
      if (!used.has(i)) return;
      // ld.so's global scope: executable, then libraries in load order; an object's
      // undefined symbols are never its own definitions, so no self-first rule.
      for (let p = 0; p < objects.length; p++) {
        const fns = matchExport(indexes[p], key);
        if (fns.length) {
          m.set(i, fns.map((f) => fnNode(p, f)));
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
    const base = fnBase[o];
    const args = new Map(s.importArgs.map((x) => [x.import, x]));
    const viaImport = s.imports.map((name) => importVia(name));
    const fns = s.functions;
    for (let f = 0; f < fns.length; f++) {
      const fn = fns[f];
      const from = base + f;
      if (fn.e) for (const t of fn.e) edges.add(from, fnNode(o, t), V_CALL, NaN);
      if (fn.i) {
        for (const i of fn.i) {
          const bound = bindings[o].get(i);
          if (!bound) continue;
          for (const b of bound) {
            edges.add(from, b, viaImport[i], NaN);
            const bo = objectOf(b);
            const w = wrappers[bo].get(b - fnBase[bo]);
            if (w && !(args.get(i) && JSON.stringify(args.get(i)!.loc) === JSON.stringify(w.loc))) {
              pendingUnresolved.push({ o, f, site: w.site, siteObject: bo, reason: `calls ${s.imports[i]}, a wrapper taking the syscall number in ${JSON.stringify(w.loc)}, whose argument was not recovered here` });
            }
          }
        }
      }
      if (fn.s) for (const st of fn.s) for (const nr of st.nr) edges.add(from, sys(nr), 0, st.at);
      if (fn.ic || fn.ij) edges.add(from, INDIRECT, V_INDIRECT, NaN);
    }
    for (const x of s.importArgs) {
      for (const u of x.uses) for (const nr of u.nr) edges.add(fnNode(o, u.fn), sys(nr), V_SYSCALL_FN, -1);
    }
    for (const a of s.addressTaken) edges.add(INDIRECT, fnNode(o, a), V_INDIRECT, NaN);
    for (const i of s.importsAddressTaken) for (const b of bindings[o].get(i) ?? []) edges.add(INDIRECT, b, V_INDIRECT, NaN);
    for (const u of s.unresolved) pendingUnresolved.push({ o, f: u.fn, site: u.site, reason: u.reason, siteObject: o });
    // Library constructors and destructors run whatever the program does; the
    // executable's own run through __libc_start_main / the loader.
    for (const i of s.inits) edges.add(ROOT, fnNode(o, i), V_INIT, NaN);
  });
  const exe = input.executable.summary;
  if (exe.entry !== undefined) edges.add(ROOT, fnNode(0, exe.entry), V_ENTRY, NaN);
  if (loaderIdx !== undefined) {
    const l = objects[loaderIdx].summary;
    if (l.entry !== undefined) edges.add(ROOT, fnNode(loaderIdx, l.entry), V_ENTRY, NaN);
  }
  // A param wrapper whose address is taken can be called indirectly with any number.
  objects.forEach((ob, o) => {
    const taken = new Set(ob.summary.addressTaken);
    for (const w of ob.summary.paramWrappers) {
      if (taken.has(w.fn)) pendingUnresolved.push({ o: -1, f: -1, site: w.site, siteObject: o, reason: `${fnName(ob, w.fn)} takes the syscall number as a parameter and its address is taken` });
    }
  });

  const adj = adjacency(edges, nodes);
  const direct = reach(edges, adj, nodes, false, false);
  const full = reach(edges, adj, nodes, true, true);

  const numbers = (w: Walk) => {
    const out = new Set<number>();
    for (let k = 0; k < w.visitedCount; k++) {
      const v = w.visited[k];
      if (v >= fnNodes) out.add(sysNr[v - fnNodes]);
    }
    return out;
  };

  const label = (v: number): { object: string; function: string } => {
    if (v >= SPECIAL_KEYS.length && v < fnNodes) {
      const o = objectOf(v);
      return { object: objects[o].path, function: fnName(objects[o], v - fnBase[o]) };
    }
    return { object: '', function: v < SPECIAL_KEYS.length ? SPECIAL_KEYS[v] : `#${sysNr[v - fnNodes]}` };
  };
  const provenance = new Map<number, Provenance>();
  for (let k = 0; k < full.parentedCount; k++) {
    const v = full.parented[k];
    if (v < fnNodes) continue;
    const chain: number[] = [];
    for (let p = full.parent[v]; p >= 0 && p !== ROOT; p = full.parent[p]) chain.push(p);
    chain.reverse();
    // INDIRECT is not a step: the step after it is entered `via: 'indirect'` from the one before.
    const steps: ChainStep[] = [];
    for (const n of chain) {
      if (n === INDIRECT) continue;
      const via = viaOf(edges.via[full.parentEdge[n]]);
      steps.push({ ...label(n), ...(via ? { via } : {}) });
    }
    const lastEdge = full.parentEdge[v];
    const site = edges.site[lastEdge];
    const from = full.parent[v];
    provenance.set(sysNr[v - fnNodes], {
      steps,
      site: Number.isNaN(site) ? -1 : site,
      siteObject: from >= SPECIAL_KEYS.length && from < fnNodes ? objects[objectOf(from)].path : '',
    });
  }

  const unresolvedSites: UnresolvedSiteReport[] = [];
  const seenSite = new Set<string>();
  const indirectReached = full.seen[INDIRECT] === 1;
  for (const u of pendingUnresolved) {
    const reached = u.o === -1 ? indirectReached : full.seen[fnBase[u.o] + u.f] === 1;
    if (!reached) continue;
    const key = `${u.siteObject}:${u.site}:${u.reason}`;
    if (seenSite.has(key)) continue;
    seenSite.add(key);
    unresolvedSites.push({ object: objects[u.siteObject].path, site: u.site, function: u.o === -1 ? '(indirect)' : fnName(objects[u.o], u.f), reason: u.reason });
  }

  const perObject = objects.map((ob, o) => {
    let reached = 0;
    const nrs = new Set<number>();
    const base = fnBase[o];
    ob.summary.functions.forEach((fn, f) => {
      if (!full.seen[base + f]) return;
      reached++;
      for (const st of fn.s ?? []) st.nr.forEach((n) => nrs.add(n));
    });
    for (const x of ob.summary.importArgs) for (const u of x.uses) if (full.seen[base + u.fn]) u.nr.forEach((n) => nrs.add(n));
    return { path: ob.path, functions: ob.summary.functions.length, reachedFunctions: reached, syscalls: [...nrs].sort((x, y) => x - y) };
  });

  return {
    syscalls: numbers(full),
    withoutIndirectRule: numbers(direct),
    indirectRuleFired: indirectReached,
    perObject,
    unresolvedSites,
    unresolvedImports,
    provenance,
    graph: { nodes, edges: distinctEdges(edges, adj, nodes) },
  };
}

function fnName(ob: ProgramObject, f: number): string {
  const fn = ob.summary.functions[f];
  return fn.n ?? `0x${fn.a.toString(16)}`;
}
