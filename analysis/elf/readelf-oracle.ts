/** Test-only: readelf/objdump output parsed into the shapes parseElf returns. */
import { objdump, readelf } from './test-fixtures';

export interface OracleSymbol {
  index: number; value: number; size: number; type: string; bind: string; vis: string; ndx: string; name: string;
}

export function oracleSymbols(file: string, table: '.dynsym' | '.symtab'): OracleSymbol[] {
  const text = readelf([table === '.dynsym' ? '--dyn-syms' : '--syms'], file);
  const out: OracleSymbol[] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    const head = /^Symbol table '([^']+)'/.exec(line);
    if (head) { inTable = head[1] === table; continue; }
    if (!inTable) continue;
    const m = /^\s*(\d+):\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s?(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      index: Number(m[1]), value: parseInt(m[2], 16), size: Number(m[3]), type: m[4].toLowerCase(), bind: m[5].toLowerCase(),
      vis: m[6].toLowerCase(), ndx: m[7], name: m[8].replace(/ \(\d+\)$/, ''),
    });
  }
  return out;
}

export interface OracleReloc { section: string; offset: number; symIndex: number; type: number; typeName: string; addend: number }

export function oracleRelocs(file: string): OracleReloc[] {
  const out: OracleReloc[] = [];
  let section = '';
  for (const line of readelf(['-r'], file).split('\n')) {
    const head = /^Relocation section '([^']+)'/.exec(line);
    if (head) { section = head[1]; continue; }
    const m = /^([0-9a-f]{16})\s+([0-9a-f]{16})\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const info = BigInt('0x' + m[2]);
    const rest = m[4].trim();
    let addend = 0;
    const withSym = /([+-]) ([0-9a-f]+)$/.exec(rest);
    if (withSym) addend = (withSym[1] === '-' ? -1 : 1) * parseInt(withSym[2], 16);
    else if (/^[0-9a-f]+$/.test(rest)) addend = parseInt(rest, 16);
    out.push({ section, offset: parseInt(m[1], 16), symIndex: Number(info >> 32n), type: Number(info & 0xffffffffn), typeName: m[3], addend });
  }
  return out;
}

export function oracleFdes(file: string): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = [];
  const text = readelf(['--debug-dump=frames'], file);
  // Only .eh_frame: static musl binaries also carry a .debug_frame, which is not loaded.
  const eh = text.split(/^Contents of the (?=\S+ section)/m).find((part) => part.startsWith('.eh_frame section')) ?? '';
  for (const m of eh.matchAll(/ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/g)) {
    out.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16) });
  }
  return out;
}

/** objdump's synthesized `<name@plt>` labels: address → name (`*ABS*+0x...` for IRELATIVE slots). */
export function oraclePltLabels(file: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of objdump(['-d', '--no-show-raw-insn'], file).matchAll(/^([0-9a-f]+) <(.+)@plt>:$/gm)) {
    out.set(parseInt(m[1], 16), m[2]);
  }
  return out;
}

export function oracleSections(file: string): Array<{ index: number; name: string; type: string; addr: number; offset: number; size: number }> {
  const out = [];
  for (const m of readelf(['-S'], file).matchAll(/^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)/gm)) {
    out.push({ index: Number(m[1]), name: m[2], type: m[3], addr: parseInt(m[4], 16), offset: parseInt(m[5], 16), size: parseInt(m[6], 16) });
  }
  return out;
}

export function oracleSegments(file: string): Array<{ type: string; offset: number; vaddr: number; filesz: number; memsz: number }> {
  const out = [];
  for (const m of readelf(['-l'], file).matchAll(/^\s+([A-Z_0-9]+)\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x([0-9a-f]+) 0x([0-9a-f]+)/gm)) {
    out.push({ type: m[1], offset: parseInt(m[2], 16), vaddr: parseInt(m[3], 16), filesz: parseInt(m[4], 16), memsz: parseInt(m[5], 16) });
  }
  return out;
}

/** GOT slots read by `jmp *X(%rip)` in the PLT sections, from objdump's `# addr` comments. */
export function oraclePltJumpSlots(file: string): Set<number> {
  const out = new Set<number>();
  let inPlt = false;
  for (const line of objdump(['-d', '--no-show-raw-insn'], file).split('\n')) {
    const sec = /^Disassembly of section (\S+):/.exec(line);
    if (sec) { inPlt = /^\.(plt|plt\.sec|plt\.got|iplt)$/.test(sec[1]); continue; }
    if (!inPlt) continue;
    const m = /^\s*[0-9a-f]+:\s+(?:bnd )?jmp\s+\*0x[0-9a-f]+\(%rip\)\s+# (?:0x)?([0-9a-f]+)/.exec(line);
    if (m) out.add(parseInt(m[1], 16));
  }
  return out;
}
