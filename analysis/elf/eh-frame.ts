import { ByteView } from './byte-view';

/** A function's address range as described by one FDE in .eh_frame. */
export interface Fde {
  start: number;
  size: number;
  /** File offset of the FDE record, for diagnostics. */
  offset: number;
}

const DW_EH_PE_omit = 0xff;
const DW_EH_PE_indirect = 0x80;

/**
 * A CIE's personality routine: the unwinder calls it through this pointer, read from
 * .eh_frame, not from any code. `indirect`: `address` is a data word holding the
 * routine's address (DW.ref.__gxx_personality_v0); otherwise it is the routine itself.
 */
export interface Personality {
  address: number;
  indirect: boolean;
}

interface Cie {
  fdeEncoding: number;
}

/**
 * A cursor over a region of the file that knows its virtual address, so pc-relative
 * pointer encodings can be resolved.
 */
class Cursor {
  constructor(
    private readonly view: ByteView,
    public pos: number,
    private readonly end: number,
    private readonly fileToVaddr: number, // vaddr = file offset + fileToVaddr
  ) {}
  need(n: number) {
    if (this.pos + n > this.end) this.view.fail('.eh_frame record runs past its end');
  }
  u8() { this.need(1); return this.view.u8(this.pos++); }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return result;
    }
    return this.view.fail('LEB128 value too long');
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return b & 0x40 ? result - mul : result;
    }
    return this.view.fail('LEB128 value too long');
  }
  cstr(): string {
    const s = this.view.cstr(this.pos, this.end, 'CIE augmentation');
    this.pos += s.length + 1;
    return s;
  }
  /** Reads a DW_EH_PE-encoded value. With `rangeOnly` the application bits are ignored (FDE pc_range). */
  encoded(enc: number, rangeOnly = false): number {
    if (enc === DW_EH_PE_omit) return 0;
    const fieldVaddr = this.pos + this.fileToVaddr;
    let v: number;
    switch (enc & 0x0f) {
      case 0x00: this.need(8); v = this.view.u64(this.pos); this.pos += 8; break;
      case 0x01: v = this.uleb(); break;
      case 0x02: this.need(2); v = this.view.u16(this.pos); this.pos += 2; break;
      case 0x03: this.need(4); v = this.view.u32(this.pos); this.pos += 4; break;
      case 0x04: this.need(8); v = this.view.u64(this.pos); this.pos += 8; break;
      case 0x09: v = this.sleb(); break;
      case 0x0a: this.need(2); v = (this.view.u16(this.pos) << 16) >> 16; this.pos += 2; break;
      case 0x0b: this.need(4); v = this.view.i32(this.pos); this.pos += 4; break;
      case 0x0c: this.need(8); v = this.view.i64(this.pos); this.pos += 8; break;
      default: return this.view.fail(`unsupported pointer encoding 0x${enc.toString(16)}`);
    }
    if (rangeOnly) return v;
    switch (enc & 0x70) {
      case 0x00: break;
      case 0x10: v += fieldVaddr; break; // pcrel
      default: return this.view.fail(`unsupported pointer application 0x${enc.toString(16)} in .eh_frame`);
    }
    // Addresses wrap at 64 bits; keep them as non-negative numbers.
    if (v < 0) v += 2 ** 64;
    return v;
  }
}

/**
 * Walks an .eh_frame section (file range [off, off+size) loaded at `vaddr`) and returns
 * every FDE's pc range. Records advance strictly forward, so a crafted table cannot loop;
 * CIE pointers must point backwards inside the section.
 */
export function parseEhFrame(view: ByteView, off: number, size: number, vaddr: number, stopAtTerminator = false, personalities?: Personality[]): Fde[] {
  view.check(off, size, '.eh_frame');
  const end = off + size;
  const fileToVaddr = vaddr - off;
  const cies = new Map<number, Cie>();
  const fdes: Fde[] = [];
  let pos = off;
  while (pos + 4 <= end) {
    const recStart = pos;
    let len = view.u32(pos);
    pos += 4;
    if (len === 0) {
      // A zero terminator. Within a section the linker may leave several; found through
      // .eh_frame_hdr alone, the first one is the only end marker we have.
      if (stopAtTerminator) break;
      continue;
    }
    if (len === 0xffffffff) {
      if (pos + 8 > end) view.fail('truncated 64-bit .eh_frame length');
      len = view.u64(pos);
      pos += 8;
    }
    const bodyStart = pos;
    const recEnd = bodyStart + len;
    if (recEnd > end) view.fail(`.eh_frame record at ${recStart} runs past the section`);
    if (len < 4) view.fail(`.eh_frame record at ${recStart} is too short`);
    const id = view.u32(bodyStart);
    if (id === 0) {
      cies.set(recStart, parseCie(view, bodyStart + 4, recEnd, fileToVaddr, personalities));
    } else {
      const ciePos = bodyStart - id;
      if (ciePos < off || ciePos >= recStart) view.fail(`FDE at ${recStart} points at a CIE outside the section`);
      const cie = cies.get(ciePos);
      if (!cie) {
        // A CIE we skipped or a pointer into the middle of a record.
        view.fail(`FDE at ${recStart} points at ${ciePos}, which is not a CIE`);
      }
      const c = new Cursor(view, bodyStart + 4, recEnd, fileToVaddr);
      const start = c.encoded(cie.fdeEncoding);
      const range = c.encoded(cie.fdeEncoding & 0x0f, true);
      fdes.push({ start, size: range, offset: recStart });
    }
    pos = recEnd;
  }
  return fdes;
}

function parseCie(view: ByteView, pos: number, end: number, fileToVaddr: number, personalities?: Personality[]): Cie {
  const c = new Cursor(view, pos, end, fileToVaddr);
  const version = c.u8();
  if (version !== 1 && version !== 3 && version !== 4) view.fail(`unknown CIE version ${version}`);
  const aug = c.cstr();
  if (aug.includes('eh')) c.encoded(0x00);
  if (version === 4) { c.u8(); c.u8(); } // address_size, segment_selector_size
  c.uleb(); // code alignment
  c.sleb(); // data alignment
  if (version === 1) c.u8(); else c.uleb(); // return address register
  let fdeEncoding = 0x00;
  const augZ = aug.startsWith('z');
  if (augZ) {
    const augLen = c.uleb();
    const augEnd = c.pos + augLen;
    if (augEnd > end) view.fail('CIE augmentation data runs past the record');
    for (const ch of aug.slice(1)) {
      if (ch === 'R') fdeEncoding = c.u8();
      else if (ch === 'L') c.u8();
      else if (ch === 'P') {
        const enc = c.u8();
        const application = enc & 0x70;
        // Only absolute and pc-relative pointers can be resolved here; others are skipped as before.
        if (application !== 0x00 && application !== 0x10) c.encoded(enc, true);
        else {
          const address = c.encoded(enc & ~DW_EH_PE_indirect);
          if (personalities && address) personalities.push({ address, indirect: (enc & DW_EH_PE_indirect) !== 0 });
        }
      }
      else if (ch === 'S' || ch === 'B' || ch === 'G') continue;
      else break; // unknown augmentation: the length tells us where it ends
    }
    c.pos = augEnd;
  }
  return { fdeEncoding };
}
