/**
 * The `--exec-too PROGRAM[,PROGRAM…]` list, as the command line and an image list's
 * options field write it. Pure: read here, found in the image by exec-too.ts.
 */
import { ConfineError } from '../pipeline/errors';

/** `--exec-too shell`: the image's /bin/sh plus these common tools, where the image has them. */
export const SHELL_SHORTHAND = 'shell';
export const SHELL_PROGRAM = '/bin/sh';
export const SHELL_TOOLS: readonly string[] = ['ls', 'cat', 'ps', 'env', 'id'];
/** An image's list may say `--exec-too none` to allow nothing beyond what it runs, whatever the command line asks. */
export const NO_PROGRAMS = 'none';

const EXPECTED = `PROGRAM[,PROGRAM…]: each an absolute path in the image (/usr/bin/redis-cli), a name looked up in the image's PATH (redis-cli), or '${SHELL_SHORTHAND}' (/bin/sh and ${SHELL_TOOLS.join(', ')}); or '${NO_PROGRAMS}'`;

export interface Where {
  file?: string;
  line?: number;
  image?: string;
}

/**
 * Reads `PROGRAM[,PROGRAM…]` (an empty list for `none`). A malformed list is a
 * ConfineError('bad-input') naming where it was written and what was expected.
 */
export function parseExecTooList(text: string, where: Where = {}, flag = '--exec-too'): string[] {
  const bad = (why: string) => new ConfineError('bad-input', `${flag} ${JSON.stringify(text)}: ${why}; expected ${EXPECTED}`, where);
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => !s)) throw bad('an empty program name');
  if (items.includes(NO_PROGRAMS)) {
    if (items.length > 1) throw bad(`'${NO_PROGRAMS}' cannot be combined with programs`);
    return [];
  }
  for (const item of items) {
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(item)) throw bad(`'${JSON.stringify(item)}' holds a control character`);
    if (item.includes('/') && !item.startsWith('/')) throw bad(`'${item}' is a relative path (a name is looked up in PATH; a path must start with /)`);
    if (item === '.' || item === '..' || /\/\.\.?(\/|$)/.test(item)) throw bad(`'${item}' is not a program path`);
  }
  return [...new Set(items)];
}
