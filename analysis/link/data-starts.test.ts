import * as fs from 'fs';
import * as path from 'path';
import { analyzeJson } from '../../test/analyze-json';
import { parseElf } from '../elf';
import { K } from '../x86/program';
import { compile, tempDir } from '../x86/test-fixtures';
import { readObject } from '../summary/object-image';
import { decodeObject } from '../summary/decode-object';

/**
 * One data word of a non-PIE static musl program set to an address one byte inside a
 * `call` of __libc_start_main: a start taken from data must not cut the function there
 * (the call would straddle the cut and the start-up code behind it would be lost).
 */
const PROGRAM = String.raw`
#include <stdio.h>
int __libc_start_main();
void *volatile word = (void *)&__libc_start_main;
int main(void) { printf("%p\n", word); return 0; }
`;

let dir: string;
let plain: string;
let patched: string;
let target: number;
beforeAll(() => {
  dir = tempDir('confine-data-starts-');
  plain = compile(dir, 'p.c', PROGRAM, 'plain', ['-O2', '-static', '-no-pie'], 'musl-gcc');
  const buf = new Uint8Array(fs.readFileSync(plain));
  const elf = parseElf(buf, plain);
  expect(elf.type).toBe('exec');
  // The first call instruction of __libc_start_main, from the analysis of the unpatched file.
  const prog = decodeObject(readObject(elf, buf))!.code.program;
  const fn = prog.functions.find((f) => f.name === '__libc_start_main');
  expect(fn).toBeDefined();
  let call: number | undefined;
  for (let i = fn!.first; i < fn!.last && call === undefined; i++) if (prog.kind[i] === K.CALL) call = prog.addr[i];
  expect(call).toBeDefined();
  target = call! + 1;
  const word = elf.symtab.find((s) => s.name === 'word')!;
  const sec = elf.sections.find((s) => s.addr <= word.value && word.value < s.addr + s.size)!;
  const out = Buffer.from(buf);
  out.writeBigUInt64LE(BigInt(target), sec.offset + (word.value - sec.addr));
  patched = path.join(dir, 'patched');
  fs.writeFileSync(patched, out, { mode: 0o755 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const syscallsOf = analyzeJson;

test('a data word one byte inside a call of __libc_start_main loses no syscall', async () => {
  const before = await syscallsOf(plain);
  expect(before.syscalls).toEqual(expect.arrayContaining(['arch_prctl', 'set_tid_address', 'exit_group']));
  const after = await syscallsOf(patched);
  expect(after.syscalls).toEqual(expect.arrayContaining(before.syscalls));
});

test('the function keeps its code, and the address is an entry settled inside it', () => {
  const buf = new Uint8Array(fs.readFileSync(patched));
  const a = decodeObject(readObject(parseElf(buf, patched), buf))!.code;
  const fn = a.program.functions.find((f) => f.name === '__libc_start_main')!;
  expect(a.functions.has(target)).toBe(false);
  expect(fn.end).toBeGreaterThan(target);
  expect(a.innerEntries.get(target)).toBe(fn.addr);
});
