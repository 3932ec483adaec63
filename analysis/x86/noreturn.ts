import { K, Program, endsFlow } from './program';

/**
 * Imports the C library and language runtimes define as never returning. Calls to
 * them end a path, so the padding and the next block after them are not mistaken
 * for the call's continuation.
 */
export const NORETURN_IMPORTS = new Set([
  'abort', 'exit', '_exit', '_Exit', 'quick_exit', '__stack_chk_fail', '__chk_fail', '__fortify_fail',
  '__assert_fail', '__assert_perror_fail', '__libc_fatal', 'err', 'errx', 'verr', 'verrx',
  'pthread_exit', 'longjmp', 'siglongjmp', '_longjmp', '__longjmp_chk', '__cxa_throw', '__cxa_rethrow',
  '__cxa_bad_cast', '__cxa_bad_typeid', '__cxa_call_unexpected', '_Unwind_Resume', '__cxa_pure_virtual',
]);

/**
 * Addresses (function starts and PLT stubs) that never return. A function is
 * no-return only when it provably has no way back to its caller: no `ret`, no
 * indirect jump, no fall-off at its end, and every direct jump out of it goes to
 * another no-return function (greatest fixpoint). Anything unsure returns.
 */
export function noReturnTargets(prog: Program, plt: Map<number, string>): Set<number> {
  const out = new Set<number>();
  for (const [stub, name] of plt) if (NORETURN_IMPORTS.has(name)) out.add(stub);
  const fns = prog.functions;
  const candidate = new Uint8Array(fns.length);
  const exits: number[][] = fns.map(() => []);
  for (let f = 0; f < fns.length; f++) {
    const fn = fns[f];
    const lastIdx = fn.last - 1;
    let ok = fn.last > fn.first && (endsFlow(prog.kind[lastIdx]) || prog.kind[lastIdx] === K.CALL);
    if (ok && prog.kind[lastIdx] === K.CALL) {
      // Ends with a call (`call abort`): no-return only if the callee is.
      const t = prog.target[lastIdx];
      const g = prog.functionIndexContaining(t);
      if (!out.has(t)) {
        if (g === undefined || fns[g].addr !== t) ok = false;
        else exits[f].push(g);
      }
    }
    for (let i = fn.first; ok && i < fn.last; i++) {
      const k = prog.kind[i];
      if (k === K.RET || k === K.JMP_IND) ok = false;
      else if (k === K.JMP || k === K.JCC) {
        const t = prog.target[i];
        if (t < fn.addr || t >= fn.end) {
          if (out.has(t)) continue;
          const g = prog.functionIndexContaining(t);
          if (g === undefined || fns[g].addr !== t) ok = false;
          else exits[f].push(g);
        }
      }
    }
    candidate[f] = ok ? 1 : 0;
  }
  let changed = true;
  while (changed) {
    changed = false;
    for (let f = 0; f < fns.length; f++) {
      if (candidate[f] && exits[f].some((g) => !candidate[g])) {
        candidate[f] = 0;
        changed = true;
      }
    }
  }
  for (let f = 0; f < fns.length; f++) if (candidate[f]) out.add(fns[f].addr);
  return out;
}
