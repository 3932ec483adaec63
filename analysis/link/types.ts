/** The whole-program walk's inputs and the chains it reports (link.ts and the modules it runs; arg-rules.ts and unresolved-sites.ts read them too). */
import type { ObjectSummary } from '../summary/object-summary';

export interface ProgramObject {
  path: string;
  summary: ObjectSummary;
  /** Loaded by dlopen: the program may use any of its exports (through dlsym), so each, function or data, is a root. */
  exportsAreRoots?: boolean;
  /**
   * A library the program may dlopen by a constant name (found in some loaded object's
   * strings, never seen mapped): the hashes of the names that open it (file name, path,
   * soname). Its constructors run only once a dlopen is reached and reached code or live
   * data refers to one of these names; its exports, like every object's, are roots when
   * a reached dlsym name names them (names built at run time are the documented limit).
   */
  openedBy?: number[];
}

export interface ProgramInput {
  executable: ProgramObject;
  /** Libraries in load order (breadth-first over DT_NEEDED, as ld.so searches them). */
  libraries: ProgramObject[];
  /** PT_INTERP's object, analysed from its own entry (may also be among `libraries`). */
  loader?: ProgramObject;
  /**
   * The value layer (issue 26; default on): edges the summaries mark as taken only under
   * a condition on an entry value are followed only once some value the function can be
   * entered with satisfies it (guard-values.ts, value-models.ts), and the library models
   * of library-models.ts apply. Off: the walk before the layer, for the figure it is
   * measured against.
   */
  valueLayer?: boolean;
}

export interface ChainStep {
  object: string;
  function: string;
  /** How this step was entered from the previous one. */
  via?: 'call' | 'indirect' | 'entry' | 'init' | 'syscall()' | 'dlsym' | `import ${string}`;
  /** For a step entered through an indirect call: what holds its address, so a person can judge the edge. */
  takenBy?: string;
  /** For a step entered through a guarded edge (the value layer): the value that kept the edge. */
  kept?: string;
}

export interface Provenance {
  steps: ChainStep[];
  /** The syscall instruction (or, for numbers passed to a wrapper, the wrapper's site). */
  site: number;
  siteObject: string;
  /** When the site is made only under a guard (the value layer): the value that kept it. */
  kept?: string;
}

export interface UnresolvedSiteReport {
  object: string;
  site: number;
  function: string;
  reason: string;
}

export interface UnresolvedImport {
  object: string;
  import: string;
}
