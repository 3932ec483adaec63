import { PlainReporter } from '../pipeline/reporter';
import { Services } from '../stages/services';
import { checkQueue, parseQueueUrl } from '../distributed/connection';
import { startWorker, workerName } from '../distributed/worker';
import { outputDir, parse, positiveInt, UsageError, writableDir } from './args';
import { cleanLeftovers } from './profiles-command';

export const workerHelp = () => `confine worker — run queued images' per-image stages on this machine's Docker engine

Usage: confine worker --queue redis://HOST:PORT [options]

      --queue URL         the batch queue: redis://[user:password@]HOST:PORT[/DB], or rediss:// for TLS
                          (a password can also come from REDISCLI_AUTH)
      --cache DIR         the shared content store, mounted at the same path on every machine
                          (default: ./.confine-cache); extracted files go to DIR/out, profiles to DIR/results
      --jobs N            images at once on this machine (default: 2)
      --max-duration SEC  refuse images whose batch asks for a longer trace (default: 600)
      --lock-sec SEC      a job whose worker has not renewed its lock for this long is handed to
                          another worker (default: 60; long enough for a big binary's scan,
                          which holds the event loop, not to look like a lost worker)
  -d, --debug             print every stage start, log line and progress message
  -h, --help              this text

Containers a killed worker left on this engine are removed when the next worker starts.
Stops taking images on SIGINT/SIGTERM and exits when the ones in hand are finished
(a second signal interrupts them; they go back to the queue).`;

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    queue: { type: 'string' },
    cache: { type: 'string' },
    jobs: { type: 'string' },
    'max-duration': { type: 'string' },
    'lock-sec': { type: 'string' },
    debug: { type: 'boolean', short: 'd' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(workerHelp() + '\n');
    return 0;
  }
  if (!values.queue) throw new UsageError('--queue redis://HOST:PORT is required');
  const target = parseQueueUrl(values.queue);
  const concurrency = positiveInt('--jobs', values.jobs, 2, 1);
  const maxDurationSec = positiveInt('--max-duration', values['max-duration'], 600, 1);
  const lockSec = positiveInt('--lock-sec', values['lock-sec'], 60, 2);
  const cacheDir = writableDir('--cache', outputDir('--cache', values.cache ?? '.confine-cache'), 'cache');
  await checkQueue(target);
  const log = (line: string) => process.stderr.write(`confine worker ${workerName()}: ${line}\n`);
  const reporter = new PlainReporter(undefined, !!values.debug);

  // What a worker killed on this machine left running is removed before taking new work.
  await cleanLeftovers(new Services(`worker-cleanup-${process.pid}`), reporter);

  const ac = new AbortController();
  const worker = startWorker({ target, cacheDir, concurrency, lockSec, maxDurationSec, reporter, log, signal: ac.signal });
  // The same error repeats on every reconnect while Redis is away: say it once a minute.
  const said = new Map<string, number>();
  worker.on('error', (e) => {
    if (Date.now() - (said.get(e.message) ?? 0) < 60_000) return;
    said.set(e.message, Date.now());
    log(`queue error: ${e.message}`);
  });
  await worker.waitUntilReady();
  log(`waiting for images on ${target.display} (store ${cacheDir}, ${concurrency} at once)`);

  let signals = 0;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        log(`${sig}: taking no more images; finishing the ones in hand (again to interrupt them)`);
        worker.close().then(resolve, resolve);
      } else if (signals === 2) {
        log(`${sig}: interrupting; the images in hand go back to the queue`);
        ac.abort();
      } else process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await stopped;
  return 0;
}
