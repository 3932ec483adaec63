import { bindImports, type ImportBindings } from './bind-exports';
import { E_TAKES, E_WHOLE_AT, EdgeList, V_CALL, V_DLSYM, V_ENTRY, V_INDIRECT, V_INIT, V_NONE, V_SYSCALL_FN, ViaLabels } from './edge-list';
import { functionGuards, GuardTable, guardMark } from './guards';
import { loaderSiteCuts } from './library-models';
import { INDIRECT, NodeIds, ROOT } from './node-ids';
import { CELL_FN, CELL_IMPORT, CELL_REGION, fnName, programObjects } from './program-objects';
import type { ProgramInput, ProgramObject } from './types';

/**
 * The program graph: one node per function, data region and syscall number of every
 * loaded object, and the edges the walk follows — calls, bound import calls, syscall
 * sites, the code and data words that take a function's address, the roots (entries,
 * constructors, always-live data) and sysfilter's whole-program rule for comparison.
 */

/** A site reported as unresolved once its function is reached (o = -1: once INDIRECT is). */
export interface PendingSite {
  o: number;
  f: number;
  site: number;
  reason: string;
  siteObject: number;
}

export interface ProgramGraph {
  objects: ProgramObject[];
  loaderIdx: number | undefined;
  ids: NodeIds;
  edges: EdgeList;
  via: ViaLabels;
  imports: ImportBindings;
  pendingUnresolved: PendingSite[];
  /** The roots of each dlopen candidate (its constructors, root regions), by the hash of a name that opens it. */
  candidatesByHash: Map<number, number[]>;
  /** The value layer's guards (guards.ts); their edges carry EdgeList.guard marks. */
  guards: GuardTable;
  /**
   * Syscall-site edges a library model proves never run in this program (ld.so's
   * chain-load execve, loaderSiteCuts): the value layer's walks hold them (link.ts), a
   * walk without the layer follows them, so both can share this graph.
   */
  layerCuts: number[];
}

export function buildProgramGraph(input: ProgramInput): ProgramGraph {
  const { objects, loaderIdx } = programObjects(input);
  const ids = new NodeIds(objects);
  const imports = bindImports(objects, ids);
  const g: ProgramGraph = { objects, loaderIdx, ids, edges: new EdgeList(), via: new ViaLabels(), imports, pendingUnresolved: [], candidatesByHash: new Map(), guards: new GuardTable(), layerCuts: [] };
  addEntries(g);
  const wrappers = objects.map((ob) => new Map(ob.summary.paramWrappers.map((w) => [w.fn, w])));
  // Syscall sites a library model proves never run in this program (ld.so's chain-load execve): layerCuts.
  const cuts = loaderSiteCuts(objects, loaderIdx);
  objects.forEach((ob, o) => {
    addCodeEdges(g, o, wrappers, cuts.get(o));
    addDataEdges(g, o);
    if (ob.openedBy) addCandidateRoots(g, o);
    else addObjectRoots(g, o);
  });
  addTakenParamWrappers(g);
  boundWholeProgramRule(g);
  return g;
}

/** The entries first: an entry that is also a constructor is entered as the entry. */
function addEntries(g: ProgramGraph): void {
  const exe = g.objects[0].summary;
  if (exe.entry !== undefined) g.edges.add(ROOT, g.ids.fnNode(0, exe.entry), V_ENTRY, NaN);
  if (g.loaderIdx !== undefined) {
    const l = g.objects[g.loaderIdx].summary;
    if (l.entry !== undefined) g.edges.add(ROOT, g.ids.fnNode(g.loaderIdx, l.entry), V_ENTRY, NaN);
  }
}

type ParamWrappers = Map<number, ProgramObject['summary']['paramWrappers'][number]>[];

