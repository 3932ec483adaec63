import type { ObjectSummary } from '../summary/object-summary';
import { argRules, ArgRule } from './arg-rules';
import { nameHash } from '../summary/name-hashes';
import type { ChainStep, ProgramInput, ProgramObject, Provenance, UnresolvedSiteReport } from './types';

export type { ChainStep, ProgramInput, ProgramObject, Provenance, UnresolvedSiteReport } from './types';

/**
 * Whole-program syscall resolution: one graph over the executable, its libraries
 * (load order), the dynamic loader and any dlopen'd modules, walked from the program's
 * entry points.
 *
 * Indirect calls: a function is an indirect-call target only when something that runs
 * can hold its address (the refinement of sysfilter's rule used by Nibbler and temporal
 * specialization): an instruction of a *reached* function materialises it (lea, mov
 * imm), or a pointer cell in a *live* data region holds it. A region is live when
 * reached code refers into it, when a live region points into it (vtables, method
 * tables, callback structs, `_IO_file_jumps`), or always (TLS images, init/fini arrays,
 * personality pointers). Once any reached function makes an indirect call or jump
 * (node INDIRECT), every such target is reached; the walk runs to a fixpoint. Exported
 * functions become targets only through such references in some loaded object, or by
 * name: when a dlsym is reached, every export whose name is a string in a reached
 * object's data is a root (and the loader's own by-name lookups always are).
 *
 * Three figures per program: `withoutIndirectRule` (direct edges only), `syscalls`
 * (the rule above), and `wholeProgramAT` (sysfilter's original rule: every
 * address-taken function of every object, reached or not).
 *
 * Not modelled (documented limits): names passed to dlsym that are built at run time,
 * code outside `.text`, pointers formed by arithmetic across data objects (see
 * analysis/summary/data-regions.ts for the one corner of region boundaries in stripped objects).
 */

export interface ProgramResolution {
  syscalls: Set<number>;
  /** Syscalls reached through direct edges only (INDIRECT cut): what the sound rule adds is the difference. */
  withoutIndirectRule: Set<number>;
  /** Syscalls under sysfilter's original rule (every address-taken function of every object is a target). */
  wholeProgramAT: Set<number>;
  /** Indirect-call targets: how many the reachable rule kept, of how many the whole-program rule has. */
  targets: { reachable: number; wholeProgram: number };
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
  /** Tracked syscalls (socket families, analysis/link/arg-rules.ts): the argument values reached sites use, or the site that forced no condition. */
  argRules: Map<number, ArgRule>;
  /**
   * Hashes (analysis/summary/name-hashes.ts) of the names and paths reached *code* refers to
   * (lea/mov of the string's address): what it can pass to an exec by a constant path.
   * Live data's strings are left out here: a stripped library's data regions are coarse
   * (glibc's strtol reaches a region that also points at "/bin/sh"), so counting them
   * would make every program a shell's caller; a path held only in a data table is the
   * documented limit (docs/limits.md).
   */
  reachedNames: Set<number>;
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

/** Node ids: ROOT and INDIRECT first, then every object's functions, then its data regions, then syscall numbers as they appear. */
const ROOT = 0;
const INDIRECT = 1;
const SPECIAL_KEYS = ['<root>', '<indirect>'];

/** Edge labels (`via`), as small integers: 0 none, then the fixed ones, then `import NAME` by interned name. */
const VIA_FIXED: (ChainStep['via'] | undefined)[] = [undefined, 'call', 'indirect', 'entry', 'init', 'syscall()', 'dlsym'];
const V_CALL = 1;
const V_INDIRECT = 2;
const V_ENTRY = 3;
const V_INIT = 4;
const V_SYSCALL_FN = 5;
const V_DLSYM = 6;

/**
 * How the walk treats an edge. NORMAL: its target is reached. TAKES: its target becomes
 * an indirect-call target (reached once INDIRECT is). WHOLE_AT: INDIRECT → every
 * address-taken function, followed only for the whole-program figure.
 */
const E_NORMAL = 0;
const E_TAKES = 1;
const E_WHOLE_AT = 2;

type Rule = 'direct' | 'reachable' | 'whole';

/** Which of a node's edges reach() expands: ROOT's entry edges go first. */
const ALL_EDGES = 0;
const ENTRIES_ONLY = 1;
const ALL_BUT_ENTRIES = 2;

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
  kind = new Uint8Array(1 << 12);
  site = new Float64Array(1 << 12);

