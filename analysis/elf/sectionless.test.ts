import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeJson } from '../../test/analyze-json';
import { badShoff, sstrip } from '../../tools/fuzz/corpus';
import { compile, tempDir } from '../x86/test-fixtures';
import { parseElf } from './elf-file';
import { readDynamicInfo } from './dynamic-info';

/**
 * Programs Linux runs without (trustworthy) section headers: sstrip'd, or with an
 * e_shoff past the end of the file. The reader rebuilds what the analysis needs from
 * the program headers and the dynamic segment, so they give the same syscalls as the
 * intact program instead of "malformed, not analysed".
 */
const PROGRAM = String.raw`
#include <stdio.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/mman.h>
int main(void) { unsigned char v; flock(0, LOCK_SH); getpriority(PRIO_PROCESS, 0); mincore((void *)0x10000, 4096, &v); puts("x"); return 0; }
`;

let dir: string;
const variants: Record<string, string> = {};
beforeAll(() => {
  dir = tempDir('confine-sectionless-');
  for (const [name, cc, flags] of [['dyn', 'gcc', ['-O1']], ['musl', 'musl-gcc', ['-O1', '-static']]] as const) {
    const p = compile(dir, `${name}.c`, PROGRAM, name, [...flags], cc);
    variants[name] = p;
    for (const [suffix, f] of [['sstrip', sstrip], ['badshoff', badShoff]] as const) {
      const out = path.join(dir, `${name}.${suffix}`);
      fs.writeFileSync(out, f(fs.readFileSync(p)), { mode: 0o755 });
      variants[`${name}.${suffix}`] = out;
    }
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function syscallsOf(file: string): Promise<string[]> {
  return (await analyzeJson(file)).syscalls;
}

test.each(['dyn', 'musl'])('%s: sstrip\'d and bad-e_shoff copies are read from their segments and reach every syscall the intact one does', async (name) => {
  const intact = await syscallsOf(variants[name]);
  expect(intact).toEqual(expect.arrayContaining(['flock', 'getpriority', 'mincore']));
  for (const v of [`${name}.sstrip`, `${name}.badshoff`]) {
    const bytes = fs.readFileSync(variants[v]);
    const elf = parseElf(bytes, v);
    expect(elf.sectionSource.synthesized).toBe(true);
    expect(elf.sectionByName('.text')).toBeDefined();
    expect(readDynamicInfo(bytes, v).needed).toEqual(readDynamicInfo(fs.readFileSync(variants[name]), name).needed);
    if (name === 'dyn') {
      // Imports are still named: the stubs are found by shape and their JUMP_SLOT relocations.
      expect(elf.pltStubs.filter((s) => s.name).map((s) => s.name)).toEqual(expect.arrayContaining(['flock', 'getpriority', 'mincore', 'puts']));
      expect(elf.dynsym.length).toBeGreaterThan(0);
    }
    const got = await syscallsOf(variants[v]);
    expect({ v, missing: intact.filter((s) => !got.includes(s)) }).toEqual({ v, missing: [] });
  }
});
