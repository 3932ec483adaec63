import type { ElfFile } from '../elf';
import { ConfineError } from '../../pipeline/errors';

/** What `go version -m` prints first: the toolchain and the main package / module. */
export interface GoBuildInfo {
  /** e.g. "go1.19.8". */
  goVersion: string;
  /** `path` line: the main package's import path. */
  path?: string;
  /** `mod` line: the main module's path and version. */
  mainModule?: { path: string; version: string };
  /** Raw module info text (between the sentinels), empty when built without modules. */
  modInfo: string;
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

/**
 * Reads `.go.buildinfo` (found by section name, else by its 14-byte magic in a
 * writable PT_LOAD). Two layouts: up to Go 1.17 the header holds two pointers to
 * Go string headers; from 1.18 (flag bit 2) both strings follow the 32-byte header
 * inline, each prefixed by a uvarint length. Undefined when absent.
 */
export function readBuildInfo(elf: ElfFile, buf: Uint8Array): GoBuildInfo | undefined {
  let off: number | undefined;
  const sec = elf.sectionByName('.go.buildinfo');
  if (sec && sec.type !== 8) off = sec.offset;
  else {
    const i = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).indexOf(MAGIC);
    if (i >= 0) off = i;
  }
  if (off === undefined) return undefined;
  const fail = (msg: string): never => {
    throw new ConfineError('elf-malformed', `.go.buildinfo: ${msg}`, elf.fileName ? { file: elf.fileName } : {});
  };
  if (off + 32 > buf.length) fail('header outside the file');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!b.subarray(off, off + 14).equals(MAGIC)) fail('bad magic');
  const ptrSize = b[off + 14];
  const flags = b[off + 15];
  const bigEndian = (flags & 1) !== 0;
  let version: string;
  let mod: string;
  if (flags & 2) {
    let p = off + 32;
    const str = (): string => {
      let len = 0;
      let shift = 0;
      for (;;) {
        if (p >= b.length || shift > 35) fail('bad varint');
        const c = b[p++];
        len += (c & 0x7f) * 2 ** shift;
        if (!(c & 0x80)) break;
        shift += 7;
      }
      if (p + len > b.length) fail(`string of ${len} bytes runs past the file`);
      const s = b.toString('latin1', p, p + len);
      p += len;
      return s;
    };
    version = str();
    mod = str();
  } else {
    if (ptrSize !== 8 && ptrSize !== 4) fail(`pointer size ${ptrSize}`);
    const ptr = (o: number): number => {
      if (o + ptrSize > b.length) fail('pointer outside the file');
      if (ptrSize === 4) return bigEndian ? b.readUInt32BE(o) : b.readUInt32LE(o);
      return Number(bigEndian ? b.readBigUInt64BE(o) : b.readBigUInt64LE(o));
    };
    // Pointer → Go string header {data, len} → bytes.
    const goString = (hdrAddr: number): string => {
      const h = elf.vaddrToOffset(hdrAddr, ptrSize * 2);
      if (h === undefined) fail(`string header 0x${hdrAddr.toString(16)} not in the file`);
      const data = ptr(h!);
      const len = ptr(h! + ptrSize);
      if (len === 0) return '';
      const d = elf.vaddrToOffset(data, len);
      if (d === undefined) fail(`string data 0x${data.toString(16)}+${len} not in the file`);
      return b.toString('latin1', d!, d! + len);
    };
    version = goString(ptr(off + 16));
    mod = goString(ptr(off + 16 + ptrSize));
  }
  // Module info is framed by 16-byte sentinels (cmd/go/internal/modload.infoStart/End).
  // Strings were read as latin1 so the binary sentinels keep their byte length.
  const framed = mod.length >= 33 && mod.charCodeAt(mod.length - 17) === 0x0a ? mod.slice(16, -16) : mod;
  const modInfo = Buffer.from(framed, 'latin1').toString('utf8');
  const info: GoBuildInfo = { goVersion: Buffer.from(version, 'latin1').toString('utf8'), modInfo };
  for (const line of modInfo.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'path' && f[1]) info.path = f[1];
    else if (f[0] === 'mod' && f[1]) info.mainModule = { path: f[1], version: f[2] ?? '' };
  }
  return info;
}
