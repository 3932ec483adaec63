import { CacheReader } from '../formats/report/artifacts';
import { explainFromCache, formatExplanation } from '../formats/report/explain';
import { syscallNumber } from '../analysis/syscalls/table';
import { existingPath, parse, UsageError } from './args';

const HELP = `Usage: confine explain IMAGE SYSCALL [-r RESULTS] [--cache DIR] [--json]

Why IMAGE's profile allows SYSCALL: the chain from the executed program through imports and
library functions to the syscall site, kept by syscall-resolve in its latest run; or that the
runtime (calibration) or a -g list added it; or "not allowed". Also lists every reached syscall
site of the image whose number the analysis could not recover (any of them may make SYSCALL),
and says when the image kept the base profile (not hardened) because of them. For syscalls with argument rules
(socket families, ioctl requests, …): each allowed value with the chain to a function supplying
it, or the site that left the syscall unconditional.
  -r, --results DIR   results directory of the run (default: ./results; accepted for symmetry with profiles)
      --cache DIR     artifact cache and ledger (default: ./.confine-cache)
      --json          the explanation as JSON
`;

export async function explainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { results: { type: 'string', short: 'r' }, cache: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('expects IMAGE SYSCALL');
  const [image, syscall] = positionals;
  if (syscallNumber(syscall) === undefined) throw new UsageError(`'${syscall}' is not an x86-64 syscall name`);
  const cache = existingPath('--cache', values.cache ?? '.confine-cache', 'dir')!;
  const e = await explainFromCache(new CacheReader(cache), image, syscall);
  process.stdout.write(values.json ? JSON.stringify(e, null, 2) + '\n' : formatExplanation(e) + '\n');
  // No artifacts at all: the image was never profiled with this cache.
  return e.notes.some((n) => n.startsWith('no ')) && !e.allowed ? 1 : 0;
}
