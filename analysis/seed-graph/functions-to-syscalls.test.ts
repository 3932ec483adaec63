import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SEED_DIR } from '../../test/test-data';
import { defaultProfile, dockerDefaultAllowed } from '../../formats/profile/docker-profile';
import { buildCallGraph } from './graph';
import { functionsToSyscalls, parseFunctionList, readFunctionList } from './functions-to-syscalls';
import { functionsToProfile } from '../../cli/syscalls-command';
import { parseSeedCallgraphText, readSeedCallgraphSync } from './seed-format';

describe('parseFunctionList', () => {
  it('reads names, drops versions and sigils, reports garbage by line', () => {
    const l = parseFunctionList('printf\nmemcpy@GLIBC_2.14\n\n# c\n@puts\n__GI___open\nbad name\nprintf\n', 'f.txt');
    expect(l.functions).toEqual(['printf', 'memcpy', 'puts', '__open']);
    expect(l.errors).toEqual([{ file: 'f.txt', line: 7, text: 'bad name', expected: 'one function name per line' }]);
  });

  it('reads a file, and a missing one is an error value', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-fl-'));
    try {
      fs.writeFileSync(path.join(dir, 'fns'), 'read\nwrite\n');
      const r = readFunctionList(path.join(dir, 'fns'));
      expect(r.ok && r.value.functions).toEqual(['read', 'write']);
      const m = readFunctionList(path.join(dir, 'nope'));
      expect(!m.ok && m.error.kind).toBe('missing-file');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('functionsToSyscalls', () => {
  const g = buildCallGraph(
    parseSeedCallgraphText('puts->write_it\nwrite_it->syscall(1)\nexit->syscall(231)\nodd->syscall(9999)\nwrap->syscall(%3)\nputs->wrap'),
  );

  it('names reached syscalls and reports what it cannot', () => {
    const r = functionsToSyscalls(g, ['puts', 'exit', 'odd', 'mystery']);
    expect(r.syscalls).toEqual([
      { nr: 1, name: 'write' },
      { nr: 231, name: 'exit_group' },
    ]);
    expect(r.unnamed).toEqual([9999]);
    expect(r.unknownFunctions).toEqual(['mystery']);
    expect(r.unresolvedSites).toEqual(['wrap']);
  });

  it('as a profile: Docker default narrowed to the reached names', () => {
    const base = defaultProfile().profile;
    const { plan } = functionsToProfile(g, ['puts', 'exit'], base, { extraSyscalls: ['execve'] });
    expect(dockerDefaultAllowed(plan.profile)).toEqual(new Set(['write', 'exit_group', 'execve']));
  });
});

describe('on the seed glibc graph', () => {
  const r = readSeedCallgraphSync(path.join(SEED_DIR, 'libc-callgraphs', 'glibc.2.31.callgraph'));
  if (!r.ok) throw r.error;
  const g = buildCallGraph(r.value);

  it('a hello-world’s imports reach write and fewer syscalls than Docker allows', () => {
    const res = functionsToSyscalls(g, ['puts', 'exit', '__libc_start_main']);
    const names = new Set(res.syscalls.map((s) => s.name));
    expect(names).toContain('write');
    expect(res.unknownFunctions).toEqual([]);
    const { plan } = functionsToProfile(g, ['puts', 'exit', '__libc_start_main'], defaultProfile().profile);
    const allowed = dockerDefaultAllowed(plan.profile);
    expect(allowed.size).toBeLessThan(dockerDefaultAllowed(defaultProfile().profile).size);
    for (const n of names) if (n !== 'clone3') expect(allowed).toContain(n);
  });
});
