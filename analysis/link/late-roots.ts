import { nameHash } from '../summary/name-hashes';
import { ROOT, SPECIAL_KEYS } from './node-ids';
import { bareName } from '../elf';
import { CELL_NAME } from './program-objects';
import type { ProgramGraph } from './program-graph';

/**
 * By-name lookups, applied each time the walk's queue runs dry: the names (string
 * hashes) that reached code and live data hold name exports, which become roots. The
 * loader's own names always count (it looks up malloc & co. and __libc_early_init by
 * name); everyone's count once a dlsym is reached. Likewise the names reached code and
 * data hold open the dlopen candidates they name once a dlopen is reached.
 */
export interface LateRoots {
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

/** Functions whose being reached lets the program look up symbols by name. */
const DLSYM_NAMES = new Set(['dlsym', 'dlvsym', '__libc_dlsym', '__libc_dlvsym', '__dlsym', '__dlvsym', '_dl_sym', '_dl_vsym']);
/** Functions whose being reached lets the program load libraries by name. */
const DLOPEN_NAMES = new Set(['dlopen', 'dlmopen', '__libc_dlopen_mode', '__dlopen', '__dlmopen', '_dl_open']);

/** Exports by the hash of their bare name, and the names each function's code and each region's words refer to. */
export function lateRoots(g: ProgramGraph): LateRoots {
  const { objects, ids, loaderIdx } = g;
  const exportsByHash = new Map<number, number[]>();
  const addExport = (name: string, node: number) => {
    const h = nameHash(bareName(name));
    let l = exportsByHash.get(h);
    if (!l) exportsByHash.set(h, (l = []));
    l.push(node);
  };
  const namesOf = new Map<number, number[]>();
  const dlsymNodes: number[] = [];
  const dlopenNodes: number[] = [];
  objects.forEach((ob, o) => {
    const s = ob.summary;
    for (const e of s.exports) addExport(e.name, ids.fnNode(o, e.fn));
    for (const d of s.dataExports ?? []) addExport(d.name, ids.regionNode(o, d.r));
    s.functions.forEach((fn, f) => { if (fn.h?.length) namesOf.set(ids.fnNode(o, f), fn.h); });
    (s.regions ?? []).forEach((r, ri) => {
      const hs = r.c.filter((c) => c[1] === CELL_NAME).map((c) => c[2]);
      if (hs.length) namesOf.set(ids.regionNode(o, ri), hs);
    });
    dlsymNodes.push(...namedFunctions(g, o, DLSYM_NAMES));
    dlopenNodes.push(...namedFunctions(g, o, DLOPEN_NAMES));
  });
  const isLoaderNode = (v: number) => loaderIdx !== undefined && v >= SPECIAL_KEYS.length && v < ids.regionNodes && ids.objectOf(v) === loaderIdx;
  return { dlsymNodes, namesOf, isLoaderNode, exportsByHash, dlopenNodes, candidatesByHash: g.candidatesByHash };
}

/** Nodes of object o's functions exported or named as one of `names`. */
function namedFunctions(g: ProgramGraph, o: number, names: Set<string>): number[] {
  const s = g.objects[o].summary;
  const fs = new Set<number>();
  for (const e of s.exports) if (names.has(bareName(e.name))) fs.add(e.fn);
  s.functions.forEach((fn, f) => { if (fn.n && names.has(fn.n)) fs.add(f); });
  return [...fs].map((f) => g.ids.fnNode(o, f));
}

/** What the by-name step needs of a walk in progress (walk.ts). */
export interface WalkFrontier {
  readonly seen: Uint8Array;
  readonly queued: Uint8Array;
  /** Nodes in the order the walk expanded them. */
  readonly visited: Int32Array;
  readonly visitedCount: number;
  enqueue(node: number, from: number, edge: number): void;
}

/**
 * The by-name step of one walk: each time its queue runs dry, the names held by nodes
 * visited since the last step (all of them again when a dlsym or dlopen is first
 * reached, which widens what the names open) enqueue the exports and dlopen
 * candidates they name. Their parent is the dlsym (or ROOT, for the loader's own
 * lookups) or the dlopen that finds them, through no edge (-1).
 */
export class LateRootScan {
  private dlsymOpen = false;
  private dlopenOpen = false;
  private namesUpTo = 0;

  constructor(private readonly late: LateRoots) {}

  widen(w: WalkFrontier): void {
    const late = this.late;
    const seen = w.seen;
    const all = late.dlsymNodes.some((n) => seen[n]);
    const opener = late.dlopenNodes.find((n) => seen[n]);
    // Each widening of what counts rescans the names seen so far.
    if ((all && !this.dlsymOpen) || (opener !== undefined && !this.dlopenOpen)) this.namesUpTo = 0;
    if (all) this.dlsymOpen = true;
    if (opener !== undefined) this.dlopenOpen = true;
    const from = all ? late.dlsymNodes.find((n) => seen[n])! : ROOT;
    // Locals, not fields, in the loop: this runs over every visited node of a first (cold) call.
    const { queued, visited, visitedCount } = w;
    const { namesOf, exportsByHash, candidatesByHash } = late;
    let k = this.namesUpTo;
    for (; k < visitedCount; k++) {
      const v = visited[k];
      const hs = namesOf.get(v);
      if (!hs) continue;
      for (const h of hs) {
        // Enqueued even when already queued: the value layer marks it entered by name (any arguments).
        if (all || late.isLoaderNode(v)) for (const r of exportsByHash.get(h) ?? []) w.enqueue(r, from, -1);
        if (opener !== undefined) for (const r of candidatesByHash.get(h) ?? []) if (!queued[r]) w.enqueue(r, opener, -1);
      }
    }
    this.namesUpTo = k;
  }
}