/** Object o's code: calls, bound import calls, syscall sites, indirect calls, taken addresses, data referred to. */
function addCodeEdges(g: ProgramGraph, o: number, wrappers: ParamWrappers, cut: Set<number> | undefined): void {
  const { edges, ids } = g;
  const s = g.objects[o].summary;
  const base = ids.fnBase[o];
  const bindings = g.imports.functions[o];
  const args = new Map(s.importArgs.map((x) => [x.import, x]));
  const viaImport = s.imports.map((name) => g.via.importVia(name));
  const fns = s.functions;
  for (let f = 0; f < fns.length; f++) {
    const fn = fns[f];
    const from = base + f;
    const gs = functionGuards(g.guards, fn, from, o, f);
    if (fn.e) for (const t of fn.e) edges.add(from, ids.fnNode(o, t), V_CALL, NaN, undefined, guardMark(gs?.callee, t));
    if (fn.i) {
      for (const i of fn.i) {
        const bound = bindings.get(i);
        if (!bound) continue;
        for (const b of bound) {
          edges.add(from, b, viaImport[i], NaN, undefined, guardMark(gs?.imp, i));
          const bo = ids.objectOf(b);
          const w = wrappers[bo].get(b - ids.fnBase[bo]);
          if (w && !(args.get(i) && JSON.stringify(args.get(i)!.loc) === JSON.stringify(w.loc))) {
            g.pendingUnresolved.push({ o, f, site: w.site, siteObject: bo, reason: `calls ${s.imports[i]}, a wrapper taking the syscall number in ${JSON.stringify(w.loc)}, whose argument was not recovered here` });
          }
        }
      }
    }
    if (fn.s) {
      for (const st of fn.s) {
        for (const nr of st.nr) {
          if (cut?.has(nr)) g.layerCuts.push(edges.n);
          edges.add(from, ids.sys(nr), V_NONE, st.at, undefined, guardMark(gs?.site, st.at));
        }
      }
    }
    if (fn.ic || fn.ij) edges.add(from, INDIRECT, V_INDIRECT, NaN);
    if (fn.t) for (const t of fn.t) edges.add(from, ids.fnNode(o, t), V_INDIRECT, NaN, E_TAKES);
    if (fn.ti) for (const i of fn.ti) for (const b of bindings.get(i) ?? []) edges.add(from, b, V_INDIRECT, NaN, E_TAKES);
    if (fn.d) for (const r of fn.d) edges.add(from, ids.regionNode(o, r), V_NONE, NaN);
  }
  // Numbers passed to libc's syscall() and other wrappers by this object's calls.
  // Not guarded even when the wrapper call is: `uses[].fn` is where the constant was
  // found, which may be a caller of the function that calls the wrapper.
  for (const x of s.importArgs) {
    for (const u of x.uses) for (const nr of u.nr) edges.add(ids.fnNode(o, u.fn), ids.sys(nr), V_SYSCALL_FN, -1);
  }
}

/** Object o's data words: code pointers (taken addresses), pointers to other regions and to imported functions and data. */
function addDataEdges(g: ProgramGraph, o: number): void {
  const { edges, ids } = g;
  const s = g.objects[o].summary;
  (s.regions ?? []).forEach((r, ri) => {
    const from = ids.regionNode(o, ri);
    for (const [at, kind, target] of r.c) {
      if (kind === CELL_FN) edges.add(from, ids.fnNode(o, target), V_INDIRECT, at, E_TAKES);
      else if (kind === CELL_REGION) edges.add(from, ids.regionNode(o, target), V_NONE, at);
      else if (kind === CELL_IMPORT) {
        for (const b of g.imports.functions[o].get(target) ?? []) edges.add(from, b, V_INDIRECT, at, E_TAKES);
        const d = g.imports.data(s.imports[target], o);
        if (d !== undefined) edges.add(from, d, V_NONE, at);
      }
    }
  });
}

/**
 * A library the program may dlopen (ProgramObject.openedBy): roots only once it is
 * opened (see LateRoots). Its constructors run; its exports are found by dlsym names
 * like any other's.
 */
