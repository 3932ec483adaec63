import { applyXf, XfOp } from '../x86/effects';
import { ARG_WRAPPER_IMPORTS, TRACKED_ARGS } from '../x86/syscall-args';
import type { ChainStep, ProgramObject } from './types';

/**
 * Whole-program argument rules for tracked syscalls (socket/socketpair families):
 * the union of the values supplied by reached functions at every reached site, or —
 * sound by construction — unconditional as soon as one reached site's value is not
 * known, naming the first such site.
 *
 * A site's value is known when every path to it was followed (ObjectSummary.args):
 * constants in reached functions count; a failure in a reached function forces
 * unconditional; a function the value was followed through must not be entered other
 * than by the direct calls that were followed (indirect calls, dlsym, roots); an
 * exported wrapper (libc's socket()) gets its value from each importer's own record
 * of its calls to it, and an importer without one forces unconditional.
 */

export interface ArgRule {
  arg: number;
  /** Allowed values (low 32 bits) when `unconditional` is absent. */
  values: number[];
  /** For each value: one reached function that supplies it, and a shortest chain from an entry point to it (ending with it). */
  origins: Map<number, { object: string; function: string; steps: ChainStep[] }>;
  unconditional?: ArgForcing;
}

export interface ArgForcing {
  object: string;
  site: number;
  function: string;
  reason: string;
}

/** What the link walk knows, as the rules need it. */
export interface ArgWalkView {
  objects: ProgramObject[];
  reached(o: number, f: number): boolean;
  /** Why a reached function may be entered other than by a direct call or a bound import call (undefined: it may not). */
  enteredOtherwise(o: number, f: number): string | undefined;
  /** The functions (object, index) an import of object o binds to. */
  boundTo(o: number, i: number): { o: number; f: number }[];
  /** A shortest chain from an entry point to a reached function, ending with it. */
  chain(o: number, f: number): ChainStep[];
}

const TRACKED = new Map(TRACKED_ARGS.map((t) => [t.nr, t]));

type ArgRecord = NonNullable<ProgramObject['summary']['args']>[number];

/** A tracked argument an exported wrapper's parameter carries: the pending operations (xf) between the parameter and the syscall. */
interface WrapperArg {
  nr: number;
  arg: number;
  loc: string;
  xf: XfOp[];
}

export function argRules(view: ArgWalkView, reachedSyscalls: Set<number>): Map<number, ArgRule> {
  const b = new ArgRuleBuilder(view, reachedSyscalls);
  if (!b.rules.size) return b.rules;
  const wrappers = exportedWrappers(view);
  view.objects.forEach((_, o) => b.addObject(o, wrappers));
  return b.finish();
}

/** Exported wrappers (object, function) → the tracked arguments their parameter carries. */
function exportedWrappers(view: ArgWalkView): Map<string, WrapperArg[]> {
  const wrappers = new Map<string, WrapperArg[]>();
  view.objects.forEach((ob, o) => {
    for (const r of ob.summary.args ?? []) {
      for (const w of r.w ?? []) {
        const k = `${o}:${w.fn}`;
        wrappers.set(k, [...(wrappers.get(k) ?? []), { nr: r.nr, arg: r.arg, loc: JSON.stringify(w.loc), xf: (w.xf ?? []) as XfOp[] }]);
      }
    }
  });
  return wrappers;
}

/** The import wrapper entry (ARG_WRAPPER_IMPORTS) an importer's record for `key` was made with. */
function wrapperImport(key: string, nr: number, arg: number) {
  const at = key.indexOf('@');
  const bare = at < 0 ? key : key.slice(0, at);
  return ARG_WRAPPER_IMPORTS.find((x) => x.name === bare && x.nr === nr && x.arg === arg);
}

const nameOf = (nr: number) => TRACKED.get(nr)?.name ?? `#${nr}`;

/** The rules as they are gathered, object by object: the values found, and the first site that forces a rule unconditional. */
class ArgRuleBuilder {
  readonly rules = new Map<number, ArgRule>();
  /** Per syscall: value → the first (object, function) found supplying it. */
  private readonly values = new Map<number, Map<number, [number, number]>>();

  constructor(private readonly view: ArgWalkView, reachedSyscalls: Set<number>) {
    for (const t of TRACKED_ARGS) if (reachedSyscalls.has(t.nr)) this.rules.set(t.nr, { arg: t.arg, values: [], origins: new Map() });
    for (const nr of this.rules.keys()) this.values.set(nr, new Map());
  }

  /** The first reason found wins: the rule names one site a person can look at. */
  private force(nr: number, o: number, site: number, f: number, reason: string): void {
    const r = this.rules.get(nr);
    if (!r || r.unconditional) return;
    const ob = this.view.objects[o];
    const fn = ob.summary.functions[f];
    r.unconditional = { object: ob.path, site, function: fn?.n ?? (fn ? `0x${fn.a.toString(16)}` : '?'), reason };
  }

