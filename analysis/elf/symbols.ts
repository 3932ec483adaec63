import { ByteView } from './byte-view';
import { SHT, RawSectionHeader } from './header';

export type SymbolType = 'notype' | 'object' | 'func' | 'section' | 'file' | 'common' | 'tls' | 'ifunc' | 'other';
export type SymbolBind = 'local' | 'global' | 'weak' | 'unique' | 'other';
export type SymbolVisibility = 'default' | 'internal' | 'hidden' | 'protected';

export interface ElfSymbol {
  table: 'dynsym' | 'symtab';
  index: number;
  /** The bare name, without any @VERSION. */
  name: string;
  /** GNU symbol version (`GLIBC_2.14`), from .gnu.version for .dynsym or from a `name@VER` spelling in .symtab. */
  version?: string;
  /** True for the default version of a definition (printed `name@@VER`). */
  versionDefault?: boolean;
  /** The library a required version comes from (.gnu.version_r vn_file), for undefined dynamic symbols. */
  versionFile?: string;
  /** `name`, `name@VER` or `name@@VER` — the way readelf spells it. */
  fullName: string;
  value: number;
  size: number;
  type: SymbolType;
  bind: SymbolBind;
  visibility: SymbolVisibility;
  /** Section index; 0 = SHN_UNDEF, 0xfff1 = SHN_ABS, 0xfff2 = SHN_COMMON. Extended indexes are resolved. */
  shndx: number;
  defined: boolean;
}

const TYPES: SymbolType[] = ['notype', 'object', 'func', 'section', 'file', 'common', 'tls'];
const BINDS: SymbolBind[] = ['local', 'global', 'weak'];
const VIS: SymbolVisibility[] = ['default', 'internal', 'hidden', 'protected'];
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;

