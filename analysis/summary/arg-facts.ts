import type { ObjectSummary } from '../../schemas/types';
import { ARG_WRAPPER_IMPORTS, ArgFinding, recoverImportArgs, recoverSyscallArgs } from '../x86/syscall-args';
import type { CodeAnalysis } from '../x86/code-analysis';

type ArgRecord = NonNullable<ObjectSummary['args']>[number];

/**
 * The summary's `args`: for every syscall instruction with a tracked constant number,
 * the argument's values by the function that supplies them, the failures by the
 * function where the walk gave up, and the exported entries whose parameter carries
 * it; for every tracked wrapper import (libc's socket()), the same at this object's
 * calls to it. Function addresses become function indexes (`fnAt`).
 */
export function argFacts(
  a: CodeAnalysis,
  fnAt: (addr: number) => number,
  imp: (key: string) => number,
): NonNullable<ObjectSummary['args']> {
  const out: ArgRecord[] = [];
  for (const s of recoverSyscallArgs(a)) {
    const rec: ArgRecord = { nr: s.nr, arg: s.arg, site: s.site, fn: fnAt(s.fn), f: findings(s.findings, fnAt) };
    if (s.entries.length) rec.p = [...new Set(s.entries.map(fnAt))].sort((x, y) => x - y);
    if (s.exported.length) {
      const seen = new Set<string>();
      rec.w = [];
      for (const e of s.exported) {
        const k = `${e.entry}:${JSON.stringify(e.loc)}:${JSON.stringify(e.xf ?? [])}`;
        if (!seen.has(k)) { seen.add(k); rec.w.push({ fn: fnAt(e.entry), loc: e.loc, ...(e.xf ? { xf: e.xf } : {}) }); }
      }
    }
    out.push(rec);
  }
  for (const w of ARG_WRAPPER_IMPORTS) {
    for (const key of new Set(a.plt.values())) {
      if (key !== w.name && !key.startsWith(`${w.name}@`)) continue;
      const r = recoverImportArgs(a, key, w.loc);
      out.push({ nr: w.nr, arg: w.arg, import: imp(key), f: findings(r.findings, fnAt), ...(r.entries.length ? { p: [...new Set(r.entries.map(fnAt))].sort((x, y) => x - y) } : {}) });
    }
  }
  return out;
}

/** One finding per function and reason, values merged and sorted. */
function findings(fs: ArgFinding[], fnAt: (addr: number) => number): ArgRecord['f'] {
  const byKey = new Map<string, ArgRecord['f'][number]>();
  const vals = new Map<string, Set<number>>();
  for (const x of fs) {
    const fn = fnAt(x.fn);
    const k = `${fn}|${x.reason ?? ''}`;
    let r = byKey.get(k);
    if (!r) {
      r = { fn, v: [], ...(x.reason !== undefined ? { why: x.reason } : {}), ...(x.at !== undefined && x.reason !== undefined ? { at: x.at } : {}) };
      byKey.set(k, r);
      vals.set(k, new Set());
    }
    for (const v of x.values) vals.get(k)!.add(v);
  }
  for (const [k, r] of byKey) r.v = [...vals.get(k)!].sort((p, q) => p - q);
  return [...byKey.values()];
}
