import type { EffectDecoder } from './effects';
import { K, type Program } from './program';

/** Instructions followed forward from one materialisation at most. */
const MAX_SCAN = 64;

/**
 * Direct-call targets inside a function (Program.isInnerEntry) whose address the code
 * also materialises (lea, mov $imm): callers the analysis does not see may enter there
 * with any values, so they are address-taken like a function start would be — unless
 * every materialisation is only compared before the register is overwritten, on every
 * path. musl's cancellation handler compares the interrupted pc with `__cp_begin`, which
 * is the entry of `__syscall_cp_asm`: no call goes through that address.
 */
export function takenCallTargets(prog: Program, effects: EffectDecoder, isStart: (addr: number) => boolean): number[] {
  const out = new Set<number>();
  const calls = prog.callSources;
  for (let i = 0; i < prog.n; i++) {
    if (prog.kind[i] !== K.NEXT) continue;
    const t = prog.target[i];
    if (Number.isNaN(t) || !calls.has(t) || isStart(t) || out.has(t)) continue;
    if (!onlyCompared(prog, effects, i)) out.add(t);
  }
  return [...out].sort((a, b) => a - b);
}

/** The register instruction i writes its materialised address to is read by cmp/test only, then overwritten or left dead, on every path within its function. */
function onlyCompared(prog: Program, effects: EffectDecoder, i: number): boolean {
  const def = effects.registerUse(prog.addr[i]);
  if (def.dst === undefined) return false; // stored to memory: the address escapes
  const bit = 1 << def.dst;
  const fn = prog.fnOf[i];
  const seen = new Set<number>();
  const work = [i + 1];
  while (work.length) {
    const j = work.pop()!;
    if (seen.has(j)) continue;
    seen.add(j);
    if (seen.size > MAX_SCAN || j >= prog.n || prog.fnOf[j] !== fn) return false;
    const kind = prog.kind[j];
    const use = effects.registerUse(prog.addr[j]);
    if (use.reads & bit) {
      if (!use.compares) return false;
    } else if (use.writes & bit) continue; // overwritten: this path is done
    switch (kind) {
      case K.CALL:
      case K.CALL_IND:
      case K.JMP_IND:
      case K.RET:
      case K.SYSCALL:
      case K.INT80:
      case K.SYSENTER:
      case K.OTHER:
        // Still live where code we do not follow may read it.
        return false;
      case K.STOP:
        continue;
      case K.JMP:
      case K.JCC: {
        const t = prog.indexOf(prog.target[j]);
        if (t === undefined) return false;
        work.push(t);
        if (kind === K.JCC) work.push(j + 1);
        continue;
      }
      default:
        work.push(j + 1);
    }
  }
  return true;
}
