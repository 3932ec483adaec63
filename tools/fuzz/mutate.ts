/**
 * ELF-aware mutations. The layout of each seed is read once here, with a few lines
 * of independent code (never with the parser under test), and mutations target the
 * fields a parser trusts: header counts and offsets, section and segment tables,
 * dynamic entries, symbols, relocations, .eh_frame lengths and CIE pointers, PLT
 * stubs and code bytes.
 */

export type Rng = () => number;

/** mulberry32: seeded, so every case can be replayed from (seed, index). */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
  what: string;
}
interface Region {
  name: string;
  offset: number;
  size: number;
  entsize: number;
}

export interface Layout {
  fields: Field[];
  /** Sections by name (first of each name) with their file extent. */
  regions: Region[];
  length: number;
}

const u16 = (b: Buffer, o: number) => (o + 2 <= b.length ? b.readUInt16LE(o) : 0);
const u32 = (b: Buffer, o: number) => (o + 4 <= b.length ? b.readUInt32LE(o) : 0);
const u64 = (b: Buffer, o: number) => (o + 8 <= b.length ? Number(b.readBigUInt64LE(o)) : 0);

export function layoutOf(b: Buffer): Layout {
  const fields: Field[] = [];
  const regions: Region[] = [];
  const f = (at: number, width: Field['width'], what: string) => {
    if (at >= 0 && at + width <= b.length) fields.push({ at, width, what });
  };
  for (const [o, w, n] of [[4, 1, 'ei_class'], [5, 1, 'ei_data'], [16, 2, 'e_type'], [18, 2, 'e_machine'], [24, 8, 'e_entry'], [32, 8, 'e_phoff'], [40, 8, 'e_shoff'], [52, 2, 'e_ehsize'], [54, 2, 'e_phentsize'], [56, 2, 'e_phnum'], [58, 2, 'e_shentsize'], [60, 2, 'e_shnum'], [62, 2, 'e_shstrndx']] as const) f(o, w, n);
  const phoff = u64(b, 32), phnum = u16(b, 56);
  for (let i = 0; i < phnum && phoff + (i + 1) * 56 <= b.length; i++) {
    const o = phoff + i * 56;
    for (const [d, w, n] of [[0, 4, 'p_type'], [8, 8, 'p_offset'], [16, 8, 'p_vaddr'], [32, 8, 'p_filesz'], [40, 8, 'p_memsz'], [48, 8, 'p_align']] as const) f(o + d, w, `ph${i}.${n}`);
  }
  const shoff = u64(b, 40), shnum = u16(b, 60), shstrndx = u16(b, 62);
  const strOff = u64(b, shoff + shstrndx * 64 + 24);
  const nameAt = (o: number) => {
    let s = '';
    for (let i = strOff + o; i < b.length && b[i] !== 0 && s.length < 64; i++) s += String.fromCharCode(b[i]);
    return s;
  };
  for (let i = 0; i < shnum && shoff + (i + 1) * 64 <= b.length; i++) {
    const o = shoff + i * 64;
    for (const [d, w, n] of [[0, 4, 'sh_name'], [4, 4, 'sh_type'], [16, 8, 'sh_addr'], [24, 8, 'sh_offset'], [32, 8, 'sh_size'], [40, 4, 'sh_link'], [44, 4, 'sh_info'], [56, 8, 'sh_entsize']] as const) f(o + d, w, `sh${i}.${n}`);
    const name = nameAt(u32(b, o));
    const type = u32(b, o + 4);
    if (type === 8 /* NOBITS */) continue;
    regions.push({ name, offset: u64(b, o + 24), size: u64(b, o + 32), entsize: u64(b, o + 56) });
  }
  // Entries of the tables a parser walks: a sample of each, so the field list stays small.
  const sample = (r: Region | undefined, ent: number, parts: ReadonlyArray<readonly [number, Field['width'], string]>, max = 48) => {
    if (!r || r.offset + r.size > b.length) return;
    const n = Math.floor(r.size / ent);
    const step = Math.max(1, Math.floor(n / max));
    for (let i = 0; i < n; i += step) for (const [d, w, what] of parts) f(r.offset + i * ent + d, w, `${r.name}[${i}].${what}`);
  };
  const byName = (n: string) => regions.find((r) => r.name === n);
  const symParts = [[0, 4, 'st_name'], [4, 1, 'st_info'], [6, 2, 'st_shndx'], [8, 8, 'st_value'], [16, 8, 'st_size']] as const;
  sample(byName('.dynsym'), 24, symParts);
  sample(byName('.symtab'), 24, symParts);
  sample(byName('.dynamic'), 16, [[0, 8, 'd_tag'], [8, 8, 'd_val']], 64);
  for (const r of regions.filter((x) => x.name.startsWith('.rela'))) sample(r, 24, [[0, 8, 'r_offset'], [8, 8, 'r_info'], [16, 8, 'r_addend']], 24);
  sample(byName('.gnu.version'), 2, [[0, 2, 'versym']], 24);
  sample(byName('.init_array'), 8, [[0, 8, 'fn']]);
  sample(byName('.gnu.version_r'), 4, [[0, 4, 'w']], 24);
  sample(byName('.gnu.version_d'), 4, [[0, 4, 'w']], 24);
  sample(byName('.eh_frame_hdr'), 4, [[0, 4, 'w']], 32);
  // .eh_frame: every record's length and CIE pointer (the fields that make a walk loop or run away).
  const eh = byName('.eh_frame');
  if (eh && eh.offset + eh.size <= b.length) {
    let o = eh.offset;
    let k = 0;
    while (o + 8 <= eh.offset + eh.size && k < 4000) {
      const len = u32(b, o);
      if (len === 0 || len === 0xffffffff) break;
      if (k % 4 === 0 || k < 16) {
        f(o, 4, `eh[${k}].length`);
        f(o + 4, 4, `eh[${k}].cie_ptr`);
        f(o + 8, 4, `eh[${k}].pc_begin`);
        f(o + 12, 4, `eh[${k}].pc_range`);
      }
      o += 4 + len;
      k++;
    }
  }
  return { fields, regions, length: b.length };
}

