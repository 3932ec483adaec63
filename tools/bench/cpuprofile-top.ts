/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): the functions with the
 * most self time and the most inclusive time, so a bench run names its hotspots.
 * Usage: npx tsx tools/bench/cpuprofile-top.ts FILE.cpuprofile... [--top N]
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const label = (f: CallFrame) =>
  `${f.functionName || '(anonymous)'} ${f.url ? `${path.basename(f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : ''}`.trim();

export function summarise(p: CpuProfile): { total: number; self: Map<string, number>; inclusive: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to the sampled node.
  for (let i = 0; i < p.samples.length; i++) selfById.set(p.samples[i], (selfById.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfById) {
    total += us;
    const n = byId.get(id)!;
    const l = label(n.callFrame);
    self.set(l, (self.get(l) ?? 0) + us);
    // Each label counted once per stack, so recursion does not inflate it.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cl = label(byId.get(cur)!.callFrame);
      if (seen.has(cl)) continue;
      seen.add(cl);
      inclusive.set(cl, (inclusive.get(cl) ?? 0) + us);
    }
  }
  return { total, self, inclusive };
}

function main(argv: string[]): void {
  let top = 15;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]);
  }
  for (const f of files) {
    const { total, self, inclusive } = summarise(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
    const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
    const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
    process.stdout.write(`== ${path.basename(f)}: ${(total / 1e6).toFixed(2)} s sampled\n-- self time (ms)\n`);
    for (const [l, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(us)} ${pct(us)}  ${l}\n`);
    process.stdout.write('-- inclusive time (ms), excluding (root)/(program)\n');
    const skip = /^\((root|program|idle|garbage collector)\)/;
    for (const [l, us] of [...inclusive].filter(([l]) => !skip.test(l)).sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(us)} ${pct(us)}  ${l}\n`);
  }
}

if (require.main === module) main(process.argv.slice(2));
