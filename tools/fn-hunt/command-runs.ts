// The runs file (--runs, and test/integration/fn-hunt-musl.test.ts): one command a
// line, `PATH ARG...`, run once under strace in each image that has PATH as a program
// (hunt.ts HuntOptions.runs). Arguments split on blanks; 'single quotes' keep blanks
// (no escapes inside); # starts a comment outside quotes.
import { readFileSync } from 'node:fs';
import type { CommandRun } from './hunt';

export function parseCommandRuns(text: string, file: string): CommandRun[] {
  const out: CommandRun[] = [];
  text.split('\n').forEach((line, i) => {
    const words: string[] = [];
    let cur: string | undefined;
    for (let j = 0; j < line.length; j++) {
      const ch = line[j];
      if (ch === "'") {
        const end = line.indexOf("'", j + 1);
        if (end < 0) throw new Error(`${file}:${i + 1}: unterminated quote`);
        cur = (cur ?? '') + line.slice(j + 1, end);
        j = end;
      } else if (ch === '#' && cur === undefined) {
        break;
      } else if (ch === ' ' || ch === '\t') {
        if (cur !== undefined) words.push(cur);
        cur = undefined;
      } else {
        cur = (cur ?? '') + ch;
      }
    }
    if (cur !== undefined) words.push(cur);
    if (words.length === 0) return;
    if (!words[0].startsWith('/')) throw new Error(`${file}:${i + 1}: the program must be an absolute path inside the image, not ${words[0]}`);
    out.push({ path: words[0], args: words.slice(1) });
  });
  return out;
}

export function readCommandRuns(file: string): CommandRun[] {
  return parseCommandRuns(readFileSync(file, 'utf8'), file);
}
