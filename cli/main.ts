import { ConfineError } from '../pipeline/errors';
import { UsageError } from './args';
import { guardStream } from '../pipeline/terminal-text';
import { tuneJit } from './jit-budget';

tuneJit();

const HELP = `confine — shrink the kernel attack surface of containers

Usage: confine COMMAND [options]     (confine COMMAND --help for a command's options)

Commands:
  profiles   trace each image in a list, analyse what it runs, emit a seccomp profile per image
  analyze    the syscalls reachable from ELF files on disk, with their libraries
  syscalls   the syscalls a list of functions reaches in a call graph (the seed's extractSysCalls)
  verify     profiles, then run each image under its profile and find false negatives (kernel log)
  stats      batch statistics, CVEs mitigated, CSVs and an HTML report (the seed's createStats)
  explain    why a syscall is allowed in an image's profile: the call chain to its site
  diff       what two profiles (or two images' profiles) allow differently, and why
  worker     take images from a batch queue (confine profiles --queue) and run them on this machine
`;

type Command = (argv: string[]) => Promise<number>;


const COMMANDS: Record<string, Command> = {
  // Loaded on use: `confine --help` and light commands need not load Docker or the analysis.
  profiles: (argv) => require('./profiles-command').profilesCommand(argv),
  analyze: (argv) => require('./analyze-command').analyzeCommand(argv),
  syscalls: (argv) => require('./syscalls-command').syscallsCommand(argv),
  verify: (argv) => require('./profiles-command').profilesCommand(argv, 'verify'),
  stats: (argv) => require('./stats-command').statsCommand(argv),
  explain: (argv) => require('./explain-command').explainCommand(argv),
  diff: (argv) => require('./diff-command').diffCommand(argv),
  worker: (argv) => require('./worker-command').workerCommand(argv),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(HELP);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`confine: unknown command '${name}'\n\n${HELP}`);
    return 2;
  }
  // Image text (paths, file contents, container output) reaches these streams in
  // messages of every kind: escape control characters at the one place all pass.
  guardStream(process.stdout);
  guardStream(process.stderr);
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`confine ${name}: ${e.message}\n(see confine ${name} --help)\n`);
      return 2;
    }
    if (e instanceof ConfineError) {
      process.stderr.write(`confine ${name}: ${e.describe()}\n`);
      return e.kind === 'missing-file' || e.kind === 'bad-input' ? 2 : 1;
    }
    process.stderr.write(`confine ${name}: internal error: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    // Exit once output is flushed: idle keep-alive sockets to the Docker engine would
    // otherwise hold the process for seconds after the work is done.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
