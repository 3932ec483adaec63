/**
 * Reader for the seed's call graph text files (its `-l`, `-m` and `-c` inputs).
 *
 * One edge per line, `caller->callee` (LLVM-derived graphs: musl, libcrypto, ...) or
 * `caller : callee` (the glibc graph, any amount of spaces around the colon). The
 * separator is chosen per line: `->` if the line has one, else the first `:` — the
 * musl file's inline-asm callees contain `:` (`mov %fs:0,$0`), never `->`.
 *
 * What each callee shape in the real seed files means, and what we do with it:
 *
 * | shape                                   | seen in        | meaning → action                                            |
 * |-----------------------------------------|----------------|-------------------------------------------------------------|
 * | `name`, `name.isra.2`, `name.1498`      | all            | call to that function (GCC/LLVM clone names kept as-is) → edge |
 * | `@name`                                 | musl           | LLVM IR global → strip `@` (as the seed did) → edge          |
 * | `*name` (callee or caller)              | glibc          | GCC verbatim assembler name (a call or an address reference) → strip `*` → edge |
 * | `__GI_name` (either side, after `*`)    | glibc          | glibc's hidden internal alias of `name` → renamed to `name`, |
 * |                                         |                | so `*__GI___open` reaches `__open`'s syscalls (the seed lost these) |
 * | `syscall ( 202 )`, `syscall( 202 )`, `syscall(202)` | glibc, musl | the caller issues syscall 202 → syscallLeaves          |
 * | `syscall(%35)`                          | musl           | syscall whose number is an SSA value (a wrapper taking the number as a parameter) → unresolvedSyscalls |
 * | `asm sideeffect "syscall", "..."`       | musl           | inline `syscall` instruction, number in a register → unresolvedSyscalls |
 * | `asm ... "lock ; cmpxchg ..."` etc.     | musl           | other inline asm, no call → skipped (counted)                |
 * | `%281`                                  | musl           | indirect call through an SSA value → indirectCallers         |
 * | `@llvm.*`, `llvm.*`                     | musl, others   | compiler intrinsic (memcpy, lifetime markers) → skipped      |
 * | `*.LC58`, `.L...`                       | glibc          | local label (string constant, jump table) → skipped          |
 * | `dl-load.c`, `../sysdeps/…/x.h`, `/usr/…/emmintrin.h`, `.gperf`, `.def`, `.cc` | glibc | source file the generator mistook for a callee → skipped |
 * | empty (`true_func : `)                  | glibc, musl    | function with no callees → declared in `functions`, no edge |
 * | `a  :  b` (double spaces)               | glibc          | alias section: `a` is an alias of `b` → edge, as any other  |
 * | `  :  b` (nothing before the colon)     | glibc          | alias line whose alias name the seed's extractor lost (macro |
 * |                                         |                | residue like `weak_aliaslocal`) → skipped, counted as no-caller |
 * | `(static : for`, `VERSION_##lib… #define  :  symbol`, `x ## y  :  z` | glibc | preprocessor residue from the alias extractor → errors (reported, skipped; 13 lines) |
 *
 * Blank lines and lines starting with `#` (the seed's comments) are skipped. A line
 * that fits none of the shapes is reported in `errors` with file and line and skipped;
 * the parser never throws on content.
 *
 * The parser is line-at-a-time (SeedCallgraphParser.line), so a caller can stream a
 * file of any size; readSeedCallgraph streams from disk. Edges are deduplicated.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { ConfineError, err, ok, Result } from '../../pipeline/errors';

export interface SeedFormatError {
  file: string;
  line: number;
  text: string;
  expected: string;
}

export interface UnresolvedSyscallSite {
  caller: string;
  file: string;
  line: number;
  text: string;
}

export type SkippedShape =
  | 'blank'
  | 'comment'
  | 'no-callee'
  | 'no-caller'
  | 'llvm-intrinsic'
  | 'local-label'
  | 'source-file'
  | 'inline-asm';

export interface SeedCallgraph {
  /** Unique caller → callee pairs, in first-seen order. */
  edges: [string, string][];
  /** Function → syscall numbers it issues directly. */
  syscallLeaves: Map<string, Set<number>>;
  errors: SeedFormatError[];
  /** Every function name seen on either side of an edge or leaf, or declared with no callee. */
  functions: Set<string>;
  /** Syscall sites whose number the graph does not give (`syscall(%N)`, inline asm). */
  unresolvedSyscalls: UnresolvedSyscallSite[];
  /** Functions that make an indirect call (`->%N`). */
  indirectCallers: Set<string>;
  /** How many lines of each ignorable shape were seen, for reports. */
  skipped: Record<SkippedShape, number>;
  lines: number;
}