function addCandidateRoots(g: ProgramGraph, o: number): void {
  const { ids } = g;
  const ob = g.objects[o];
  const s = ob.summary;
  const roots = [...s.inits.map((i) => ids.fnNode(o, i)), ...(s.rootRegions ?? []).map((r) => ids.regionNode(o, r))];
  for (const h of ob.openedBy!) {
    let l = g.candidatesByHash.get(h);
    if (!l) g.candidatesByHash.set(h, (l = []));
    l.push(...roots);
  }
  for (const u of s.unresolved) g.pendingUnresolved.push({ o, f: u.fn, site: u.site, reason: u.reason, siteObject: o });
}

/** What of a loaded object is reached or taken whatever the program does, and its edges under sysfilter's rule. */
function addObjectRoots(g: ProgramGraph, o: number): void {
  const { edges, ids } = g;
  const ob = g.objects[o];
  const s = ob.summary;
  const bindings = g.imports.functions[o];
  for (const r of s.rootRegions ?? []) edges.add(ROOT, ids.regionNode(o, r), V_NONE, NaN);
  for (const f of s.takenAlways ?? []) edges.add(ROOT, ids.fnNode(o, f), V_INDIRECT, NaN, E_TAKES);
  if (s.regions === undefined) {
    // A summary without data facts (written before they existed): every address-taken
    // function is a target whatever runs — sysfilter's rule, still sound.
    for (const a of s.addressTaken) edges.add(ROOT, ids.fnNode(o, a), V_INDIRECT, NaN, E_TAKES);
    for (const i of s.importsAddressTaken) for (const b of bindings.get(i) ?? []) edges.add(ROOT, b, V_INDIRECT, NaN, E_TAKES);
  }
  // sysfilter's original rule, for the whole-program figure.
  for (const a of s.addressTaken) edges.add(INDIRECT, ids.fnNode(o, a), V_INDIRECT, NaN, E_WHOLE_AT);
  for (const i of s.importsAddressTaken) for (const b of bindings.get(i) ?? []) edges.add(INDIRECT, b, V_INDIRECT, NaN, E_WHOLE_AT);
  for (const u of s.unresolved) g.pendingUnresolved.push({ o, f: u.fn, site: u.site, reason: u.reason, siteObject: o });
  // Library constructors and destructors run whatever the program does; the
  // executable's own run through __libc_start_main / the loader.
  for (const i of s.inits) edges.add(ROOT, ids.fnNode(o, i), V_INIT, NaN);
  if (ob.exportsAreRoots) {
    // A module's host finds it by name (dlsym of a name from its configuration, like
    // Apache's `LoadModule mpm_event_module`): its functions and its data (the module
    // struct of hooks) are all in reach.
    for (const e of s.exports) edges.add(ROOT, ids.fnNode(o, e.fn), V_DLSYM, NaN);
    for (const d of s.dataExports ?? []) edges.add(ROOT, ids.regionNode(o, d.r), V_DLSYM, NaN);
  }
}

/** A param wrapper whose address is taken can be called indirectly with any number. */
function addTakenParamWrappers(g: ProgramGraph): void {
  g.objects.forEach((ob, o) => {
    const taken = new Set(ob.summary.addressTaken);
    for (const w of ob.summary.paramWrappers) {
      if (taken.has(w.fn)) g.pendingUnresolved.push({ o: -1, f: -1, site: w.site, siteObject: o, reason: `${fnName(ob, w.fn)} takes the syscall number as a parameter and its address is taken` });
    }
  });
}

/**
 * The whole-program figure must bound the reachable rule: a function this walk can
 * take (a code pointer in code or data that the legacy address-taken list misses, like
 * a non-PIE program's PLT-stub address of an import) is a whole-program target too.
 */
function boundWholeProgramRule(g: ProgramGraph): void {
  const { edges } = g;
  const whole = new Uint8Array(g.ids.count);
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