/** An export's or import's bare name: `name@VER` and `name@@VER` without the version. */
export function bareName(name: string): string {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

/** Version index → name, with where it came from. Index 0 and 1 are "local" and "global, unversioned". */
export interface VersionInfo {
  names: Map<number, { name: string; file?: string; defined: boolean }>;
}

function strtabOf(view: ByteView, sections: readonly RawSectionHeader[], link: number, what: string): { off: number; end: number } {
  if (link >= sections.length) view.fail(`${what} links to section ${link}, past the section table`);
  const s = sections[link];
  if (s.type === SHT.NOBITS) view.fail(`${what} string table has no file bytes`);
  view.check(s.offset, s.size, `${what} string table`);
  return { off: s.offset, end: s.offset + s.size };
}

/** Parses .gnu.version_d and .gnu.version_r into an index → version name map. */
export function readVersions(view: ByteView, sections: readonly RawSectionHeader[]): VersionInfo {
  const names = new Map<number, { name: string; file?: string; defined: boolean }>();
  for (const sec of sections) {
    if (sec.type !== SHT.GNU_VERDEF && sec.type !== SHT.GNU_VERNEED) continue;
    view.check(sec.offset, sec.size, 'version section');
    const strs = strtabOf(view, sections, sec.link, 'version section');
    const str = (o: number) => view.cstr(strs.off + o, strs.end, 'version name');
    const end = sec.offset + sec.size;
    // sh_info is the entry count; each entry is at least 16 bytes, which caps the loop.
    const count = Math.min(sec.info, Math.floor(sec.size / 16));
    let off = sec.offset;
    for (let i = 0; i < count; i++) {
      if (off + (sec.type === SHT.GNU_VERDEF ? 20 : 16) > end) view.fail('version entry runs past its section');
      if (sec.type === SHT.GNU_VERDEF) {
        const ndx = view.u16(off + 4);
        const cnt = view.u16(off + 6);
        const aux = view.u32(off + 12);
        const next = view.u32(off + 16);
        if (cnt > 0) {
          const a = off + aux;
          if (aux < 20 || a + 8 > end) view.fail('verdef auxiliary entry outside its section');
          names.set(ndx & 0x7fff, { name: str(view.u32(a)), defined: true });
        }
        if (next === 0) break;
        off += next;
      } else {
        const cnt = view.u16(off + 2);
        const file = str(view.u32(off + 4));
        const aux = view.u32(off + 8);
        const next = view.u32(off + 12);
        let a = off + aux;
        for (let j = 0; j < cnt; j++) {
          if (a + 16 > end || a < sec.offset) view.fail('verneed auxiliary entry outside its section');
          const other = view.u16(a + 6);
          names.set(other & 0x7fff, { name: str(view.u32(a + 8)), file, defined: false });
          const an = view.u32(a + 12);
          if (an === 0) break;
          a += an;
        }
        if (next === 0) break;
        off += next;
      }
    }
  }
  return { names };
}

/** Reads one SHT_SYMTAB or SHT_DYNSYM section. Versions apply to .dynsym only. */
export function readSymbolTable(
  view: ByteView,
  sections: readonly RawSectionHeader[],
  sec: RawSectionHeader,
  versions: VersionInfo | undefined,
): ElfSymbol[] {
  const table = sec.type === SHT.DYNSYM ? 'dynsym' : 'symtab';
  if (sec.type === SHT.NOBITS || sec.size === 0) return [];
  const ent = sec.entsize || 24;
  if (ent < 24) view.fail(`${table} entry size ${ent} is too small`);
  view.check(sec.offset, sec.size, table);
  const count = Math.floor(sec.size / ent);
  const strs = strtabOf(view, sections, sec.link, table);

  let versym: RawSectionHeader | undefined;
  if (table === 'dynsym') {
    versym = sections.find((s) => s.type === SHT.GNU_VERSYM && s.link === sec.index);
    if (versym) view.check(versym.offset, Math.min(versym.size, count * 2), '.gnu.version');
  }
  const xindex = sections.find((s) => s.type === SHT.SYMTAB_SHNDX && s.link === sec.index);

  const out: ElfSymbol[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const o = sec.offset + i * ent;
    const nameOff = view.u32(o);
    const info = view.u8(o + 4);
    const other = view.u8(o + 5);
    let shndx = view.u16(o + 6);
    const value = view.u64(o + 8);
    const size = view.u64(o + 16);
    if (shndx === SHN_XINDEX && xindex) shndx = view.u32(xindex.offset + i * 4);
    const t = info & 0xf;
    const b = info >> 4;
    let raw = nameOff === 0 ? '' : view.cstr(strs.off + nameOff, strs.end, `${table} symbol name`);
    let name = raw;
    let version: string | undefined;
    let versionDefault: boolean | undefined;
    let versionFile: string | undefined;
    if (table === 'dynsym' && versym && i * 2 + 2 <= versym.size && i > 0) {
      const vs = view.u16(versym.offset + i * 2);
      const idx = vs & 0x7fff;
      const v = idx >= 2 ? versions?.names.get(idx) : undefined;
      if (v) {
        version = v.name;
        if (v.defined && shndx !== SHN_UNDEF) versionDefault = (vs & 0x8000) === 0;
        if (!v.defined) versionFile = v.file;
      }
    } else if (table === 'symtab') {
      // The linker writes versioned references into .symtab as literal `name@VER` / `name@@VER`.
      const at = raw.indexOf('@');
      if (at > 0) {
        name = raw.slice(0, at);
        versionDefault = raw.startsWith('@@', at);
        version = raw.slice(at + (versionDefault ? 2 : 1));
        if (!versionDefault) versionDefault = undefined;
      }
    }
    // A version's own definition symbol (ABS, named like the version) is printed bare by readelf; so are we.
    const isVersionSymbol = shndx === SHN_ABS && version === name;
    if (table === 'dynsym') raw = version && !isVersionSymbol ? `${name}${versionDefault ? '@@' : '@'}${version}` : name;
    out[i] = {
      table, index: i, name, fullName: raw, value, size,
      type: t < TYPES.length ? TYPES[t] : t === 10 ? 'ifunc' : 'other',
      bind: b < BINDS.length ? BINDS[b] : b === 10 ? 'unique' : 'other',
      visibility: VIS[other & 3], shndx, defined: shndx !== SHN_UNDEF,
      ...(version !== undefined ? { version } : {}),
      ...(versionDefault !== undefined ? { versionDefault } : {}),
      ...(versionFile !== undefined ? { versionFile } : {}),
    };
  }
  return out;
}
