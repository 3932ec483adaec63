/**
 * Text from an image (paths, file contents, what its containers print) reaches the
 * terminal only through this: a control character would otherwise let an image clear
 * the screen, move the cursor or rewrite lines confine printed (a fake "all images
 * OK"). Every C0/C1 control but newline and tab, DEL, the bidirectional overrides
 * (which reorder what a line seems to say) and lone surrogates (how a path keeps a
 * byte that is not UTF-8, see system/image/path-bytes.ts) become visible escapes, written
 * so that JSON output stays valid JSON meaning the same text.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function terminalSafe(text: string, keepNewlines = true): string {
  return text.replace(UNSAFE, escapeOne).replace(keepNewlines ? /(?!)/g : /\n/g, '\\n');
}

function escapeOne(c: string): string {
  const cp = c.charCodeAt(0);
  // A lone surrogate U+DC80..U+DCFF stands for the raw byte 0x80..0xFF of a name
  // (JSON output never holds one raw: JSON.stringify writes \udcff itself).
  if (cp >= 0xdc80 && cp <= 0xdcff) return `\\x${(cp - 0xdc00).toString(16).padStart(2, '0')}`;
  // \uXXXX, not \xXX: inside a JSON string (--json output) it is a valid escape of the same character.
  return `\\u${cp.toString(16).padStart(4, '0')}`;
}

/** For one field of a line (a path, a message): newlines too, so a field cannot start a line of its own. */
export function fieldSafe(text: string): string {
  return terminalSafe(text, false);
}

const GUARDED = Symbol('confine.guarded');
let rawStderr: ((chunk: string) => boolean) | undefined;

/**
 * Makes a stream's write() escape what it is given: installed on stdout and stderr by
 * the CLI, so no code path can print image text raw. Idempotent.
 */
export function guardStream(stream: NodeJS.WriteStream): void {
  const s = stream as unknown as { write: (chunk: string | Uint8Array, ...rest: unknown[]) => boolean; [GUARDED]?: (chunk: string) => boolean };
  if (s[GUARDED]) return;
  const raw = s.write.bind(stream);
  s.write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => raw(terminalSafe(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')), ...rest);
  s[GUARDED] = (chunk: string) => raw(chunk);
  if (stream === process.stderr) rawStderr = s[GUARDED];
}

/**
 * stderr for the one writer that draws on the terminal on purpose (the live progress
 * lines, which move the cursor): its own codes pass, and it escapes what it shows.
 */
export function drawingStderr(): NodeJS.WriteStream {
  const write = rawStderr ?? ((chunk: string) => process.stderr.write(chunk));
  return { write, get columns() { return process.stderr.columns; } } as unknown as NodeJS.WriteStream;
}