const NAME = /^[A-Za-z_$][\w$.]*(@@?[\w.]+)?$/;
const SYSCALL_LEAF = /^syscall\s*\(\s*(\d+)\s*\)$/;
const SYSCALL_UNRESOLVED = /^syscall\s*\(\s*%[\w.]*\s*\)$/;
const ASM = /^asm\b/;
const ASM_SYSCALL = /^asm(\s+sideeffect)?\s+"[^"]*\bsyscall\b[^"]*"/;
const INDIRECT = /^%[\w.]+$/;
const SOURCE_FILE = /\/|\.(c|h|cc|cpp|S|s|def|gperf|inc)$/;

const EXPECTED_LINE = '`caller->callee` or `caller : callee`';
const EXPECTED_NAME = 'a function name ([A-Za-z_$][A-Za-z0-9_$.]*)';

/** `*` (GCC verbatim name) and `@` (LLVM global) are spelling, not part of the name. */
function stripSigils(s: string): string {
  let t = s;
  while (t.startsWith('@') || t.startsWith('*')) t = t.slice(1);
  return t;
}

/** glibc's `__GI_x` is the hidden alias under which libc calls its own `x`. */
function canonicalName(name: string): string {
  return name.startsWith('__GI_') && name.length > 5 ? name.slice(5) : name;
}

export class SeedCallgraphParser {
  private readonly edgeKeys = new Set<string>();
  private readonly result: SeedCallgraph = {
    edges: [],
    syscallLeaves: new Map(),
    errors: [],
    functions: new Set(),
    unresolvedSyscalls: [],
    indirectCallers: new Set(),
    skipped: {
      blank: 0,
      comment: 0,
      'no-callee': 0,
      'no-caller': 0,
      'llvm-intrinsic': 0,
      'local-label': 0,
      'source-file': 0,
      'inline-asm': 0,
    },
    lines: 0,
  };

  constructor(readonly file: string) {}

  /** Feeds one line (without its newline); lineNo is 1-based. */
  line(raw: string, lineNo: number): void {
    const r = this.result;
    r.lines++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = text.trim();
    if (trimmed === '') return void r.skipped.blank++;
    if (trimmed.startsWith('#')) return void r.skipped.comment++;

    let at = text.indexOf('->');
    let sepLen = 2;
    if (at < 0) {
      at = text.indexOf(':');
      sepLen = 1;
    }
    if (at < 0) return this.error(lineNo, text, EXPECTED_LINE);

    const callerRaw = stripSigils(text.slice(0, at).trim());
    const calleeRaw = text.slice(at + sepLen).trim();
    if (callerRaw === '') return void r.skipped['no-caller']++;
    if (!NAME.test(callerRaw)) return this.error(lineNo, text, `${EXPECTED_NAME} before the separator`);
    const caller = canonicalName(callerRaw);
    r.functions.add(caller);

    if (calleeRaw === '') return void r.skipped['no-callee']++;

    const leaf = SYSCALL_LEAF.exec(calleeRaw);
    if (leaf) {
      const nr = Number(leaf[1]);
      let set = r.syscallLeaves.get(caller);
      if (!set) r.syscallLeaves.set(caller, (set = new Set()));
      set.add(nr);
      return;
    }
    if (SYSCALL_UNRESOLVED.test(calleeRaw)) return this.unresolved(caller, lineNo, text);
    if (ASM.test(calleeRaw)) {
      if (ASM_SYSCALL.test(calleeRaw)) return this.unresolved(caller, lineNo, text);
      return void r.skipped['inline-asm']++;
    }
    if (INDIRECT.test(calleeRaw)) return void r.indirectCallers.add(caller);

    const callee = stripSigils(calleeRaw);
    if (callee.startsWith('.L')) return void r.skipped['local-label']++;
    if (callee.startsWith('llvm.')) return void r.skipped['llvm-intrinsic']++;
    if (SOURCE_FILE.test(callee)) return void r.skipped['source-file']++;
    if (!NAME.test(callee)) return this.error(lineNo, text, `${EXPECTED_NAME}, syscall(N) or nothing after the separator`);

    const target = canonicalName(callee);
    r.functions.add(target);
    const key = caller + '\0' + target;
    if (!this.edgeKeys.has(key)) {
      this.edgeKeys.add(key);
      r.edges.push([caller, target]);
    }
  }

  finish(): SeedCallgraph {
    return this.result;
  }

  private error(line: number, text: string, expected: string): void {
    this.result.errors.push({ file: this.file, line, text, expected });
  }

  private unresolved(caller: string, line: number, text: string): void {
    this.result.unresolvedSyscalls.push({ caller, file: this.file, line, text });
  }
}

export function parseSeedCallgraphText(text: string, file = '<text>'): SeedCallgraph {
  const p = new SeedCallgraphParser(file);
  let start = 0;
  let lineNo = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    // A final newline ends the last line; it does not start an empty one.
    if (!(end === text.length && start === end && lineNo > 1)) p.line(text.slice(start, end), lineNo);
    start = end + 1;
  }
  return p.finish();
}

/** Streams a seed call graph from disk; a missing or unreadable file is an error value. */
export async function readSeedCallgraph(path: string): Promise<Result<SeedCallgraph>> {
  if (!fs.existsSync(path)) return err(new ConfineError('missing-file', 'call graph file does not exist', { file: path }));
  const p = new SeedCallgraphParser(path);
  try {
    const rl = readline.createInterface({ input: fs.createReadStream(path, 'utf8'), crlfDelay: Infinity });
    let lineNo = 0;
    for await (const line of rl) p.line(line, ++lineNo);
  } catch (e) {
    return err(new ConfineError('bad-input', `cannot read call graph: ${(e as Error).message}`, { file: path }));
  }
  return ok(p.finish());
}

/** Synchronous whole-file read; faster than streaming for the seed's few-MB files. */
export function readSeedCallgraphSync(path: string): Result<SeedCallgraph> {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err(
      new ConfineError(code === 'ENOENT' ? 'missing-file' : 'bad-input', `cannot read call graph: ${(e as Error).message}`, {
        file: path,
      }),
    );
  }
  return ok(parseSeedCallgraphText(text, path));
}

export function seedFormatErrorToConfineError(e: SeedFormatError): ConfineError {
  return new ConfineError('bad-input', `unreadable call graph line ${JSON.stringify(e.text)}: expected ${e.expected}`, {
    file: e.file,
    line: e.line,
  });
}
