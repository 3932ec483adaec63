// The differential check itself, pure: what strace saw a program image make,
// against what `confine analyze` says that program can reach.
import { syscallNumber } from '../../analysis/syscalls/table';
import { ALWAYS_ALLOWED, ParsedTrace } from './strace-parse';

export interface FalseNegative {
  /** The program that was run (path inside the image). */
  program: string;
  mode: string;
  /** For mode 'run': the command line run (path and arguments). */
  command?: string;
  /** The program image that made the syscall (the run program or one it executed). */
  exe: string;
  syscall: string;
  /** Innermost frames strace -k saw for the first such call: the missed chain's last known steps. */
  stack?: string[];
  /**
   * Objects in that stack the analysis never loaded for the program (a dlopen'd
   * plugin, the vDSO): the syscall was made in code it did not see at all. Empty:
   * every frame is in an object it analysed, so the miss is inside the analysis.
   */
  unanalysedObjects?: string[];
}

export interface CompareInput {
  program: string;
  mode: string;
  trace: ParsedTrace;
  /** exe path as execve named it → the analysed program it runs (symlinks/shebang resolved), or undefined. */
  exeToAnalysed: (exe: string) => string | undefined;
  /** analysed program → its allowed set, or undefined when analysis failed. */
  allowed: (analysed: string) => Set<string> | undefined;
}

export interface CompareOutput {
  falseNegatives: FalseNegative[];
  /**
   * Numbers strace saw that are no x86-64 syscall (strace's `syscall_0x2b7`): no
   * profile can name them, so they are not the analysis's misses; listed for review
   * (seen once under load from a Go program, never reproduced: likely a ptrace race).
   */
  unnamed: FalseNegative[];
  /** Syscalls of program images that could not be checked (unknown exe, failed analysis). */
  unchecked: { exe: string; reason: string; syscalls: string[] }[];
}

export function compareRun(input: CompareInput): CompareOutput {
  const falseNegatives: FalseNegative[] = [];
  const unnamed: FalseNegative[] = [];
  const unchecked: CompareOutput['unchecked'] = [];
  for (const [exe, seen] of input.trace.byExe) {
    const analysed = input.exeToAnalysed(exe);
    if (!analysed) {
      unchecked.push({ exe, reason: 'not an ELF program in the image', syscalls: [...seen].sort() });
      continue;
    }
    const allowed = input.allowed(analysed);
    if (!allowed) {
      unchecked.push({ exe, reason: 'analysis failed', syscalls: [...seen].sort() });
      continue;
    }
    for (const s of [...seen].sort()) {
      if (allowed.has(s) || ALWAYS_ALLOWED.has(s)) continue;
      const fn = { program: input.program, mode: input.mode, exe: analysed, syscall: s };
      (syscallNumber(s) === undefined && /^syscall_0x/.test(s) ? unnamed : falseNegatives).push(fn);
    }
  }
  if (input.trace.unattributed.size) unchecked.push({ exe: '?', reason: 'process of unknown program', syscalls: [...input.trace.unattributed].sort() });
  return { falseNegatives, unnamed, unchecked };
}

/** First stack per syscall name in `strace -k` output: the innermost frames. */
export function parseStacks(text: string, frames = 8): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: { name: string; frames: string[] } | undefined;
  const flush = () => {
    if (cur && !out.has(cur.name) && cur.frames.length) out.set(cur.name, cur.frames.slice(0, frames));
    cur = undefined;
  };
  for (const line of text.split('\n')) {
    const f = /^ > (.*)$/.exec(line);
    if (f) {
      cur?.frames.push(f[1].replace(/ \[0x[0-9a-f]+\]$/, ''));
      continue;
    }
    const m = /^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()/.exec(line);
    flush();
    if (m) cur = { name: m[1] ?? m[2], frames: [] };
  }
  flush();
  return out;
}

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The object a strace -k frame is in: "/usr/lib/x/libc.so.6(write+0x7)" → "/usr/lib/x/libc.so.6". */
export function frameObject(frame: string): string {
  const i = frame.indexOf('(');
  return i < 0 ? frame : frame.slice(0, i);
}
