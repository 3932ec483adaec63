import { PassThrough } from 'node:stream';
import { formatSummary } from '../cli/summary';
import { PlainReporter, TtyReporter } from './reporter';
import { fieldSafe, guardStream, terminalSafe } from './terminal-text';

const ESC = '\x1b';

describe('terminal escaping of image text', () => {
  it('makes control characters, bidi overrides and undecodable bytes visible', () => {
    expect(terminalSafe(`${ESC}[2J${ESC}[HALL-IMAGES-OK`)).toBe('\\u001b[2J\\u001b[HALL-IMAGES-OK');
    expect(terminalSafe('a\rb\x07\x9b')).toBe('a\\u000db\\u0007\\u009b');
    expect(terminalSafe('evil\u202egpj.exe')).toBe('evil\\u202egpj.exe');
    expect(terminalSafe('/bin/prog\udcff')).toBe('/bin/prog\\xff');
    expect(terminalSafe('ok é 😀\ttab\nline')).toBe('ok é 😀\ttab\nline');
    expect(fieldSafe('one\n[img] verify: done')).toBe('one\\n[img] verify: done');
  });

  it('the plain reporter keeps each event on one line, escaped', () => {
    const lines: string[] = [];
    const r = new PlainReporter((l) => lines.push(l), true);
    r.stage({ unit: 'x', stage: 'extract-binaries', status: 'failed', detail: `bad\n${ESC}[2JALL-IMAGES-OK` });
    r.log('x', 's', `${ESC}]0;title\x07`, false);
    expect(lines).toHaveLength(2);
    expect(lines.join('')).not.toContain(ESC);
    expect(lines[0]).toContain('\\n\\u001b[2JALL-IMAGES-OK');
  });

  it('the live display escapes what it shows but keeps its own cursor codes', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const stream = Object.assign(out, { columns: 200 }) as unknown as NodeJS.WriteStream;
    const r = new TtyReporter(stream);
    r.stage({ unit: 'img', stage: 's', status: 'running' });
    r.progress('img', 's', `${ESC}[2J`);
    r.stage({ unit: 'img', stage: 's', status: 'failed', detail: `${ESC}[2J` });
    r.close();
    expect(text).not.toContain(`${ESC}[2J`);
    expect(text).toContain('\\u001b[2J');
  });

  it('the summary table has one row per image whatever an error message holds', () => {
    const t = formatSummary([{ image: 'a', done: 1, reused: 0, failed: 1, skipped: 0, interrupted: 0, error: `x\n${ESC}[2Jb  0  0  0  0` }]);
    expect(t.split('\n')).toHaveLength(3);
    expect(t).not.toContain(ESC);
  });

  it('JSON output stays valid JSON with the same meaning', () => {
    const value = { path: `/bin/${ESC}[2J\u202e\x9b\x7f\udcff`, n: 1 };
    expect(JSON.parse(terminalSafe(JSON.stringify(value)))).toEqual(value);
  });

  it('a guarded stream escapes everything written to it', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    guardStream(out as unknown as NodeJS.WriteStream);
    out.write(`a${ESC}[2Jb\n`);
    out.write(Buffer.from(`c${ESC}d`));
    expect(text).toBe('a\\u001b[2Jb\nc\\u001bd');
  });
});
