import type { GoSyscallAnalysis } from '../golang/go-syscalls';
import type { ObjectImage } from './object-image';
import { summarizeObject, ObjectSummary } from './object-summary';

/**
 * A Go binary's object summary, from its analysis by analysis/golang/. The generic x86
 * summary cannot see Go's syscall numbers (they travel on the stack and through Go-ABI
 * wrappers); analysis/golang/ resolves them with Go's own reachability from the runtime's
 * roots. Its result joins the walk at the entry point — every syscall Go code can reach
 * is reachable once the program runs — and its list of unresolved sites replaces the
 * generic one, whose Go-wrapper "unknowns" it has resolved. The generic edges still
 * carry cgo's calls into libc.
 */
export function summarizeGoObject(image: ObjectImage, go: GoSyscallAnalysis): ObjectSummary {
  // Go's own functions get no guard scan (issue 26's value layer): measured on containerd it
  // cut nothing (154 syscalls with and without) and cost 4.5 s of its 10.5 s scan. Go code
  // runs through analysis/golang/'s reachability, not the guarded walk. A cgo binary's C
  // functions are scanned as any C object's.
  const summary = summarizeObject(image, go.code, go.goFunctionStarts);
  const entry = summary.entry ?? 0;
  const fnOf = (addr: number) => {
    const i = summary.functions.findIndex((f, k) => f.a <= addr && (summary.functions[k + 1]?.a ?? Infinity) > addr);
    return i < 0 ? entry : i;
  };
  const functions = summary.functions.map((f, i) =>
    i === entry ? { ...f, s: [...(f.s ?? []), { at: f.a, nr: [...go.syscalls].sort((a, b) => a - b) }] } : f,
  );
  return {
    ...summary,
    functions,
    unresolved: go.sites.unresolved.map((u) => ({ site: u.addr, fn: fnOf(u.addr), reason: `${u.fn}: ${u.reason}` })),
  };
}
