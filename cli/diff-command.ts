import { CacheReader } from '../formats/report/artifacts';
import { diffAllowed, loadSide, ProfileSide } from '../formats/report/diff';
import { explainFromCache, formatExplanation } from '../formats/report/explain';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, UsageError } from './args';

const HELP = `Usage: confine diff A B [-r RESULTS] [--cache DIR] [--json]

What two profiles allow differently. A and B are profile files or image names (their profile
is RESULTS/NAME.seccomp.json). Each syscall one side adds is explained from the cache when the
cache has that image's run.
  -r, --results DIR   where image profiles are (default: ./results)
      --cache DIR     artifact cache and ledger (default: ./.confine-cache)
      --json          the difference as JSON
`;

export async function diffCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { results: { type: 'string', short: 'r' }, cache: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('expects two profiles or image names: A B');
  const results = path.resolve(values.results ?? 'results');
  const a = loadSide(positionals[0], results);
  const b = loadSide(positionals[1], results);
  const d = diffAllowed(a.allowed, b.allowed);
  const cacheDir = path.resolve(values.cache ?? '.confine-cache');
  const reader = fs.existsSync(cacheDir) ? new CacheReader(cacheDir) : undefined;
  const explain = async (side: ProfileSide, names: string[]) =>
    reader && side.image ? Promise.all(names.map((n) => explainFromCache(reader, side.image!, n))) : [];
  const [ea, eb] = [await explain(a, d.onlyA), await explain(b, d.onlyB)];
  if (values.json) {
    process.stdout.write(JSON.stringify({ a: a.file, b: b.file, ...d, explainA: ea, explainB: eb }, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [`${a.label}: ${a.allowed.size} allowed; ${b.label}: ${b.allowed.size} allowed; ${d.both} in both`];
  const side = (s: ProfileSide, names: string[], ex: Awaited<ReturnType<typeof explain>>) => {
    out.push('', `only ${s.label} allows (${names.length}): ${names.join(' ') || '—'}`);
    for (const e of ex) if (e.allowed) out.push(formatExplanation(e, '  '));
  };
  side(a, d.onlyA, ea);
  side(b, d.onlyB, eb);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
