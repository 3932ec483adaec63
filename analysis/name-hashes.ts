import type { ElfFile } from '../elf';
import { SHT } from '../elf';

/**
 * Names a program can hand to dlsym: the identifier-like NUL-terminated strings in an
 * object's read-only and initialised data, kept as 32-bit FNV-1a hashes (a collision
 * only adds a root). The linker merges string tails (`pkey_alloc` may be stored only
 * inside `__pkey_alloc`), so every suffix that starts after a `_` is hashed too. The
 * symbol tables' own strings (.dynstr, .strtab) are not program data and are skipped.
 *
 * Names built at run time (`"_nss_" + service + "_getpwnam_r"`) are not seen: the
 * documented limit of the dlsym rule (tracing sees such modules mapped instead).
 */
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const MIN_LEN = 2;
const MAX_LEN = 200;

export function identifierHashes(elf: ElfFile): number[] {
  const out = new Set<number>();
  for (const s of elf.sections) {
    if (s.type !== SHT.PROGBITS || (s.flags & SHF_ALLOC) === 0 || (s.flags & SHF_EXECINSTR) !== 0 || s.size === 0) continue;
    const bytes = elf.readAt(s.addr, s.size);
    if (bytes) collect(bytes, out);
  }
  return [...out].sort((a, b) => a - b);
}

export function collect(bytes: Uint8Array, out: Set<number>): void {
  // Scan for runs of identifier characters that end at a NUL; hash the run and its suffixes after '_'.
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (isIdentChar(b)) continue;
    if (b === 0 && i - start >= MIN_LEN && i - start <= MAX_LEN) addRun(bytes, start, i, out);
    start = i + 1;
  }
}

function addRun(bytes: Uint8Array, from: number, to: number, out: Set<number>): void {
  for (let k = from; k < to - 1; k++) {
    if (k === from || bytes[k - 1] === 0x5f /* _ */) {
      if (!isDigit(bytes[k])) out.add(fnv1a(bytes, k, to));
    }
  }
}

export function nameHash(name: string): number {
  return fnv1a(Buffer.from(name, 'latin1'), 0, name.length);
}

function fnv1a(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function isIdentChar(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x5f;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}
