/**
 * Named hostile variants of a real ELF file, each aimed at one way a reader can be
 * made to fail: truncation, absurd or overlapping tables, .eh_frame and PLT loops,
 * gigantic claimed sizes. Used on their own (hostile-elf.test.ts) and planted inside
 * an image (test/integration/robustness-hostile.test.ts).
 */
import { layoutOf } from '../../tools/fuzz/mutate';

const SH = 64;
const PH = 56;

export function hostileVariants(orig: Buffer): Record<string, Buffer> {
  const L = layoutOf(orig);
  const copy = () => Buffer.from(orig);
  const shoff = Number(orig.readBigUInt64LE(40));
  const shnum = orig.readUInt16LE(60);
  const phoff = Number(orig.readBigUInt64LE(32));
  const phnum = orig.readUInt16LE(56);
  const sec = (name: string) => {
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * SH;
      const r = L.regions.find((x) => x.offset === Number(orig.readBigUInt64LE(o + 24)) && x.name === name);
      if (r) return { index: i, hdr: o, ...r };
    }
    throw new Error(`seed has no ${name}`);
  };
  const out: Record<string, Buffer> = {};
  const v = (name: string, f: (b: Buffer) => Buffer | void) => {
    const b = copy();
    try {
      out[name] = f(b) ?? b;
    } catch (e) {
      if (!/^seed has no /.test((e as Error).message)) throw e; // a variant needs a section this seed lacks
    }
  };
  v('truncated-header', (b) => b.subarray(0, 40));
  v('truncated-half', (b) => b.subarray(0, Math.floor(b.length / 2)));
  v('truncated-before-shdrs', (b) => b.subarray(0, shoff + 10));
  v('shnum-absurd', (b) => { b.writeUInt16LE(0xffff, 60); });
  v('shoff-past-end', (b) => { b.writeBigUInt64LE(0xfffffffffff0n, 40); });
  v('shstrndx-out-of-range', (b) => { b.writeUInt16LE(0xfff0, 62); });
  v('phnum-absurd', (b) => { b.writeUInt16LE(0xffff, 56); });
  v('sections-overlap', (b) => {
    // every section header describes .dynsym's bytes
    const d = sec('.dynsym');
    for (let i = 1; i < shnum; i++) b.copy(b, shoff + i * SH + 24, d.hdr + 24, d.hdr + 40);
  });
  v('section-size-gigantic', (b) => {
    for (const n of ['.dynsym', '.text', '.eh_frame', '.rela.dyn']) b.writeBigUInt64LE(0x7fffffffffffff00n, sec(n).hdr + 32);
  });
  v('segment-size-gigantic', (b) => {
    for (let i = 0; i < phnum; i++) {
      b.writeBigUInt64LE(0xfffffffffffff000n, phoff + i * PH + 32);
      b.writeBigUInt64LE(0xfffffffffffff000n, phoff + i * PH + 40);
    }
  });
  v('symbol-sizes-gigantic', (b) => {
    for (const n of ['.dynsym', '.symtab']) {
      const s = sec(n);
      for (let o = s.offset; o + 24 <= s.offset + s.size; o += 24) b.writeBigUInt64LE(0xffffffffffff0000n, o + 16);
    }
  });
  v('section-link-self', (b) => {
    for (let i = 1; i < shnum; i++) b.writeUInt32LE(i, shoff + i * SH + 40);
  });
  v('dynamic-strsz-gigantic', (b) => {
    const d = sec('.dynamic');
    for (let o = d.offset; o + 16 <= d.offset + d.size; o += 16) {
      const tag = b.readBigUInt64LE(o);
      if (tag === 10n /* DT_STRSZ */ || tag === 2n /* DT_PLTRELSZ */ || tag === 8n /* DT_RELASZ */) b.writeBigUInt64LE(0x7ffffffffffff000n, o + 8);
    }
  });
  v('eh-frame-cie-loop', (b) => {
    // every FDE's CIE pointer points at the FDE itself
    const e = sec('.eh_frame');
    let o = e.offset;
    while (o + 8 <= e.offset + e.size) {
      const len = b.readUInt32LE(o);
      if (len === 0 || len === 0xffffffff) break;
      if (b.readUInt32LE(o + 4) !== 0) b.writeUInt32LE(4, o + 4);
      o += 4 + len;
    }
  });
  v('eh-frame-length-gigantic', (b) => {
    const e = sec('.eh_frame');
    b.writeUInt32LE(0xffffffff, e.offset);
    b.writeBigUInt64LE(0x7ffffffffffffff0n, e.offset + 4);
  });
  v('eh-frame-zero-lengths', (b) => {
    const e = sec('.eh_frame');
    b.fill(0, e.offset, e.offset + e.size);
  });
  v('plt-jumps-to-itself', (b) => {
    for (const n of ['.plt', '.plt.sec', '.plt.got']) {
      let s;
      try { s = sec(n); } catch { continue; }
      for (let o = s.offset; o + 2 <= s.offset + s.size; o += 2) b.writeUInt16LE(0xfeeb, o); // jmp .
    }
  });
  v('text-all-self-calls', (b) => {
    const t = sec('.text');
    // call rel32 -5: every instruction calls itself
    for (let o = t.offset; o + 5 <= t.offset + t.size; o += 5) { b[o] = 0xe8; b.writeInt32LE(-5, o + 1); }
  });
  v('relocations-garbage', (b) => {
    for (const r of L.regions.filter((x) => x.name.startsWith('.rela'))) for (let o = r.offset; o + 24 <= r.offset + r.size; o += 24) b.writeBigUInt64LE(0xffffffff00000007n, o + 8);
  });
  v('not-elf-but-named-so', () => Buffer.from('this is not an ELF file\n'));
  v('elf-magic-only', () => Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  return out;
}