  /** Object o's reached sites and reached calls to exported wrappers, then its calls through libc's syscall(). */
  addObject(o: number, wrappers: Map<string, WrapperArg[]>): void {
    const { view, rules } = this;
    const s = view.objects[o].summary;
    const usedImports = new Map<string, { rec: ArgRecord; xf: XfOp[] }>();
    const sites = new Map<string, ArgRecord>();
    const imports = new Map<string, ArgRecord>();
    for (const r of s.args ?? []) {
      if (r.import !== undefined) imports.set(`${r.import}:${r.nr}:${r.arg}`, r);
      else if (r.site !== undefined) sites.set(`${r.site}:${r.nr}`, r);
    }
    for (let f = 0; f < s.functions.length; f++) {
      if (!view.reached(o, f)) continue;
      this.addSites(o, f, sites);
      this.addWrapperCalls(o, f, wrappers, imports, usedImports);
    }
    // syscall(SYS_socket, …) through libc's syscall(): the argument is not followed.
    for (const x of s.importArgs) {
      for (const u of x.uses) {
        if (!view.reached(o, u.fn)) continue;
        for (const nr of u.nr) if (rules.has(nr)) this.force(nr, o, s.functions[u.fn].a, u.fn, `${s.imports[x.import]}(${nameOf(nr)}, …): the number is passed to a wrapper; its arguments are not followed`);
      }
    }
    for (const u of usedImports.values()) this.useRecord(u.rec, o, -1, u.xf);
  }

  /** The tracked syscall sites of reached function f: each needs its own argument record. */
  private addSites(o: number, f: number, sites: Map<string, ArgRecord>): void {
    const ob = this.view.objects[o];
    const fn = ob.summary.functions[f];
    for (const st of fn.s ?? []) {
      for (const nr of st.nr) {
        if (!this.rules.has(nr)) continue;
        if (!ob.summary.args) { this.force(nr, o, st.at, f, `no argument facts for ${ob.path} (a Go binary or a summary from before they existed)`); continue; }
        const rec = sites.get(`${st.at}:${nr}`);
        if (!rec || rec.fn !== f) { this.force(nr, o, st.at, f, `no argument record for this ${nameOf(nr)} site: the number reaches it as a wrapper's parameter (arguments not followed)${fn.a === st.at ? ', or the object summarises its syscalls at one function (a Go binary)' : ''}`); continue; }
        this.useRecord(rec, o, st.at);
      }
    }
  }

  /**
   * A reached call to an exported wrapper needs this object's record of its calls;
   * the record's values become the argument through the wrapper's pending operations.
   */
  private addWrapperCalls(o: number, f: number, wrappers: Map<string, WrapperArg[]>, imports: Map<string, ArgRecord>, usedImports: Map<string, { rec: ArgRecord; xf: XfOp[] }>): void {
    const s = this.view.objects[o].summary;
    const fn = s.functions[f];
    for (const i of fn.i ?? []) {
      for (const b of this.view.boundTo(o, i)) {
        for (const w of wrappers.get(`${b.o}:${b.f}`) ?? []) {
          if (!this.rules.has(w.nr)) continue;
          const x = wrapperImport(s.imports[i], w.nr, w.arg);
          const rec = imports.get(`${i}:${w.nr}:${w.arg}`);
          if (!x || JSON.stringify(x.loc) !== w.loc || !rec) {
            this.force(w.nr, o, fn.a, f, `calls ${s.imports[i]}, which passes its parameter ${w.loc} to ${nameOf(w.nr)}; the value was not recovered at this call`);
            continue;
          }
          const k = `${i}:${w.nr}:${w.arg}:${JSON.stringify(w.xf)}`;
          if (!usedImports.has(k)) usedImports.set(k, { rec, xf: w.xf });
        }
      }
    }
  }

  /** Values and failures of one record, for the functions that are reached; its followed entries must not be entered otherwise. */
  private useRecord(rec: ArgRecord, o: number, site: number, xf: XfOp[] = []): void {
    const view = this.view;
    for (const x of rec.f) {
      if (!view.reached(o, x.fn)) continue;
      const m = this.values.get(rec.nr);
      if (m) {
        for (const raw of x.v) {
          const v = xf.reduce((acc, op) => applyXf(op, acc), raw) >>> 0;
          if (!m.has(v)) m.set(v, [o, x.fn]);
        }
      }
      if (x.why !== undefined) this.force(rec.nr, o, x.at ?? site, x.fn, x.why);
    }
    for (const e of [...(rec.p ?? []), ...(rec.w ?? []).map((w) => w.fn)]) {
      if (!view.reached(o, e)) continue;
      const why = view.enteredOtherwise(o, e);
      if (why) this.force(rec.nr, o, site, e, `the ${nameOf(rec.nr)} argument is a parameter of ${view.objects[o].summary.functions[e].n ?? 'a function'}, which ${why}`);
    }
  }

  /** The values of each rule not forced unconditional, sorted, each with one origin and its chain. */
  finish(): Map<number, ArgRule> {
    const view = this.view;
    for (const [nr, r] of this.rules) {
      if (r.unconditional) continue;
      const m = this.values.get(nr)!;
      r.values = [...m.keys()].sort((x, y) => x - y);
      for (const v of r.values) {
        const [o, f] = m.get(v)!;
        const fn = view.objects[o].summary.functions[f];
        r.origins.set(v, { object: view.objects[o].path, function: fn.n ?? `0x${fn.a.toString(16)}`, steps: view.chain(o, f) });
      }
    }
    return this.rules;
  }
}
