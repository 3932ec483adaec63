/**
 * Test helpers: build small ELF fixtures with the host toolchain and describe them
 * to analyzeCode from binutils' own output (nm, readelf, objdump), independently of
 * our ELF reader, so the two can be checked against each other.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { CodeInput, FunctionStart } from './types';

export function tempDir(prefix = 'confine-x86-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Writes `source` to dir/name and compiles it with gcc (or musl-gcc) and the given flags into dir/out. */
export function compile(dir: string, name: string, source: string, out: string, flags: string[], cc = 'gcc'): string {
  const src = path.join(dir, name);
  fs.writeFileSync(src, source);
  const dst = path.join(dir, out);
  sh(cc, [...flags, '-o', dst, src]);
  return dst;
}

export interface Section {
  name: string;
  addr: number;
  offset: number;
  size: number;
}

export function sections(file: string): Section[] {
  const out: Section[] = [];
  for (const line of sh('readelf', ['-SW', file]).split('\n')) {
    const m = /\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
    if (m) out.push({ name: m[1], addr: parseInt(m[2], 16), offset: parseInt(m[3], 16), size: parseInt(m[4], 16) });
  }
  return out;
}

/** Function symbols from `nm -S` (defined, text). */
export function nmFunctions(file: string, dynamic = false): FunctionStart[] {
  const out: FunctionStart[] = [];
  const args = dynamic ? ['-D', '-S', '--defined-only', file] : ['-S', '--defined-only', file];
  for (const line of sh('nm', args).split('\n')) {
    const m = /^([0-9a-f]+)\s+(?:([0-9a-f]+)\s+)?([tTwWiI])\s+(\S+)/.exec(line);
    if (!m) continue;
    out.push({ addr: parseInt(m[1], 16), size: m[2] ? parseInt(m[2], 16) : undefined, name: m[4].replace(/@.*/, ''), exported: dynamic || /[TWI]/.test(m[3]) });
  }
  return out;
}

/** Function ranges from .eh_frame FDEs, as `readelf --debug-dump=frames` prints them. */
export function fdeFunctions(file: string): FunctionStart[] {
  const out: FunctionStart[] = [];
  // readelf exits 1 on stripped files (it misses the separate debug info) yet prints every FDE.
  const run = spawnSync('readelf', ['--debug-dump=frames', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const text = run.stdout ?? '';
  if (!text.includes('FDE')) throw new Error(`readelf --debug-dump=frames ${file}: no FDEs (${run.stderr})`);
  for (const m of text.matchAll(/FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/g)) {
    const a = parseInt(m[1], 16);
    const b = parseInt(m[2], 16);
    if (b > a) out.push({ addr: a, size: b - a });
  }
  return out;
}

/** PLT stub → imported name, from objdump's `<name@plt>` labels. */
export function pltStubs(file: string): Map<number, string> {
  const map = new Map<number, string>();
  let text = '';
  try {
    text = sh('objdump', ['-d', '-j', '.plt', '-j', '.plt.sec', '-j', '.plt.got', file]);
  } catch {
    return map;
  }
  for (const m of text.matchAll(/^([0-9a-f]+) <([^@>]+)@plt>:/gm)) map.set(parseInt(m[1], 16), m[2]);
  return map;
}

/** An analyzeCode input for a file's .text, described by binutils. */
export function inputFromBinutils(file: string, starts: FunctionStart[]): CodeInput {
  const text = sections(file).find((s) => s.name === '.text');
  if (!text) throw new Error(`${file}: no .text`);
  const buf = fs.readFileSync(file);
  return {
    code: new Uint8Array(buf.buffer, buf.byteOffset + text.offset, text.size),
    codeVaddr: text.addr,
    functionStarts: starts,
    pltTargets: pltStubs(file),
  };
}

/** Syscall names a command made under `strace -f -qq`, without the initial execve. */
export function straceNames(cmd: string[], dir: string): Set<string> {
  const log = path.join(dir, `strace-${Date.now()}.log`);
  try {
    execFileSync('strace', ['-f', '-qq', '-o', log, ...cmd], { stdio: 'ignore' });
  } catch {
    // the program's own exit status does not matter
  }
  const names = new Set<string>();
  const lines = fs.readFileSync(log, 'utf8').split('\n');
  let first = true;
  for (const line of lines) {
    const m = /^(?:\d+\s+)?([a-z0-9_]+)\(/.exec(line);
    if (!m) continue;
    if (first && m[1] === 'execve') {
      first = false;
      continue;
    }
    first = false;
    names.add(m[1]);
  }
  return names;
}

export function hasTool(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
