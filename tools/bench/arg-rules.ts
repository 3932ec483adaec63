/**
 * The argument-rule table of issue 16, from the cache of a `confine profiles`/`verify` run:
 * per image, which tracked syscalls got argument rules and the values allowed, and which
 * stayed unconditional and why (the first site or source that forced it).
 *
 *   npx tsx tools/bench/arg-rules.ts [--cache DIR] IMAGE...
 */
import { CacheReader } from '../../formats/report/artifacts';
import { argValueName } from '../../analysis/syscalls/arg-names';

async function main(argv: string[]): Promise<number> {
  let cache = '.confine-cache';
  const images: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cache') cache = argv[++i];
    else images.push(argv[i]);
  }
  if (!images.length) {
    process.stderr.write('usage: tools/bench/arg-rules.ts [--cache DIR] IMAGE...\n');
    return 2;
  }
  const reader = new CacheReader(cache);
  const rows: string[][] = [['image', 'syscall', 'allowed values', 'unconditional because']];
  let limited = 0;
  let withSocket = 0;
  let socketLimited = 0;
  let ioctlLimited = 0;
  for (const image of images) {
    const p = await reader.artifact(image, 'profile-emit');
    if (!p) {
      rows.push([image, '-', '-', 'no profile-emit artifact in this cache']);
      continue;
    }
    const rules = p.argRules ?? [];
    if (rules.some((r) => r.values?.length)) limited++;
    if (p.allowed.includes('socket')) withSocket++;
    if (rules.some((r) => r.name === 'socket' && r.values?.length)) socketLimited++;
    if (rules.some((r) => r.name === 'ioctl' && r.values?.length)) ioctlLimited++;
    for (const r of rules) {
      const vals = (r.values ?? []).map((v) => argValueName(r.name, r.arg, v) ?? `0x${v.toString(16)}`).join(' ');
      rows.push([image, r.name, r.values ? vals || '(none: every value refused by the base)' : '-', r.unconditional ?? '']);
    }
  }
  const w = rows[0].map((_, c) => Math.min(60, Math.max(...rows.map((r) => r[c].length))));
  for (const r of rows) process.stdout.write(r.map((x, c) => (c === 3 ? x : x.padEnd(w[c]))).join('  ') + '\n');
  process.stdout.write(`\nimages with at least one argument rule: ${limited}/${images.length}; socket limited: ${socketLimited}/${withSocket} images allowing socket; ioctl limited: ${ioctlLimited}/${images.length}\n`);
  return 0;
}

main(process.argv.slice(2)).then((c) => process.exit(c), (e) => { process.stderr.write(`${e instanceof Error ? e.message : e}\n`); process.exit(1); });