  add(a: number, b: number, via: number, site: number, kind = E_NORMAL): void {
    if (this.n === this.src.length) this.grow();
    const i = this.n++;
    this.src[i] = a;
    this.dst[i] = b;
    this.via[i] = via;
    this.site[i] = site;
    this.kind[i] = kind;
  }

  private grow(): void {
    const cap = this.src.length * 2;
    const g = <T extends Int32Array | Float64Array | Uint8Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(cap);
      b.set(a);
      return b;
    };
    this.src = g(this.src, Int32Array);
    this.dst = g(this.dst, Int32Array);
    this.via = g(this.via, Int32Array);
    this.site = g(this.site, Float64Array);
    this.kind = g(this.kind, Uint8Array);
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

/** Distinct (source, target) pairs of call-graph edges: what a graph without parallel edges would count. */
function distinctEdges(edges: EdgeList, adj: Adjacency, nodes: number): number {
  const stamp = new Int32Array(nodes).fill(-1);
  let count = 0;
  for (let v = 0; v < nodes; v++) {
    for (let k = adj.start[v]; k < adj.start[v + 1]; k++) {
      const e = adj.order[k];
      if (edges.kind[e] === E_WHOLE_AT) continue;
      const d = edges.dst[e];
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
  /** For indirect-call targets: the TAKES edge that first made them one (-1: none). */
  takenEdge: Int32Array;
  targets: number;
}

/**
 * By-name lookups, applied each time the walk's queue runs dry: the names (string
 * hashes) that reached code and live data hold name exports, which become roots. The
 * loader's own names always count (it looks up malloc & co. and __libc_early_init by
 * name); everyone's count once a dlsym is reached.
 */
interface LateRoots {
  /** Nodes whose being reached means the program can look names up (dlsym & co.). */
  dlsymNodes: number[];
  /** The name hashes a node (function or region) holds. */
  namesOf: Map<number, number[]>;
  /** Whether a node belongs to the loader (whose lookups happen without dlsym). */
  isLoaderNode(node: number): boolean;
  /** Export nodes (functions, data regions) by name hash. */
  exportsByHash: Map<number, number[]>;
  /** Nodes whose being reached means the program can open libraries by name. */
  dlopenNodes: number[];
  /** The roots of each dlopen candidate (its constructors, exports, data exports), by the hash of a name that opens it. */
  candidatesByHash: Map<number, number[]>;
}

/**
 * Breadth-first from ROOT, to a fixpoint. A node's parent is the first expanded node with
 * an edge to it (so chains are shortest). INDIRECT is expanded under 'reachable' (to
 * each TAKES target, as it is taken) and 'whole' (to every WHOLE_AT target); under
 * 'direct' it is reached but not expanded, and not counted as seen.
 */
function reach(edges: EdgeList, adj: Adjacency, nodes: number, rule: Rule, withParents: boolean, late: LateRoots): Walk {
  const queued = new Uint8Array(nodes);
  const seen = new Uint8Array(nodes);
  const taken = new Uint8Array(nodes);
  const takenList: number[] = [];
  const queue = new Int32Array(nodes);
  const visited = new Int32Array(nodes);
  const parent = new Int32Array(withParents ? nodes : 0).fill(-1);
  const parentEdge = new Int32Array(withParents ? nodes : 0).fill(-1);
  const parented = new Int32Array(withParents ? nodes : 0);
  const takenEdge = new Int32Array(withParents ? nodes : 0).fill(-1);
  let parentedCount = 0;
  let visitedCount = 0;
  let head = 0;
  let tail = 0;
  let indirectOpen = false;
  const { start, order } = adj;
  const { dst, kind } = edges;
  const enqueue = (d: number, from: number, e: number) => {
    if (withParents && parent[d] < 0 && d !== ROOT) {
      parent[d] = from;
      parentEdge[d] = e;
      parented[parentedCount++] = d;
    }
    if (!queued[d]) {
      queued[d] = 1;
      queue[tail++] = d;
    }
  };
  const expand = (v: number, which: number) => {
    for (let k = start[v]; k < start[v + 1]; k++) {
      const e = order[k];
      // Marks (TAKES) reach nothing by themselves: they go with the entries.
      if (which !== ALL_EDGES && (edges.via[e] === V_ENTRY || kind[e] === E_TAKES) !== (which === ENTRIES_ONLY)) continue;
      const d = dst[e];
      const ek = kind[e];
      if (ek === E_NORMAL) enqueue(d, v, e);
      else if (ek === E_TAKES) {
        if (rule !== 'reachable' || taken[d]) continue;
        taken[d] = 1;
        takenList.push(d);
        if (withParents) takenEdge[d] = e;
        if (indirectOpen) enqueue(d, INDIRECT, e);
      } else if (rule === 'whole') enqueue(d, v, e);
    }
  };
  let rootDone = false;
  enqueue(ROOT, -1, -1);
  let dlsymOpen = false;
  let dlopenOpen = false;
  let namesUpTo = 0;
  for (;;) {
    while (head < tail) {
      const v = queue[head++];
      if (v === INDIRECT && rule === 'direct') continue;
      seen[v] = 1;
      visited[visitedCount++] = v;
      if (v === INDIRECT && rule === 'reachable') {
        indirectOpen = true;
        for (const t of takenList) enqueue(t, INDIRECT, takenEdge.length ? takenEdge[t] : -1);
      }
      // The program's entries first: chains then start where the program does, and the
      // other roots (constructors, IFUNC resolvers, by-name lookups) only parent what
      // the entries do not reach. What is reached is the same either way.
      expand(v, v === ROOT ? ENTRIES_ONLY : ALL_EDGES);
    }
    if (!rootDone) {
      rootDone = true;
      expand(ROOT, ALL_BUT_ENTRIES);
      continue;
    }
    // The queue ran dry: do the names reached so far name more roots?
    const all = late.dlsymNodes.some((n) => seen[n]);
    const opener = late.dlopenNodes.find((n) => seen[n]);
    // Each widening of what counts rescans the names seen so far.
    if ((all && !dlsymOpen) || (opener !== undefined && !dlopenOpen)) namesUpTo = 0;
    if (all) dlsymOpen = true;
    if (opener !== undefined) dlopenOpen = true;
    const from = all ? late.dlsymNodes.find((n) => seen[n])! : ROOT;
    for (; namesUpTo < visitedCount; namesUpTo++) {
      const v = visited[namesUpTo];
      const hs = late.namesOf.get(v);
      if (!hs) continue;
      for (const h of hs) {
        if (all || late.isLoaderNode(v)) for (const r of late.exportsByHash.get(h) ?? []) if (!queued[r]) enqueue(r, from, -1);
        if (opener !== undefined) for (const r of late.candidatesByHash.get(h) ?? []) if (!queued[r]) enqueue(r, opener, -1);
      }
    }
    if (head === tail) break;
  }
  return { visited, visitedCount, seen, parent, parentEdge, parented, parentedCount, takenEdge, targets: rule === 'reachable' ? takenList.length : 0 };
}

/** Functions whose being reached lets the program look up symbols by name. */
const DLSYM_NAMES = new Set(['dlsym', 'dlvsym', '__libc_dlsym', '__libc_dlvsym', '__dlsym', '__dlvsym', '_dl_sym', '_dl_vsym']);
/** Functions whose being reached lets the program load libraries by name. */
const DLOPEN_NAMES = new Set(['dlopen', 'dlmopen', '__libc_dlopen_mode', '__dlopen', '__dlmopen', '_dl_open']);

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

  // Function nodes: object o's function f is node fnBase[o] + f; then region nodes.
  const fnBase: number[] = [];
  let nodes = SPECIAL_KEYS.length;
  for (const ob of objects) {
    fnBase.push(nodes);
    nodes += ob.summary.functions.length;
  }
  const fnNodes = nodes;
  const regionBase: number[] = [];
  for (const ob of objects) {
    regionBase.push(nodes);
    nodes += ob.summary.regions?.length ?? 0;
  }
  const regionNodes = nodes;
  /** Node of object o's function f; an index past the object's functions is a broken summary, never a silent edge into a neighbour. */
  const fnNode = (o: number, f: number): number => {
    if (!Number.isInteger(f) || f < 0 || f >= objects[o].summary.functions.length) throw new Error(`resolveProgram: ${objects[o].path} has no function #${f}`);
    return fnBase[o] + f;
  };
  const regionNode = (o: number, r: number): number => {
    if (!Number.isInteger(r) || r < 0 || r >= (objects[o].summary.regions?.length ?? 0)) throw new Error(`resolveProgram: ${objects[o].path} has no data region #${r}`);
    return regionBase[o] + r;
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
    const bases = node < fnNodes ? fnBase : regionBase;
    let lo = 0;
    let hi = bases.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bases[mid] <= node) lo = mid;
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

  // Data exports by name, for imports of data (GOT slots, COPY relocations) and dlsym.
  const dataIndexes = objects.map((o) => {
    const m = new Map<string, number>();
    for (const x of o.summary.dataExports ?? []) {
      const at = x.name.indexOf('@');
      const bare = at < 0 ? x.name : x.name.slice(0, at);
      if (!m.has(bare) || x.name.includes('@@')) m.set(bare, x.r);
    }
    return m;
  });

  // Import resolution in the global scope (load order): first object defining it wins.
  const unresolvedImports: ProgramResolution['unresolvedImports'] = [];
  const referencedImports = objects.map((ob) => {
    const used = new Set<number>();
    for (const r of ob.summary.regions ?? []) for (const c of r.c) if (c[1] === CELL_IMPORT) used.add(c[2]);
    return used;
  });
  const bindings: Map<number, number[]>[] = objects.map((ob, o) => {
    const m = new Map<number, number[]>();
    // Only imports code calls or whose address is stored matter; data imports (stdout,
    // _rtld_global) bind to objects, not functions.
    const asFunction = new Set<number>(ob.summary.importsAddressTaken);
    for (const fn of ob.summary.functions) if (fn.i) for (const i of fn.i) asFunction.add(i);
    const used = new Set<number>([...asFunction, ...referencedImports[o]]);
    ob.summary.imports.forEach((key, i) => {
      if (!used.has(i)) return;
      // ld.so's global scope: executable, then libraries in load order; an object's
      // undefined symbols are never its own definitions, so no self-first rule.
      for (let p = 0; p < objects.length; p++) {
        // A library the program might dlopen is not in its global scope.
        if (objects[p].openedBy && !ob.openedBy) continue;
        const fns = matchExport(indexes[p], key);
        if (fns.length) {
          m.set(i, fns.map((f) => fnNode(p, f)));
          return;
        }
      }
      // Only held in data words: a data import (bound below), not a missing function.
      if (!asFunction.has(i)) return;
      unresolvedImports.push({ object: ob.path, import: key });
    });
    return m;
  });
  /**
   * Region node of an imported data symbol, in the first object (load order) exporting
   * it, never the importer itself: a COPY relocation's symbol is defined by the
   * executable (the copy) but its contents come from the library's definition.
   */
  const dataBinding = (key: string, importer: number): number | undefined => {
    const at = key.indexOf('@');
    const bare = at < 0 ? key : key.slice(0, at);
    for (let p = 0; p < objects.length; p++) {
      if (p === importer) continue;
      const r = dataIndexes[p].get(bare);
      if (r !== undefined) return regionNode(p, r);
    }
    return undefined;
  };

  // The entries first: an entry that is also a constructor is entered as the entry.
  const exe = input.executable.summary;
  if (exe.entry !== undefined) edges.add(ROOT, fnNode(0, exe.entry), V_ENTRY, NaN);
  if (loaderIdx !== undefined) {
    const l = objects[loaderIdx].summary;
    if (l.entry !== undefined) edges.add(ROOT, fnNode(loaderIdx, l.entry), V_ENTRY, NaN);
  }
  const candidatesByHash = new Map<number, number[]>();
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
      if (fn.t) for (const t of fn.t) edges.add(from, fnNode(o, t), V_INDIRECT, NaN, E_TAKES);
      if (fn.ti) for (const i of fn.ti) for (const b of bindings[o].get(i) ?? []) edges.add(from, b, V_INDIRECT, NaN, E_TAKES);
      if (fn.d) for (const r of fn.d) edges.add(from, regionNode(o, r), 0, NaN);
    }
    for (const x of s.importArgs) {
      for (const u of x.uses) for (const nr of u.nr) edges.add(fnNode(o, u.fn), sys(nr), V_SYSCALL_FN, -1);
    }
    (s.regions ?? []).forEach((r, ri) => {
      const from = regionNode(o, ri);
      for (const [at, kind, target] of r.c) {
        if (kind === CELL_FN) edges.add(from, fnNode(o, target), V_INDIRECT, at, E_TAKES);
        else if (kind === CELL_REGION) edges.add(from, regionNode(o, target), 0, at);
        else if (kind === CELL_IMPORT) {
          for (const b of bindings[o].get(target) ?? []) edges.add(from, b, V_INDIRECT, at, E_TAKES);
          const d = dataBinding(s.imports[target], o);
          if (d !== undefined) edges.add(from, d, 0, at);
        }
      }
    });
    if (ob.openedBy) {
      // Roots only once it is opened (see LateRoots).
      // Its constructors run; its exports are found by dlsym names like any other's.
      const roots = [...s.inits.map((i) => fnNode(o, i)), ...(s.rootRegions ?? []).map((r) => regionNode(o, r))];
      for (const h of ob.openedBy) {
        let l = candidatesByHash.get(h);
        if (!l) candidatesByHash.set(h, (l = []));
        l.push(...roots);
      }
      for (const u of s.unresolved) pendingUnresolved.push({ o, f: u.fn, site: u.site, reason: u.reason, siteObject: o });
      return;
    }
    for (const r of s.rootRegions ?? []) edges.add(ROOT, regionNode(o, r), 0, NaN);
    for (const f of s.takenAlways ?? []) edges.add(ROOT, fnNode(o, f), V_INDIRECT, NaN, E_TAKES);
    if (s.regions === undefined) {
      // A summary without data facts (written before they existed): every address-taken
      // function is a target whatever runs — sysfilter's rule, still sound.
      for (const a of s.addressTaken) edges.add(ROOT, fnNode(o, a), V_INDIRECT, NaN, E_TAKES);
      for (const i of s.importsAddressTaken) for (const b of bindings[o].get(i) ?? []) edges.add(ROOT, b, V_INDIRECT, NaN, E_TAKES);
    }
    // sysfilter's original rule, for the whole-program figure.
    for (const a of s.addressTaken) edges.add(INDIRECT, fnNode(o, a), V_INDIRECT, NaN, E_WHOLE_AT);
    for (const i of s.importsAddressTaken) for (const b of bindings[o].get(i) ?? []) edges.add(INDIRECT, b, V_INDIRECT, NaN, E_WHOLE_AT);
    for (const u of s.unresolved) pendingUnresolved.push({ o, f: u.fn, site: u.site, reason: u.reason, siteObject: o });
    // Library constructors and destructors run whatever the program does; the
    // executable's own run through __libc_start_main / the loader.
    for (const i of s.inits) edges.add(ROOT, fnNode(o, i), V_INIT, NaN);
    if (ob.exportsAreRoots) {
      // A module's host finds it by name (dlsym of a name from its configuration, like
      // Apache's `LoadModule mpm_event_module`): its functions and its data (the module
      // struct of hooks) are all in reach.
      for (const e of s.exports) edges.add(ROOT, fnNode(o, e.fn), V_DLSYM, NaN);
      for (const d of s.dataExports ?? []) edges.add(ROOT, regionNode(o, d.r), V_DLSYM, NaN);
    }
  });
  // A param wrapper whose address is taken can be called indirectly with any number.
  objects.forEach((ob, o) => {
    const taken = new Set(ob.summary.addressTaken);
    for (const w of ob.summary.paramWrappers) {
      if (taken.has(w.fn)) pendingUnresolved.push({ o: -1, f: -1, site: w.site, siteObject: o, reason: `${fnName(ob, w.fn)} takes the syscall number as a parameter and its address is taken` });
    }
  });

  // By-name lookups (see LateRoots): exports by the hash of their bare name, and the
  // names each function's code and each region's words refer to.
  const exportsByHash = new Map<number, number[]>();
  const addExport = (name: string, node: number) => {
    const at = name.indexOf('@');
    const h = nameHash(at < 0 ? name : name.slice(0, at));
    let l = exportsByHash.get(h);
    if (!l) exportsByHash.set(h, (l = []));
    l.push(node);
  };
  const namesOf = new Map<number, number[]>();
  const dlsymNodes: number[] = [];
  const dlopenNodes: number[] = [];
  /** Functions of object o exported or named as one of `names`. */
  const named = (o: number, names: Set<string>): number[] => {
    const s = objects[o].summary;
    const fs = new Set<number>();
    for (const e of s.exports) {
      const at = e.name.indexOf('@');
      if (names.has(at < 0 ? e.name : e.name.slice(0, at))) fs.add(e.fn);
    }
    s.functions.forEach((fn, f) => { if (fn.n && names.has(fn.n)) fs.add(f); });
    return [...fs].map((f) => fnNode(o, f));
  };
  objects.forEach((ob, o) => {
    const s = ob.summary;
    for (const e of s.exports) addExport(e.name, fnNode(o, e.fn));
    for (const d of s.dataExports ?? []) addExport(d.name, regionNode(o, d.r));
    s.functions.forEach((fn, f) => { if (fn.h?.length) namesOf.set(fnNode(o, f), fn.h); });
    (s.regions ?? []).forEach((r, ri) => {
      const hs = r.c.filter((c) => c[1] === CELL_NAME).map((c) => c[2]);
      if (hs.length) namesOf.set(regionNode(o, ri), hs);
    });
    dlsymNodes.push(...named(o, DLSYM_NAMES));
    dlopenNodes.push(...named(o, DLOPEN_NAMES));
  });
  const isLoaderNode = (v: number) => loaderIdx !== undefined && v >= SPECIAL_KEYS.length && v < regionNodes && objectOf(v) === loaderIdx;
  const late: LateRoots = { dlsymNodes, namesOf, isLoaderNode, exportsByHash, dlopenNodes, candidatesByHash };

  // The whole-program figure must bound the reachable rule: a function this walk can
  // take (a code pointer in code or data that the legacy address-taken list misses, like
  // a non-PIE program's PLT-stub address of an import) is a whole-program target too.
  {
    const whole = new Uint8Array(nodes);
    const n = edges.n;
    for (let e = 0; e < n; e++) if (edges.kind[e] === E_WHOLE_AT) whole[edges.dst[e]] = 1;
    for (let e = 0; e < n; e++) {
      const d = edges.dst[e];
      if (edges.kind[e] === E_TAKES && !whole[d]) {
        whole[d] = 1;
        edges.add(INDIRECT, d, V_INDIRECT, NaN, E_WHOLE_AT);
      }
    }
  }
  const adj = adjacency(edges, nodes);
  const direct = reach(edges, adj, nodes, 'direct', false, late);
  const whole = reach(edges, adj, nodes, 'whole', false, late);
  const full = reach(edges, adj, nodes, 'reachable', true, late);

  const numbers = (w: Walk) => {
    const out = new Set<number>();
    for (let k = 0; k < w.visitedCount; k++) {
      const v = w.visited[k];
      if (v >= regionNodes) out.add(sysNr[v - regionNodes]);
    }
    return out;
  };

  const label = (v: number): { object: string; function: string } => {
    if (v >= SPECIAL_KEYS.length && v < fnNodes) {
      const o = objectOf(v);
      return { object: objects[o].path, function: fnName(objects[o], v - fnBase[o]) };
    }
    if (v >= fnNodes && v < regionNodes) {
      const o = objectOf(v);
      return { object: objects[o].path, function: `data@0x${objects[o].summary.regions![v - regionBase[o]].a.toString(16)}` };
    }
    return { object: '', function: v < SPECIAL_KEYS.length ? SPECIAL_KEYS[v] : `#${sysNr[v - regionNodes]}` };
  };
  /** Why a function is an indirect-call target: the code or data word holding its address, and what made that live. */
  const takenBy = (v: number): string | undefined => {
    const e = full.takenEdge[v];
    if (e < 0) return undefined;
    const src = edges.src[e];
    if (src === ROOT) return 'a target whatever runs (a personality routine the unwinder calls, or a summary without data facts)';
    const l = label(src);
    if (src < fnNodes) return `its address is materialised by ${l.object}:${l.function}`;
    const word = edges.site[e];
    let why = `its address is in the data word 0x${word.toString(16)} of ${l.object} (region ${l.function.slice(5)})`;
    // Which reached code (or always-live root) made that region live.
    let r = src;
    for (let hops = 0; hops < 16 && r >= fnNodes && r < regionNodes; hops++) r = full.parent[r];
    if (r === ROOT) why += ', live whatever runs';
    else if (r >= SPECIAL_KEYS.length && r < fnNodes) { const f = label(r); why += `, referred to by ${f.object}:${f.function}`; }
    return why;
  };
  /** One shortest chain from an entry point to the parent of node v (v itself excluded). */
  const stepsTo = (v: number): ChainStep[] => {
    const chain: number[] = [];
    for (let p = full.parent[v]; p >= 0 && p !== ROOT; p = full.parent[p]) chain.push(p);
    chain.reverse();
    // INDIRECT is not a step: the step after it is entered `via: 'indirect'` from the one before.
    const steps: ChainStep[] = [];
    for (const n of chain) {
      if (n === INDIRECT || (n >= fnNodes && n < regionNodes)) continue;
      const pe = full.parentEdge[n];
      const via = full.parent[n] === INDIRECT ? 'indirect' : pe >= 0 ? viaOf(edges.via[pe]) : 'dlsym';
      const tb = via === 'indirect' ? takenBy(n) : undefined;
      steps.push({ ...label(n), ...(via ? { via } : {}), ...(tb ? { takenBy: tb } : {}) });
    }
    return steps;
  };
  const provenance = new Map<number, Provenance>();
  for (let k = 0; k < full.parentedCount; k++) {
    const v = full.parented[k];
    if (v < regionNodes) continue;
    const steps = stepsTo(v);
    const lastEdge = full.parentEdge[v];
    const site = edges.site[lastEdge];
    const from = full.parent[v];
    provenance.set(sysNr[v - regionNodes], {
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

  let wholeTargets = 0;
  {
    const stamp = new Uint8Array(nodes);
    for (let k = adj.start[INDIRECT]; k < adj.start[INDIRECT + 1]; k++) {
      const e = adj.order[k];
      if (edges.kind[e] === E_WHOLE_AT && !stamp[edges.dst[e]]) { stamp[edges.dst[e]] = 1; wholeTargets++; }
    }
  }

  const reachedSyscalls = numbers(full);
  const reachedNames = new Set<number>();
  for (let k = 0; k < full.visitedCount; k++) {
    const v = full.visited[k];
    if (v < fnNodes) for (const h of namesOf.get(v) ?? []) reachedNames.add(h);
  }
  const view = argView(objects, fnBase, edges, full, late, bindings, objectOf, indirectReached);
  const rules = argRules({ ...view, chain: (o, f) => { const v = fnBase[o] + f; return [...stepsTo(v), { ...label(v), ...(full.parentEdge[v] >= 0 && viaOf(edges.via[full.parentEdge[v]]) ? { via: viaOf(edges.via[full.parentEdge[v]]) } : {}) }]; } }, reachedSyscalls);

  return {
    syscalls: reachedSyscalls,
    withoutIndirectRule: numbers(direct),
    wholeProgramAT: numbers(whole),
    targets: { reachable: full.targets, wholeProgram: wholeTargets },
    indirectRuleFired: indirectReached,
    perObject,
    unresolvedSites,
    unresolvedImports,
    provenance,
    graph: { nodes, edges: distinctEdges(edges, adj, nodes) },
    argRules: rules,
    reachedNames,
  };
}

/**
 * The walk as argument rules see it (analysis/link/arg-rules.ts). A function counts as
 * entered other than by direct calls when it is an indirect-call target of a walk that
 * makes indirect calls, when an entry, init or dlsym edge from a reached node leads to
 * it, or when reached code or data names one of its exports while lookups by name are
 * possible.
 */
function argView(
  objects: ProgramObject[],
  fnBase: number[],
  edges: EdgeList,
  full: Walk,
  late: LateRoots,
  bindings: Map<number, number[]>[],
  objectOf: (node: number) => number,
  indirectReached: boolean,
) {
  let rooted: Map<number, string> | undefined;
  let names: Set<number> | undefined;
  const otherEdges = () => {
    if (rooted) return rooted;
    rooted = new Map();
    for (let e = 0; e < edges.n; e++) {
      if (edges.kind[e] !== E_NORMAL || !full.seen[edges.src[e]]) continue;
      const v = edges.via[e];
      const why = edges.src[e] === ROOT ? 'is a root of the walk' : v === V_ENTRY ? 'is an entry point' : v === V_INIT ? 'runs as a constructor' : v === V_DLSYM ? 'is found by dlsym' : undefined;
      if (why && !rooted.has(edges.dst[e])) rooted.set(edges.dst[e], why);
    }
    return rooted;
  };
  const namesSeen = () => {
    if (names) return names;
    names = new Set();
    const dlsym = late.dlsymNodes.some((n) => full.seen[n]);
    for (let k = 0; k < full.visitedCount; k++) {
      const v = full.visited[k];
      if (!dlsym && !late.isLoaderNode(v)) continue;
      for (const h of late.namesOf.get(v) ?? []) names.add(h);
    }
    return names;
  };
  return {
    objects,
    reached: (o: number, f: number) => full.seen[fnBase[o] + f] === 1,
    enteredOtherwise: (o: number, f: number): string | undefined => {
      const v = fnBase[o] + f;
      if (indirectReached && full.takenEdge[v] >= 0) return 'is an indirect-call target (its address is held by reached code or live data)';
      const why = otherEdges().get(v);
      if (why) return why;
      if (full.parent[v] >= 0 && full.parentEdge[v] < 0 && full.parent[v] !== INDIRECT) return 'is looked up by name';
      for (const e of objects[o].summary.exports) {
        if (e.fn !== f) continue;
        const at = e.name.indexOf('@');
        if (namesSeen().has(nameHash(at < 0 ? e.name : e.name.slice(0, at)))) return 'may be looked up by name (its name is in reached code or data)';
      }
      return undefined;
    },
    boundTo: (o: number, i: number) => (bindings[o].get(i) ?? []).map((b) => { const bo = objectOf(b); return { o: bo, f: b - fnBase[bo] }; }),
  };
}

/** Cell kinds in ObjectSummary.regions (analysis/summary/object-summary.ts). */
const CELL_FN = 0;
const CELL_REGION = 1;
const CELL_IMPORT = 2;
const CELL_NAME = 3;

function fnName(ob: ProgramObject, f: number): string {
  const fn = ob.summary.functions[f];
  return fn.n ?? `0x${fn.a.toString(16)}`;
}

/**
 * The names under which a dlopen finds a library (ProgramObject.openedBy): the strings
 * that led to it, its path and file name, and its soname.
 */
export function openedByHashes(filePath: string, soname: string | undefined, names: Iterable<string>): number[] {
  const all = new Set<string>([...names, filePath, filePath.slice(filePath.lastIndexOf('/') + 1)]);
  if (soname) all.add(soname);
  return [...new Set([...all].map(nameHash))].sort((a, b) => a - b);
}
