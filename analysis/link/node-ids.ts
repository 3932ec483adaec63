import type { ProgramObject } from './types';

/** The two special nodes: where the walk starts, and "some reached code makes an indirect call". */
export const ROOT = 0;
export const INDIRECT = 1;
export const SPECIAL_KEYS = ['<root>', '<indirect>'];

/**
 * Node ids of the program graph, as dense integers so the walk runs on typed arrays:
 * ROOT and INDIRECT first, then every object's functions, then every object's data
 * regions, then syscall numbers in the order they first appear.
 */
export class NodeIds {
  /** Object o's function f is node fnBase[o] + f. */
  readonly fnBase: number[] = [];
  /** Object o's region r is node regionBase[o] + r. */
  readonly regionBase: number[] = [];
  /** The first region node (every node below it and past the specials is a function). */
  readonly fnNodes: number;
  /** The first syscall node (every node below it and past the functions is a region). */
  readonly regionNodes: number;
  /** How many nodes there are so far: syscall nodes are added as their numbers appear. */
  count: number;
  /** The number of each syscall node, from regionNodes on. */
  readonly sysNr: number[] = [];
  private readonly sysNode = new Map<number, number>();

  constructor(private readonly objects: ProgramObject[]) {
    let nodes = SPECIAL_KEYS.length;
    for (const ob of objects) {
      this.fnBase.push(nodes);
      nodes += ob.summary.functions.length;
    }
    this.fnNodes = nodes;
    for (const ob of objects) {
      this.regionBase.push(nodes);
      nodes += ob.summary.regions?.length ?? 0;
    }
    this.regionNodes = nodes;
    this.count = nodes;
  }

  /** Node of object o's function f; an index past the object's functions is a broken summary, never a silent edge into a neighbour. */
  fnNode(o: number, f: number): number {
    if (!Number.isInteger(f) || f < 0 || f >= this.objects[o].summary.functions.length) throw new Error(`resolveProgram: ${this.objects[o].path} has no function #${f}`);
    return this.fnBase[o] + f;
  }

  regionNode(o: number, r: number): number {
    if (!Number.isInteger(r) || r < 0 || r >= (this.objects[o].summary.regions?.length ?? 0)) throw new Error(`resolveProgram: ${this.objects[o].path} has no data region #${r}`);
    return this.regionBase[o] + r;
  }

  /** The node of syscall number nr, made when first asked for. */
  sys(nr: number): number {
    let k = this.sysNode.get(nr);
    if (k === undefined) {
      k = this.count++;
      this.sysNode.set(nr, k);
      this.sysNr.push(nr);
    }
    return k;
  }

  /** The object a function or region node belongs to. */
  objectOf(node: number): number {
    const bases = node < this.fnNodes ? this.fnBase : this.regionBase;
    let lo = 0;
    let hi = bases.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bases[mid] <= node) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  isFunction(v: number): boolean {
    return v >= SPECIAL_KEYS.length && v < this.fnNodes;
  }

  isRegion(v: number): boolean {
    return v >= this.fnNodes && v < this.regionNodes;
  }

  isSyscall(v: number): boolean {
    return v >= this.regionNodes;
  }

  /** The syscall number of a syscall node. */
  nrOf(v: number): number {
    return this.sysNr[v - this.regionNodes];
  }
}
