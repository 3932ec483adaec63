// make fn-hunt: the differential false-negative hunt (issue 13).
//
//   npx tsx tools/fn-hunt/main.ts [--set full|ci] [--only FILE] [--samples LIST] [--no-base]
//                           [--runs FILE] [--out DIR] [--work DIR] [--seconds N] [--parallel N]
//
// Builds (or reuses) the fn-hunt image for the package set, hunts it, then hunts each
// sample image of LIST that exists, with the fn-hunt image's strace mounted in; the
// commands of --runs FILE (PATH ARG... a line) also run in each sample that has PATH.
// Writes OUT/results.json and OUT/results.txt (default results/fn-hunt), prints the
// table; exit 1 when any false negative. --work (default $TMPDIR/confine-fn-hunt) holds the exported
// roots, traces and the analysis cache: outside the checkout, so that jest and tsc
// never crawl an image's files.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureImage, FN_HUNT_DIR, imageExists } from './image';
import { readCommandRuns } from './command-runs';
import { huntImage, HuntResult } from './hunt';
import { exportRootfs, pruneRootfs } from './rootfs';
import { formatReport } from './report';

interface Args {
  set: string;
  only?: string;
  samples?: string;
  runs?: string;
  base: boolean;
  out: string;
  work: string;
  seconds: number;
  parallel: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { set: 'full', base: true, out: path.join(FN_HUNT_DIR, '..', '..', 'results', 'fn-hunt'), work: path.join(os.tmpdir(), 'confine-fn-hunt'), seconds: 5, parallel: 2 };
  for (let i = 0; i < argv.length; i++) {
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case '--set': a.set = v(); break;
      case '--only': a.only = v(); break;
      case '--samples': a.samples = v(); break;
      case '--runs': a.runs = v(); break;
      case '--no-base': a.base = false; break;
      case '--out': a.out = path.resolve(v()); break;
      case '--work': a.work = path.resolve(v()); break;
      case '--seconds': a.seconds = Number(v()); break;
      case '--parallel': a.parallel = Number(v()); break;
      case '-h': case '--help':
        process.stdout.write(readFileSync(__filename, 'utf8').split('\n').slice(0, 12).join('\n').replace(/^\/\/ ?/gm, '') + '\n');
        process.exit(0);
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

/** Image names in a seed-format list (`rank;name;download-name;...`). */
function listImages(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('//')).map((l) => l.split(';')[2]).filter(Boolean);
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const log = (m: string) => process.stderr.write(`[fn-hunt] ${m}\n`);
  const buildDir = a.work;
  mkdirSync(a.out, { recursive: true });
  for (const id of pruneRootfs(path.join(buildDir, 'rootfs'))) log(`removed the export of image ${id} (no longer present)`);
  const tag = ensureImage(a.set, path.join(FN_HUNT_DIR, `packages.${a.set}.txt`), buildDir);
  const only = a.only ? readFileSync(a.only, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean) : undefined;
  const common = { workDir: buildDir, seconds: a.seconds, parallel: a.parallel, log };
  const results: HuntResult[] = [];
  if (a.base) results.push(await huntImage({ ...common, image: tag, only }));
  const runs = a.runs ? readCommandRuns(a.runs) : undefined;
  if (a.samples) {
    const tools = exportRootfs(tag, path.join(buildDir, 'rootfs'));
    for (const image of listImages(a.samples)) {
      if (!imageExists(image)) {
        log(`${image}: not present, skipped (make images builds it)`);
        continue;
      }
      results.push(await huntImage({ ...common, image, toolsRoot: tools, runs }));
    }
  }
  const file = path.join(a.out, 'results.json');
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), confineCommit: gitHead(), results }, null, 1) + '\n');
  const table = formatReport(results);
  writeFileSync(path.join(a.out, 'results.txt'), table);
  process.stdout.write(table);
  process.stdout.write(`\nresults: ${file} (table: results.txt)\n`);
  return results.some((r) => r.falseNegatives.length) ? 1 : 0;
}

function gitHead(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: FN_HUNT_DIR, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`[fn-hunt] error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
