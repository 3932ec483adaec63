import { nameHash } from '../summary/name-hashes';
import { E_NORMAL, E_TAKES, V_CALL, type EdgeList } from './edge-list';
import { isCheckedGlibc } from './value-models';
import type { NodeIds } from './node-ids';
import { bareName } from '../elf';
import type { ProgramObject } from './types';

/**
 * Library models of the value layer (issue 26; ProgramInput.valueLayer): two facts about
 * how glibc runs that the generic walk cannot see, each keyed on exported names and
 * shapes it checks, so an object that does not fit is walked as before. The assumptions
 * are listed in docs/limits.md ("Library models").
 *
 * nss built-in modules (glibc 2.34+): nss_files and nss_dns live in libc.so.6 as
 * `_nss_files_*` / `_nss_dns_*` exports. A leaf function per module (`__nss_files_functions`,
 * `__nss_dns_functions`) stores their addresses into the module's function array, and
 * `__nss_module_get_function(module, NAME)` hands out entry i only for the NAME at index i
 * of its name array. So `_nss_<module>_<fn>` is called through that array only by code
 * that asked for "<fn>": the builder's TAKES edge to it is followed only once reached
 * *code* materialises the string (function name hashes, `h`). Live data does not count:
 * the name array itself holds every name and is live whenever nss is.
 *
 * ld.so's chain load (glibc 2.35+, BZ 28648): ld.so run as a command (`ld.so PROG`) execs
 * PROG itself when PROG is static (rtld_chain_load, only under `rtld_is_main`, i.e. when
 * AT_ENTRY is ld.so's own entry). When ld.so is a program's PT_INTERP, AT_ENTRY is the
 * program's entry, so that execve never runs: its site is left out of the graph.
 */

/** The bare names that mark the object holding nss's by-name module lookup. */
const NSS_LOOKUP_EXPORT = '__nss_lookup_function';
const NSS_PREFIX = '_nss_';
/** A leaf table builder may still call the stack protector's failure path (noreturn). */
const STACK_CHK = /^__stack_chk_fail(_local)?$/;
/** Fewer targets than this is a callback being passed on (fgetpwent_r's parser), not a module table. */
const MIN_TABLE_TARGETS = 2;

/** An edge held until the walk reaches what releases it (walk.ts consults it for NORMAL and TAKES edges). */
export interface EdgeGate {
  /** Whether edge e must wait; a waiting edge is handed back by `release` once it may be followed. */
  holds(e: number): boolean;
  /** Node v was reached: the waiting edges the names its code materialises release. */
  release(v: number): readonly number[];
}

/**
 * The nss module-table edges of a program graph: for each held TAKES edge, the hashes
 * of the lookup names that release it (every suffix of `_nss_<module>_<fn>` after an
 * underscore, since a module name may itself hold one: the right split is among them).
 * Undefined when no loaded object fits the model.
 */
export function nssLookupGate(g: { objects: ProgramObject[]; ids: NodeIds; edges: EdgeList }): (() => EdgeGate) | undefined {
  const held = new Map<number, number[]>();
  const sources = new Set<number>();
  const namedBy = new Map<number, number[]>();
  g.objects.forEach((ob, o) => {
    const s = ob.summary;
    if (!s.exports.some((e) => bareName(e.name) === NSS_LOOKUP_EXPORT)) return;
    const moduleFns = new Map<number, number[]>();
    for (const e of s.exports) {
      const name = bareName(e.name);
      if (name.startsWith(NSS_PREFIX)) moduleFns.set(e.fn, lookupNameHashes(name));
    }
    s.functions.forEach((fn, f) => {
      if (!isTableBuilder(s, fn, moduleFns)) return;
      sources.add(g.ids.fnNode(o, f));
      for (const t of fn.t!) namedBy.set(g.ids.fnNode(o, t), moduleFns.get(t)!);
    });
  });
  if (!sources.size) return undefined;
  const { edges } = g;
  for (let e = 0; e < edges.n; e++) {
    if (edges.kind[e] !== E_TAKES || !sources.has(edges.src[e])) continue;
    const hs = namedBy.get(edges.dst[e]);
    if (hs) held.set(e, hs);
  }
  const codeNames = (v: number): readonly number[] | undefined => {
    if (!g.ids.isFunction(v)) return undefined;
    const o = g.ids.objectOf(v);
    return g.objects[o].summary.functions[v - g.ids.fnBase[o]].h;
  };
  return () => new NameGate(held, codeNames);
}

