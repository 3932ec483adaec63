import * as fs from 'node:fs';
import { scanFile } from '../stages/scan-file';
import { readSeedCallgraphSync } from '../callgraph/seed-format';
import { buildCallGraph, reachableSyscalls, syscallNodeKey } from '../callgraph/graph';
import { ObjectReach } from './object-reach';
import { syscallName, syscallNumber } from '../syscalls/table';
const libc = scanFile(fs.readFileSync('/lib/x86_64-linux-gnu/libc.so.6'), 'x', 'libc').analysis!;
const ld = scanFile(fs.readFileSync('/lib64/ld-linux-x86-64.so.2'), 'x', 'ld').analysis!;
const r = new ObjectReach([{ path: 'libc', summary: libc }, { path: 'ld', summary: ld }]);
const seedR = readSeedCallgraphSync('/work/shared/data/seed/libc-callgraphs/glibc.2.31.callgraph');
if (!seedR.ok) throw seedR.error;
const seed = buildCallGraph(seedR.value);
const leafCount = new Map<number, number>();
for (const [, nrs] of seedR.value.syscallLeaves) for (const n of nrs) leafCount.set(n, (leafCount.get(n) ?? 0) + 1);
const blanket = new Set([...leafCount].filter(([, c]) => c >= seedR.value.syscallLeaves.size / 2).map(([n]) => n));
console.log('blanket', [...blanket].map(syscallName));
const N = (s: string) => syscallNumber(s)!;
const LEG: Record<string, string[]> = { open: ['openat'], creat: ['openat'], stat: ['newfstatat','statx'], lstat: ['newfstatat','statx'], fstat: ['newfstatat','statx'], access: ['faccessat','faccessat2'], mkdir: ['mkdirat'], time: [], gettimeofday: [] };
const cnt = new Map<string, number>();
const left: string[] = [];
for (const name of r.exportNames()) {
  if (!seed.hasNode(name) || seed.getNodeAttributes(name).kind !== 'function') continue;
  const s = reachableSyscalls(seed, [name]).syscalls;
  const d = r.reach(name, { indirectRule: false })!.syscalls;
  const i = r.reach(name, { indirectRule: true })!.syscalls;
  for (const x of s) if (!d.has(x)) {
    const n = syscallName(x)!;
    const c = blanket.has(x) ? 'S-blanket' : (LEG[n] ?? []).some((y) => d.has(N(y))) ? 'S-legacy' : i.has(x) ? 'S-indirect' : 'S-?';
    cnt.set(c, (cnt.get(c) ?? 0) + 1);
    if (c === 'S-?') { cnt.set('S?'+n, (cnt.get('S?'+n) ?? 0) + 1); left.push(`${name} seedonly ${n}`); }
  }
  for (const x of d) if (!s.has(x)) {
    const n = syscallName(x)!;
    const c = !seed.hasNode(syscallNodeKey(x)) ? 'O-absent' : Object.entries(LEG).some(([o, ys]) => ys.includes(n) && s.has(N(o))) ? 'O-legacy' : 'O-?';
    cnt.set(c, (cnt.get(c) ?? 0) + 1);
    if (c === 'O-?') { cnt.set('O?'+n, (cnt.get('O?'+n) ?? 0) + 1); left.push(`${name} oursonly ${n}`); }
  }
}
console.log([...cnt].sort((a,b)=>b[1]-a[1]).map(x=>x.join(':')).join(' '));
fs.writeFileSync('/tmp/left.txt', left.join('\n'));
