/**
 * Comparisons on an argument the kernel reads as a 32-bit int, rewritten to compare
 * only those 32 bits. A seccomp filter compares all 64 bits of the register;
 * the kernel truncates. Docker's default allows socket(2) for families `< 38`, `== 39`
 * and `> 40` (refusing AF_ALG and AF_VSOCK), and socket(0x1_00000026) passes `> 40`:
 * the kernel then opens an AF_ALG socket (measured: under Docker's default profile
 * the plain call is refused, the one with a high bit set reaches the kernel). Ranges
 * let upper bits smuggle a value in; an equality with upper bits set fails instead,
 * refusing a call the kernel would have made with an allowed value (the psABI leaves
 * the upper half of an int argument undefined), so equalities are rewritten too, as
 * confine's own argument rules are written (arg-rules.ts).
 *
 * A rule whose comparisons on such an argument are plain ones becomes one rule per aligned
 * block of the low-32-bit values it accepts, each a SCMP_CMP_MASKED_EQ on those bits
 * (`[41, 2^32)` is 41, 42–43, 44–47, 48–63, 64–127, …: one block per bit at most), so
 * it accepts exactly the calls the kernel would see as an accepted value.
 */
import type { DockerProfile, SeccompArg, SeccompRule } from './seccomp-types';

/** Arguments the kernel declares `int` or `unsigned int` (include/linux/syscalls.h), by syscall. */
export const INT_ARGS: ReadonlyMap<string, readonly number[]> = new Map([
  ['socket', [0, 1, 2]],
  ['socketpair', [0, 1, 2]],
  ['personality', [0]],
  ['prctl', [0]],
  ['ioctl', [1]],
]);

const PLAIN_OPS = new Set<SeccompArg['op']>(['SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE', 'SCMP_CMP_NE', 'SCMP_CMP_EQ']);
const SPAN = 2 ** 32;
const LOW32 = 0xffffffff;

/** Half-open intervals [from, to) of low-32-bit values. */
type Interval = [number, number];

/** The low-32-bit values every comparison accepts, or undefined when one is not a plain comparison with a 32-bit operand. */
export function acceptedIntervals(conds: readonly SeccompArg[]): Interval[] | undefined {
  let out: Interval[] = [[0, SPAN]];
  for (const c of conds) {
    const a = Number(c.value);
    if (!Number.isInteger(a) || a < 0 || a >= SPAN) return undefined;
    let allowed: Interval[];
    switch (c.op) {
      case 'SCMP_CMP_LT': allowed = [[0, a]]; break;
      case 'SCMP_CMP_LE': allowed = [[0, a + 1]]; break;
      case 'SCMP_CMP_GT': allowed = [[a + 1, SPAN]]; break;
      case 'SCMP_CMP_GE': allowed = [[a, SPAN]]; break;
      case 'SCMP_CMP_EQ': allowed = [[a, a + 1]]; break;
      case 'SCMP_CMP_NE': allowed = [[0, a], [a + 1, SPAN]]; break;
      default: return undefined;
    }
    out = out.flatMap(([f, t]) => allowed.map(([g, u]): Interval => [Math.max(f, g), Math.min(t, u)])).filter(([f, t]) => f < t);
  }
  return out;
}

/** Aligned power-of-two blocks covering [from, to) exactly, as (start, size). */
export function alignedBlocks([from, to]: Interval): { start: number; size: number }[] {
  const out: { start: number; size: number }[] = [];
  let at = from;
  while (at < to) {
    // The largest block aligned at `at` that still fits.
    let size = at === 0 ? SPAN : 2 ** Math.min(31, lowestBit(at));
    while (at + size > to) size /= 2;
    out.push({ start: at, size });
    at += size;
  }
  return out;
}

function lowestBit(x: number): number {
  let b = 0;
  while (x % 2 ** (b + 1) === 0) b++;
  return b;
}

/** The comparison accepting exactly the low 32 bits in the block. */
function blockCompare(index: number, b: { start: number; size: number }): SeccompArg {
  // (arg & mask) == start, the mask keeping the block's fixed bits of the low 32.
  const mask = (LOW32 - (b.size - 1)) >>> 0;
  return { index, value: mask, valueTwo: b.start, op: 'SCMP_CMP_MASKED_EQ' };
}

/** The argument of `rule` to rewrite: an int argument of every name it has, with a plain (64-bit) comparison. */
function plainIntArg(rule: SeccompRule): number | undefined {
  if (rule.action !== 'SCMP_ACT_ALLOW' || !rule.args?.length) return undefined;
  for (const c of rule.args) {
    if (!PLAIN_OPS.has(c.op)) continue;
    if (rule.names.every((n) => INT_ARGS.get(n)?.includes(c.index))) return c.index;
  }
  return undefined;
}

/** One rule with its plain comparisons on int arguments replaced by low-32-bit block rules (several rules, ORed). */
function rewriteRule(rule: SeccompRule): SeccompRule[] {
  const index = plainIntArg(rule);
  if (index === undefined) return [rule];
  const same = rule.args!.filter((c) => c.index === index);
  const other = rule.args!.filter((c) => c.index !== index);
  const intervals = acceptedIntervals(same);
  if (!intervals) return [rule];
  const blocks = intervals.flatMap(alignedBlocks);
  const { comment, ...keep } = rule;
  const note = `confine: argument ${index} compared on its low 32 bits, as the kernel reads it`;
  // Another int argument of the same rule may be compared too: rewrite the results again.
  return blocks.flatMap((b) => rewriteRule({ ...keep, args: [...other.map((c) => ({ ...c })), blockCompare(index, b)], comment: comment ? `${comment} (${note})` : note }));
}

/** The profile with every such rule rewritten, and the syscall names whose rules were. */
export function low32Comparisons(profile: DockerProfile): { profile: DockerProfile; rewritten: string[] } {
  const rewritten = new Set<string>();
  const syscalls = (profile.syscalls ?? []).flatMap((rule) => {
    const out = rewriteRule(rule);
    if (out.length !== 1 || out[0] !== rule) for (const n of rule.names) rewritten.add(n);
    return out;
  });
  return { profile: { ...profile, syscalls }, rewritten: [...rewritten].sort() };
}