/**
 * A module table builder: a function that takes the addresses of at least two `_nss_*`
 * exports of its object and nothing else, and calls nothing (but the stack protector's
 * failure) nor makes a syscall or an indirect call or jump: all it can do with those
 * addresses is store them (or return one), never call them or pass them on as an argument.
 */
function isTableBuilder(s: ProgramObject['summary'], fn: ProgramObject['summary']['functions'][number], moduleFns: Map<number, number[]>): boolean {
  if (!fn.t || fn.t.length < MIN_TABLE_TARGETS || !fn.t.every((t) => moduleFns.has(t))) return false;
  if (fn.ti?.length || fn.i?.length || fn.s?.length || fn.ic || fn.ij) return false;
  return (fn.e ?? []).every((c) => STACK_CHK.test(s.functions[c].n ?? ''));
}

/** The hashes of the names a lookup may ask `_nss_<module>_<fn>` by: each suffix after an underscore past `_nss_`. */
function lookupNameHashes(exportName: string): number[] {
  const rest = exportName.slice(NSS_PREFIX.length);
  const out: number[] = [];
  for (let i = rest.indexOf('_'); i >= 0; i = rest.indexOf('_', i + 1)) if (i + 1 < rest.length) out.push(nameHash(rest.slice(i + 1)));
  return out;
}

/** One walk's state: the names reached code has materialised so far, and the edges waiting for one. */
class NameGate implements EdgeGate {
  private readonly named = new Set<number>();
  private readonly waiting = new Map<number, number[]>();

  constructor(
    private readonly held: Map<number, number[]>,
    private readonly codeNames: (v: number) => readonly number[] | undefined,
  ) {}

  holds(e: number): boolean {
    const hs = this.held.get(e);
    if (!hs || hs.some((h) => this.named.has(h))) return false;
    for (const h of hs) {
      let l = this.waiting.get(h);
      if (!l) this.waiting.set(h, (l = []));
      l.push(e);
    }
    return true;
  }

  release(v: number): readonly number[] {
    const hs = this.codeNames(v);
    if (!hs) return NONE;
    let out: number[] | undefined;
    for (const h of hs) {
      if (this.named.has(h)) continue;
      this.named.add(h);
      const l = this.waiting.get(h);
      if (!l) continue;
      this.waiting.delete(h);
      (out ??= []).push(...l);
    }
    return out ?? NONE;
  }
}

const NONE: readonly number[] = [];

/** Both gates: an edge waits while either holds it. */
export function bothGates(a: EdgeGate | undefined, b: EdgeGate | undefined): EdgeGate | undefined {
  if (!a || !b) return a ?? b;
  return {
    holds: (e) => a.holds(e) || b.holds(e),
    release: (v) => {
      const x = a.release(v);
      const y = b.release(v);
      return x.length === 0 ? y : y.length === 0 ? x : [...x, ...y];
    },
  };
}

/** The RPC service list's only writer (sunrpc/svc.c); registerrpc and svc_create go through it. */
const SVC_REGISTER = 'svc_register';
const SVC_UNREGISTER = 'svc_unregister';

/**
 * glibc's per-thread RPC cleanup (row F of docs/value-analysis-plan.md): at every thread
 * exit __libc_thread_freeres → __rpc_thread_destroy → __rpc_thread_svc_cleanup calls
 * svc_unregister for each callout on the thread's `svc_head` list, and svc_unregister goes
 * on to pmap_unset — a UDP RPC client (socket, bind, connect, sendto, poll, recvmsg …) —
 * and perror. Only svc_register puts a callout on that list. So libc's own call of
 * svc_unregister waits until some loaded object's svc_register is reached (a program's
 * calls of svc_unregister, by import or by name, are other edges and never wait).
 * Applied to a glibc the model was checked against (value-models.ts isCheckedGlibc) where
 * one function calls svc_unregister, the cleanup; anything else is code the model does not
 * know. Undefined when no loaded object fits.
 */