function interesting(b: Buffer, L: Layout, r: Rng, width: number, old: bigint): bigint {
  const max = (1n << BigInt(width * 8)) - 1n;
  const pick = Math.floor(r() * 16);
  const other = L.regions.length ? L.regions[Math.floor(r() * L.regions.length)] : undefined;
  const v = [
    0n, 1n, max, max - 1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, BigInt(b.length), BigInt(b.length - 1), BigInt(b.length + 1),
    1n << 32n, 1n << 62n, old + 1n, old - 1n,
    BigInt(other?.offset ?? 0), // points into another section: overlap
    BigInt(Math.floor(r() * 2 ** 31)),
  ][pick];
  return ((v % (max + 1n)) + (max + 1n)) % (max + 1n);
}

function writeField(b: Buffer, at: number, width: number, v: bigint): void {
  if (width === 1) b[at] = Number(v & 0xffn);
  else if (width === 2) b.writeUInt16LE(Number(v & 0xffffn), at);
  else if (width === 4) b.writeUInt32LE(Number(v & 0xffffffffn), at);
  else b.writeBigUInt64LE(v & 0xffffffffffffffffn, at);
}
function readField(b: Buffer, at: number, width: number): bigint {
  if (width === 1) return BigInt(b[at]);
  if (width === 2) return BigInt(b.readUInt16LE(at));
  if (width === 4) return BigInt(b.readUInt32LE(at));
  return b.readBigUInt64LE(at);
}

export interface Mutant {
  bytes: Buffer;
  /** What was done, for the report and for replaying by hand. */
  ops: string[];
}

