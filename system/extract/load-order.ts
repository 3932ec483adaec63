/**
 * The order ld.so loads a program's objects in (glibc elf/dl-deps.c _dl_map_object_deps,
 * musl load_deps): breadth-first over DT_NEEDED from the first object, each object once;
 * a name an object already loaded answers to (its DT_SONAME, or a name it was found by)
 * is that object, not searched again (_dl_name_match_p). The one walk for the image's
 * closure (closure.ts), `confine analyze --root` (system/host/host-resolver.ts) and the
 * symbol scope of the whole-program walk (stages/syscall-resolve.ts).
 *
 * How a name is found is the caller's (a directory search, or a lookup among files
 * already scanned), and may be async (an image read through the engine): the walk is a
 * generator that yields each lookup and is resumed with what it found, driven by
 * `loadOrder` (sync) or `loadOrderAsync`.
 */

export interface LoadGraph<T> {
  /** The file an object is: the same file reached twice is loaded once. */
  key(o: T): string;
  /** Its DT_NEEDED names, in order. */
  needed(o: T): readonly string[];
  /** Its DT_SONAME: a later DT_NEEDED of that name is this object. */
  soname(o: T): string | undefined;
}

/** One DT_NEEDED name of `from` to look up. */
export interface NeededLookup<T> {
  from: T;
  name: string;
}

/**
 * The walk: yields each lookup, is resumed with the objects it found (none: missing; more
 * than one: variants another CPU would load instead, all taken), returns the objects
 * loaded after `root`, in load order.
 */
export function* loadOrderSteps<T>(root: T, graph: LoadGraph<T>): Generator<NeededLookup<T>, T[], readonly T[]> {
  const loaded = new Set<string>([graph.key(root)]);
  const known = new Set<string>();
  const rootName = graph.soname(root);
  if (rootName) known.add(rootName);
  const queue: T[] = [root];
  for (let i = 0; i < queue.length; i++) {
    const from = queue[i];
    for (const name of graph.needed(from)) {
      if (known.has(name)) continue;
      const found = yield { from, name };
      if (found.length) known.add(name);
      for (const o of found) {
        const soname = graph.soname(o);
        if (soname) known.add(soname);
        const k = graph.key(o);
        if (loaded.has(k)) continue;
        loaded.add(k);
        queue.push(o);
      }
    }
  }
  return queue.slice(1);
}

export function loadOrder<T>(root: T, graph: LoadGraph<T>, find: (from: T, name: string) => readonly T[]): T[] {
  const steps = loadOrderSteps(root, graph);
  for (let r = steps.next(); ; ) {
    if (r.done) return r.value;
    r = steps.next(find(r.value.from, r.value.name));
  }
}

export async function loadOrderAsync<T>(root: T, graph: LoadGraph<T>, find: (from: T, name: string) => Promise<readonly T[]>): Promise<T[]> {
  const steps = loadOrderSteps(root, graph);
  for (let r = steps.next(); ; ) {
    if (r.done) return r.value;
    r = steps.next(await find(r.value.from, r.value.name));
  }
}