export function svcCleanupGate(g: { objects: ProgramObject[]; ids: NodeIds; edges: EdgeList }): (() => EdgeGate) | undefined {
  const held = new Set<number>();
  const enablers = new Set<number>();
  g.objects.forEach((ob, o) => {
    for (const e of ob.summary.exports) if (bareName(e.name) === SVC_REGISTER) enablers.add(g.ids.fnNode(o, e.fn));
  });
  g.objects.forEach((ob, o) => {
    if (!isCheckedGlibc(ob)) return;
    const fns = new Set(ob.summary.exports.filter((e) => bareName(e.name) === SVC_UNREGISTER).map((e) => e.fn));
    if (fns.size !== 1) return;
    const target = g.ids.fnNode(o, [...fns][0]);
    const { src, dst, kind, via } = g.edges;
    const calls: number[] = [];
    const callers = new Set<number>();
    for (let e = 0; e < g.edges.n; e++) {
      if (dst[e] !== target || kind[e] !== E_NORMAL || via[e] !== V_CALL || !g.ids.isFunction(src[e]) || g.ids.objectOf(src[e]) !== o) continue;
      calls.push(e);
      callers.add(src[e]);
    }
    if (callers.size === 1) calls.forEach((e) => held.add(e));
  });
  if (!held.size) return undefined;
  return () => new EnablerGate(held, enablers);
}

/** Holds its edges until one of the enabler nodes is reached; then releases them all, for good. */
class EnablerGate implements EdgeGate {
  private open = false;
  private waiting: number[] = [];
  constructor(
    private readonly held: ReadonlySet<number>,
    private readonly enablers: ReadonlySet<number>,
  ) {}

  holds(e: number): boolean {
    if (this.open || !this.held.has(e)) return false;
    this.waiting.push(e);
    return true;
  }

  release(v: number): readonly number[] {
    if (this.open || !this.enablers.has(v)) return NONE;
    this.open = true;
    const w = this.waiting;
    this.waiting = [];
    return w;
  }
}

/** Edges a model proves never run (ld.so's chain-load execve, loaderSiteCuts): held for the whole walk. */
export function heldForGood(edges: readonly number[]): EdgeGate {
  const held = new Set(edges);
  return { holds: (e) => held.has(e), release: () => NONE };
}

/** execve on x86-64: the one syscall rtld_chain_load makes. */
const EXECVE = 59;
/** A data export only glibc's ld.so defines. */
const GLIBC_LOADER_EXPORT = '_rtld_global_ro';

/**
 * The syscall numbers whose site edges the value layer holds in object o: ld.so's
 * chain-load execve when it is the PT_INTERP of another program (the executable is not
 * ld.so itself), it is glibc's ld.so (exports `_rtld_global_ro`), not also the program's
 * libc (musl's loader is libc.so and the program's execve calls bind to it: it exports
 * execve), and it has exactly one execve site (rtld_chain_load's; a second would be
 * something the model does not know).
 */
export function loaderSiteCuts(objects: ProgramObject[], loaderIdx: number | undefined): Map<number, Set<number>> {
  const cuts = new Map<number, Set<number>>();
  if (loaderIdx === undefined || loaderIdx === 0) return cuts;
  const s = objects[loaderIdx].summary;
  if (objects[loaderIdx].path === objects[0].path) return cuts;
  const names = new Set([...s.exports, ...(s.dataExports ?? [])].map((e) => bareName(e.name)));
  if (!names.has(GLIBC_LOADER_EXPORT) || names.has('execve')) return cuts;
  const sites = new Set<number>();
  for (const fn of s.functions) for (const st of fn.s ?? []) if (st.nr.includes(EXECVE)) sites.add(st.at);
  if (sites.size === 1) cuts.set(loaderIdx, new Set([EXECVE]));
  return cuts;
}
