/**
 * Failures are values. Every module that can fail for a reason a user can act on
 * returns (or throws, at the very edge) a ConfineError: the runner records it in the
 * ledger and moves on to the next image, and the summary prints it.
 */
export type ErrorKind =
  | 'bad-input' // a file or option the user gave is malformed (file:line says where)
  | 'missing-file' // an option names a path that does not exist
  | 'image-not-found'
  | 'image-pull' // the registry refused or could not be reached; the message carries its answer
  | 'container-start-failed'
  | 'container-exited' // not fatal for tracing; recorded as a note
  | 'docker-unavailable'
  | 'trace-failed'
  | 'extract-failed'
  | 'elf-malformed'
  | 'analysis-failed'
  | 'schema-invalid'
  | 'cache-corrupt'
  | 'upstream-failed'
  | 'interrupted'
  | 'internal';

export class ConfineError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly where: { image?: string; stage?: string; file?: string; line?: number } = {},
  ) {
    super(message);
    this.name = 'ConfineError';
  }

  /** One line a user can read: where, what kind, what went wrong. */
  describe(): string {
    const at = [
      this.where.image && `image ${this.where.image}`,
      this.where.stage && `stage ${this.where.stage}`,
      this.where.file && (this.where.line ? `${this.where.file}:${this.where.line}` : this.where.file),
    ].filter(Boolean);
    return `${at.length ? at.join(', ') + ': ' : ''}${this.kind}: ${this.message}`;
  }

  toJSON(): { kind: ErrorKind; message: string; where: ConfineError['where'] } {
    return { kind: this.kind, message: this.message, where: this.where };
  }
}

/** Converts anything thrown into a ConfineError once, at the edge of a stage. */
export function asConfineError(e: unknown, where: ConfineError['where'] = {}): ConfineError {
  if (e instanceof ConfineError) {
    return new ConfineError(e.kind, e.message, { ...where, ...e.where });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ConfineError('internal', message, where);
}

export type Result<T, E = ConfineError> = { ok: true; value: T } | { ok: false; error: E };
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });

/** A usage error: printed with the command's --help hint, exit code 2. */
export class UsageError extends ConfineError {
  constructor(message: string) {
    super('bad-input', message);
  }
}
