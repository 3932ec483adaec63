import * as fs from 'fs';
import { scanFile } from '../scan/scan-file';
import { analyzeCode, decodeFunctions } from './analyze-object';
import { decodeSlice, joinSlices, trimmed, type SliceResult, type SliceRunner } from './decode-slices';
import { sliceBounds, sliceJob } from './slice-job';
import { Program, refModeOf } from './program';
import { codeInputFromElf } from './from-elf';
import { parseElf } from '../elf';
import { compile, tempDir } from './test-fixtures';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const DIGEST = 'sha256:' + '2'.repeat(64);

/**
 * Decodes every range as a helper worker would: from the job's plain data only (no
 * names), each range trimmed to transferable arrays, handed back last range first.
 */
const asHelpers = (counted: { ranges: number }): SliceRunner => (job, count) => {
  counted.ranges += count;
  const cache = {};
  const out: SliceResult[] = [];
  for (let k = count - 1; k >= 0; k--) out.push(trimmed(decodeSlice(job, k, undefined, cache), job, cache).result);
  return out;
};

// Ranges of 16 KiB: libc's 1.3 MB of code in ~80 ranges, each boundary a chance to lose or double a function.
const SMALL = { minBytes: 0, sliceBytes: 16 * 1024 };

describe('a scan decoded in ranges of functions is the scan decoded in one pass', () => {
  test('host libc: the whole ObjectSummary is the same', () => {
    const bytes = fs.readFileSync(LIBC);
    const counted = { ranges: 0 };
    const whole = scanFile(bytes, DIGEST, LIBC);
    const split = scanFile(bytes, DIGEST, LIBC, { ...SMALL, runSlices: asHelpers(counted) });
    expect(counted.ranges).toBeGreaterThan(40);
    expect(whole.analysis!.functions.length).toBeGreaterThan(2000);
    expect(split).toEqual(whole);
  }, 120000);

  test('a static (position-dependent) gcc program: absolute data references survive the cut too', () => {
    const dir = tempDir('confine-slices-');
    try {
      const src = `#include <stdio.h>
#include <unistd.h>
static int (*table[])(void) = { getpid, getppid };
int main(int c, char **v) { printf("%d\\n", table[c & 1]()); return write(1, v[0], 1) < 0; }`;
      const bin = compile(dir, 'p.c', src, 'p', ['-O2', '-static']);
      const bytes = fs.readFileSync(bin);
      const counted = { ranges: 0 };
      const whole = scanFile(bytes, DIGEST, bin);
      const split = scanFile(bytes, DIGEST, bin, { minBytes: 0, sliceBytes: 4 * 1024, runSlices: asHelpers(counted) });
      expect(counted.ranges).toBeGreaterThan(20);
      expect(whole.analysis!.regions?.length).toBeGreaterThan(0);
      expect(split).toEqual(whole);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);

  test('the Program and facts themselves match, instruction for instruction', () => {
    const bytes = fs.readFileSync(LIBC);
    const input = { ...codeInputFromElf(parseElf(bytes, LIBC), bytes)!, dataRefs: { absolute: false } };
    const counted = { ranges: 0 };
    const one = decodeFunctions(input);
    const cut = decodeFunctions(input, { ...SMALL, runSlices: asHelpers(counted) });
    expect(counted.ranges).toBeGreaterThan(40);
    expect(cut.prog.n).toBe(one.prog.n);
    for (const k of ['addr', 'len', 'code', 'kind', 'target', 'fnOf'] as const) expect(Buffer.compare(bytesOf(cut.prog[k], cut.prog.n), bytesOf(one.prog[k], one.prog.n))).toBe(0);
    expect(cut.prog.refCount).toBe(one.prog.refCount);
    expect(Array.from(cut.prog.refInsn.subarray(0, cut.prog.refCount))).toEqual(Array.from(one.prog.refInsn.subarray(0, one.prog.refCount)));
    expect(cut.prog.functions).toEqual(one.prog.functions);
    expect([...cut.functions]).toEqual([...one.functions]);
    expect([...cut.addressTaken]).toEqual([...one.addressTaken]);
    expect(cut.syscallIdx).toEqual(one.syscallIdx);
    // And the data-flow half over it finds the same numbers.
    expect(analyzeCode(input, { ...SMALL, runSlices: asHelpers(counted) }).syscalls).toEqual(analyzeCode(input).syscalls);
  }, 120000);

  test('a range that guessed wrong where code resumes is decoded again with the right position', () => {
    const bytes = fs.readFileSync(LIBC);
    const input = codeInputFromElf(parseElf(bytes, LIBC), bytes)!;
    const sorted = Program.sortedStarts(input.code, input.codeVaddr, input.functionStarts);
    const bounds = sliceBounds(sorted, input.codeVaddr, input.code.length, { ...SMALL, runSlices: () => [] });
    const job = sliceJob(input, sorted, refModeOf({}), bounds);
    const cache = {};
    const results = bounds.slice(0, -1).map((_, k) => decodeSlice(job, k, undefined, cache));
    // As if range 5 had believed code resumed one byte into its first function.
    const wrong = decodeSlice(job, 5, results[4].endResume + 1, cache);
    expect(wrong.assumedResume).not.toBe(results[4].endResume);
    const fixed = joinSlices(job, sorted, results.map((r, k) => (k === 5 ? wrong : r)), input.extraAddressTaken);
    const right = joinSlices(job, sorted, results, input.extraAddressTaken);
    expect(fixed.prog.n).toBe(right.prog.n);
    expect([...fixed.functions]).toEqual([...right.functions]);
  }, 120000);

  test('a range the runner did not bring back is decoded at the join', () => {
    const bytes = fs.readFileSync(LIBC);
    const counted = { ranges: 0 };
    const dropOne: SliceRunner = (job, count, here) => asHelpers(counted)(job, count, here).filter((r) => r.k !== Math.floor(count / 2));
    expect(scanFile(bytes, DIGEST, LIBC, { ...SMALL, runSlices: dropOne })).toEqual(scanFile(bytes, DIGEST, LIBC));
    expect(counted.ranges).toBeGreaterThan(40);
  }, 120000);
});

function bytesOf(a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; BYTES_PER_ELEMENT: number }, n: number): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
}