/** One to four mutations of `seed`; deterministic in `r`. */
export function mutate(seed: Buffer, L: Layout, r: Rng): Mutant {
  let b = Buffer.from(seed);
  const ops: string[] = [];
  const n = 1 + Math.floor(r() * r() * 4);
  const region = () => L.regions[Math.floor(r() * L.regions.length)];
  for (let k = 0; k < n; k++) {
    const m = r();
    if (m < 0.4 && L.fields.length) {
      const fd = L.fields[Math.floor(r() * L.fields.length)];
      if (fd.at + fd.width > b.length) continue;
      const v = interesting(b, L, r, fd.width, readField(b, fd.at, fd.width));
      writeField(b, fd.at, fd.width, v);
      ops.push(`${fd.what}=${v}`);
    } else if (m < 0.5 && L.regions.length >= 2 && b.length >= 64) {
      // Two section headers describing the same bytes.
      const shoff = Number(b.readBigUInt64LE(40)), shnum = b.readUInt16LE(60);
      const i = Math.floor(r() * shnum), j = Math.floor(r() * shnum);
      const oi = shoff + i * 64, oj = shoff + j * 64;
      if (oi + 64 > b.length || oj + 64 > b.length) continue;
      b.copy(b, oi + 16, oj + 16, oj + 40); // sh_addr, sh_offset, sh_size
      ops.push(`overlap sh${i}:=sh${j}`);
    } else if (m < 0.6) {
      const eh = L.regions.find((x) => x.name === '.eh_frame');
      if (!eh || eh.offset + eh.size > b.length) continue;
      // An FDE whose CIE pointer points back at itself, or a record claiming 64-bit length.
      const at = eh.offset + 4 * Math.floor((r() * eh.size) / 4);
      if (at + 16 > b.length) continue;
      if (r() < 0.5) {
        b.writeUInt32LE(4, at + 4);
        ops.push(`eh self-cie @${at}`);
      } else {
        b.writeUInt32LE(0xffffffff, at);
        b.writeBigUInt64LE(r() < 0.5 ? 0xfffffffffffffff0n : BigInt(Math.floor(r() * 2 ** 40)), at + 4);
        ops.push(`eh 64-bit length @${at}`);
      }
    } else if (m < 0.68) {
      const plt = L.regions.filter((x) => /^\.plt/.test(x.name));
      const t = plt.length ? plt[Math.floor(r() * plt.length)] : region();
      if (!t || t.size < 8 || t.offset + t.size > b.length) continue;
      // jmp to itself (EB FE) or jmp *rel32 back to the stub start: a PLT that loops.
      const at = t.offset + 16 * Math.floor((r() * t.size) / 16);
      if (at + 6 > b.length) continue;
      if (r() < 0.5) b.writeUInt16LE(0xfeeb, at);
      else {
        b[at] = 0xff; b[at + 1] = 0x25; b.writeInt32LE(-6 - Math.floor(r() * 64), at + 2);
      }
      ops.push(`plt loop @${at} in ${t.name}`);
    } else if (m < 0.76) {
      const t = region();
      if (!t || t.offset + t.size > b.length || t.size === 0) continue;
      const cnt = 1 + Math.floor(r() * 8);
      for (let i = 0; i < cnt; i++) b[t.offset + Math.floor(r() * t.size)] = r() < 0.5 ? Math.floor(r() * 256) : [0, 0xff, 0x0f, 0x05, 0xe8, 0xe9, 0xc3][Math.floor(r() * 7)];
      ops.push(`bytes x${cnt} in ${t.name}`);
    } else if (m < 0.84) {
      const cut = r() < 0.5 ? Math.floor(r() * Math.min(b.length, 4096)) : Math.floor(r() * b.length);
      b = b.subarray(0, cut);
      ops.push(`truncate ${cut}`);
    } else if (m < 0.9) {
      // Copy a chunk of the file over another place: plausible-looking garbage.
      const len = 1 + Math.floor(r() * 256);
      const from = Math.floor(r() * Math.max(1, b.length - len)), to = Math.floor(r() * Math.max(1, b.length - len));
      b.copy(b, to, from, from + len);
      ops.push(`splice ${from}->${to} len ${len}`);
    } else {
      const cnt = 1 + Math.floor(r() * 6);
      for (let i = 0; i < cnt; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      ops.push(`random bytes x${cnt}`);
    }
  }
  return { bytes: b, ops };
}
