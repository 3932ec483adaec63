import { acceptsRegister } from './arg-rules';
import { acceptedIntervals, alignedBlocks, low32Comparisons } from './low32-rules';
import { defaultProfile } from './read-profile';
import type { DockerProfile, SeccompArg, SeccompRule } from './seccomp-types';

/** Whether some allow rule for `name` lets a call with argument `index` = x through (other arguments 0). */
function allows(p: DockerProfile, name: string, index: number, x: bigint): boolean {
  return (p.syscalls ?? []).some((r: SeccompRule) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes(name) && (r.args ?? []).every((c) => acceptsRegister(c, c.index === index ? x : 0n)));
}

const base = defaultProfile().profile;
const HIGH = 1n << 32n;

describe("Docker's socket family rules", () => {
  const { profile, rewritten } = low32Comparisons(base);

  it('let a refused family through with an upper bit set; rewritten, they do not', () => {
    expect(allows(base, 'socket', 0, 38n)).toBe(false);
    expect(allows(base, 'socket', 0, HIGH + 38n)).toBe(true);
    expect(rewritten).toEqual(['personality', 'socket']);
    expect(allows(profile, 'socket', 0, 38n)).toBe(false);
    expect(allows(profile, 'socket', 0, HIGH + 38n)).toBe(false);
    expect(allows(profile, 'socket', 0, HIGH + 40n)).toBe(false);
  });

  it('rewritten, accept exactly the families the base accepts, whatever the upper bits', () => {
    const samples = [...Array.from({ length: 130 }, (_, i) => i), 255, 256, 4095, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1];
    for (const v of samples) {
      const want = allows(base, 'socket', 0, BigInt(v));
      for (const upper of [0n, HIGH, 0xffffffffn << 32n]) expect({ v, upper, got: allows(profile, 'socket', 0, upper + BigInt(v)) }).toEqual({ v, upper, got: want });
    }
  });

  it('become one rule per aligned block: 34 for [0,38) ∪ {39} ∪ [41, 2^32)', () => {
    expect(profile.syscalls!.filter((r) => r.names.includes('socket'))).toHaveLength(34);
  });

  it("leave every rule of syscalls without int-argument comparisons as it was", () => {
    const others = (p: DockerProfile) => p.syscalls!.filter((r) => !r.names.includes('socket') && !r.names.includes('personality'));
    expect(others(profile)).toEqual(others(base));
  });
});

const rule = (names: string[], args: SeccompArg[]): DockerProfile => ({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names, action: 'SCMP_ACT_ALLOW', args }] });

describe('what is left alone', () => {
  it('a masked comparison, a 64-bit argument, an errno rule', () => {
    const kept: DockerProfile[] = [
      rule(['socket'], [{ index: 0, value: 0xffffffff, valueTwo: 2, op: 'SCMP_CMP_MASKED_EQ' }]),
      rule(['clone'], [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_GT' }]),
      { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }] }] },
    ];
    for (const p of kept) expect(low32Comparisons(p)).toEqual({ profile: p, rewritten: [] });
  });

  it('a rule naming an int-argument syscall with one whose argument is not an int is kept whole', () => {
    const p = rule(['socket', 'clone'], [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }]);
    expect(low32Comparisons(p).profile).toEqual(p);
  });
});

describe('a comparison on an int argument', () => {
  it('an equality compares the low 32 bits: upper bits no longer refuse a call the kernel would make with the value', () => {
    const p = rule(['personality'], [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);
    const out = low32Comparisons(p);
    expect(out.rewritten).toEqual(['personality']);
    expect(out.profile.syscalls).toHaveLength(1);
    expect(allows(p, 'personality', 0, HIGH + 8n)).toBe(false);
    for (const [x, ok] of [[8n, true], [HIGH + 8n, true], [9n, false], [HIGH + 9n, false]] as [bigint, boolean][]) expect(allows(out.profile, 'personality', 0, x)).toBe(ok);
  });

  it('keeps its other comparisons and conditions in every block rule', () => {
    const p: DockerProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 10, op: 'SCMP_CMP_LE' }, { index: 1, value: 1, op: 'SCMP_CMP_NE' }], includes: { caps: ['CAP_NET_RAW'] } }],
    };
    const out = low32Comparisons(p).profile.syscalls!;
    expect(out.every((r) => r.includes?.caps?.[0] === 'CAP_NET_RAW')).toBe(true);
    for (const v of [0n, 10n, 11n, HIGH + 3n, HIGH + 11n]) {
      for (const t of [0n, 1n, 2n, HIGH + 1n]) {
        const ok = out.some((r) => (r.args ?? []).every((c) => acceptsRegister(c, c.index === 0 ? v : t)));
        expect({ v, t, ok }).toEqual({ v, t, ok: (v & 0xffffffffn) <= 10n && (t & 0xffffffffn) !== 1n });
      }
    }
  });
});

describe('the pieces', () => {
  it('acceptedIntervals intersects the comparisons, and refuses an operand of 32 bits or more', () => {
    expect(acceptedIntervals([{ index: 0, value: 38, op: 'SCMP_CMP_LT' }])).toEqual([[0, 38]]);
    expect(acceptedIntervals([{ index: 0, value: 40, op: 'SCMP_CMP_NE' }, { index: 0, value: 50, op: 'SCMP_CMP_LE' }])).toEqual([[0, 40], [41, 51]]);
    expect(acceptedIntervals([{ index: 0, value: 2 ** 32, op: 'SCMP_CMP_LT' }])).toBeUndefined();
  });

  it('alignedBlocks tiles an interval exactly with aligned power-of-two blocks', () => {
    for (const [from, to] of [[0, 38], [41, 2 ** 32], [0, 2 ** 32], [5, 6], [1000, 70000]] as [number, number][]) {
      const blocks = alignedBlocks([from, to]);
      let at = from;
      for (const b of blocks) {
        expect(b.start).toBe(at);
        expect(b.start % b.size).toBe(0);
        expect(Math.log2(b.size) % 1).toBe(0);
        at += b.size;
      }
      expect(at).toBe(to);
      expect(blocks.length).toBeLessThanOrEqual(64);
    }
  });
});
