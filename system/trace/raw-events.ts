/**
 * The kernel's binary trace records (per-CPU `trace_pipe_raw`), decoded. The text
 * `trace_pipe` prints exec filenames and comms unescaped, so a name holding a newline
 * splits a record and can forge whole events; here every string is a length-prefixed
 * field of a record whose size the ring buffer states, so nothing a name holds can
 * end a record or start another. Pure: pages and format files in, events out.
 *
 * Page layout (events/header_page): u64 timestamp, local_t commit (the data length in
 * the low bits, flags for dropped events above), data. Each record (events/header_event)
 * starts with a u32: type_len (5 bits), time_delta (27 bits); type_len 1..28 is the
 * data length in words, 0 puts the length in the next u32, 29 is padding, 30 a time
 * extension, 31 an absolute time stamp. Event data starts with common_type (the id in
 * events/<sys>/<name>/id); fields are at the offsets the format file gives, strings as
 * `__data_loc` (u16 offset, u16 length) or fixed char arrays.
 */
import { decodePathBytes } from '../image/path-bytes';
import type { TraceEvent } from './trace-lines';

export interface FieldFormat {
  offset: number;
  size: number;
  dataLoc: boolean;
}

export interface EventFormat {
  name: string;
  id: number;
  fields: Map<string, FieldFormat>;
}

/** Parses an events/<sys>/<name>/format file. */
export function parseFormat(text: string): EventFormat {
  const name = /^name:\s*(\S+)/m.exec(text)?.[1];
  const id = /^ID:\s*(\d+)/m.exec(text)?.[1];
  if (!name || !id) throw new Error('not a tracefs event format: no name or ID');
  const fields = new Map<string, FieldFormat>();
  for (const m of text.matchAll(/field:([^;]*);\s*offset:(\d+);\s*size:(\d+);/g)) {
    const decl = m[1].trim();
    const fname = /([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])?$/.exec(decl)?.[1];
    if (!fname) continue;
    fields.set(fname, { offset: Number(m[2]), size: Number(m[3]), dataLoc: /__data_loc|__rel_loc/.test(decl) });
  }
  return { name, id: Number(id), fields };
}

export interface PageResult {
  events: (TraceEvent & { kind: 'fork' | 'exec' | 'exit' | 'exec-return' | 'cgroup-attach' })[];
  /** Events the kernel dropped before this page (overwritten while nobody read). */
  lost: number;
  /** Set when a record does not decode: the trace cannot be trusted from here on. */
  malformed?: string;
}

const TYPE_PADDING = 29;
const TYPE_TIME_EXTEND = 30;
const TYPE_TIME_STAMP = 31;
const COMMIT_MASK = (1 << 27) - 1;
const MISSED_EVENTS = 2 ** 31;
const MISSED_STORED = 2 ** 30;
const PAGE_HEADER = 16;

/**
 * Decodes one page as read from trace_pipe_raw. `formats` by event id; a record of an
 * event that is not ours, or one that does not fit, makes the page malformed.
 */
export function parsePage(page: Buffer, formats: Map<number, EventFormat>): PageResult {
  const out: PageResult = { events: [], lost: 0 };
  if (page.length < PAGE_HEADER) return { ...out, malformed: `short page (${page.length} bytes)` };
  let ts = page.readBigUInt64LE(0);
  const commitWord = page.readBigUInt64LE(8);
  const flags = Number(commitWord & 0xffffffffn);
  const size = flags & COMMIT_MASK;
  const end = PAGE_HEADER + size;
  if (end > page.length) return { ...out, malformed: `page claims ${size} bytes of data, ${page.length - PAGE_HEADER} read` };
  if (flags & MISSED_EVENTS) {
    // The count follows the data when the kernel had room for it; at least one event was lost either way.
    out.lost = flags & MISSED_STORED && end + 8 <= page.length ? Math.max(1, Number(page.readBigUInt64LE(end))) : 1;
  }
  let i = PAGE_HEADER;
  while (i < end) {
    if (i + 4 > end) return { ...out, malformed: `record header cut at ${i}` };
    const word = page.readUInt32LE(i);
    const typeLen = word & 0x1f;
    const delta = BigInt(word >>> 5);
    if (typeLen === TYPE_PADDING) {
      if (delta === 0n) break; // the rest of the page is unused
      if (i + 8 > end) return { ...out, malformed: `padding record cut at ${i}` };
      i += 4 + page.readUInt32LE(i + 4);
      continue;
    }
    if (typeLen === TYPE_TIME_EXTEND || typeLen === TYPE_TIME_STAMP) {
      if (i + 8 > end) return { ...out, malformed: `time record cut at ${i}` };
      const v = (BigInt(page.readUInt32LE(i + 4)) << 27n) | delta;
      if (typeLen === TYPE_TIME_EXTEND) ts += v;
      else ts = (ts & ~((1n << 59n) - 1n)) | v; // absolute, its top bits from the page's stamp
      i += 8;
      continue;
    }
    let dataStart: number;
    let dataLen: number;
    if (typeLen === 0) {
      if (i + 8 > end) return { ...out, malformed: `long record cut at ${i}` };
      dataLen = page.readUInt32LE(i + 4) - 4;
      dataStart = i + 8;
      if (dataLen < 0) return { ...out, malformed: `record of negative length at ${i}` };
    } else {
      dataLen = typeLen * 4;
      dataStart = i + 4;
    }
    const next = dataStart + ((dataLen + 3) & ~3);
    if (dataStart + dataLen > end) return { ...out, malformed: `record at ${i} runs past the page's data` };
    ts += delta;
    const data = page.subarray(dataStart, dataStart + dataLen);
    const ev = decodeRecord(data, formats, Number(ts) / 1e6);
    if (typeof ev === 'string') return { ...out, malformed: ev };
    if (ev) out.events.push(ev);
    i = next;
  }
  return out;
}

function decodeRecord(data: Buffer, formats: Map<number, EventFormat>, t: number): PageResult['events'][number] | string | undefined {
  if (data.length < 2) return `record of ${data.length} bytes`;
  const id = data.readUInt16LE(0);
  const f = formats.get(id);
  if (!f) return `record of event id ${id}, which this trace did not enable`;
  const int = (name: string): number | string => {
    const d = f.fields.get(name);
    if (!d || d.size !== 4 || d.offset + 4 > data.length) return `${f.name}: field ${name} missing or out of the record`;
    return data.readInt32LE(d.offset);
  };
  const str = (name: string): string => {
    const d = f.fields.get(name);
    if (!d) return '\0bad';
    let from: number;
    let len: number;
    if (d.dataLoc) {
      if (d.offset + 4 > data.length) return '\0bad';
      const loc = data.readUInt32LE(d.offset);
      from = loc & 0xffff;
      len = loc >>> 16;
    } else {
      from = d.offset;
      len = d.size;
    }
    if (from + len > data.length) return '\0bad';
    const bytes = data.subarray(from, from + len);
    const nul = bytes.indexOf(0);
    return decodePathBytes(nul >= 0 ? bytes.subarray(0, nul) : bytes);
  };
  const bad = (...vals: (number | string)[]) => vals.find((v) => typeof v === 'string' && (v.startsWith('\0') || v.includes('missing or out')));
  if (f.name === 'sched_process_exec') {
    const filename = str('filename');
    const pid = int('pid');
    const oldPid = int('old_pid');
    const b = bad(filename, pid, oldPid);
    if (b !== undefined) return `${f.name}: undecodable record (${b === '\0bad' ? 'filename out of the record' : b})`;
    return { kind: 'exec', t, filename, pid: pid as number, oldPid: oldPid as number, comm: '' };
  }
  if (f.name === 'sched_process_fork') {
    const parentComm = str(f.fields.has('parent_comm') ? 'parent_comm' : 'comm');
    const childComm = str('child_comm');
    const parent = int('parent_pid');
    const child = int('child_pid');
    const b = bad(parentComm, childComm, parent, child);
    if (b !== undefined) return `${f.name}: undecodable record (${b === '\0bad' ? 'comm out of the record' : b})`;
    return { kind: 'fork', t, parent: parent as number, child: child as number, parentComm, childComm };
  }
  if (f.name === 'sys_exit_execve' || f.name === 'sys_exit_execveat') {
    const d = f.fields.get('ret');
    const pid = data.length >= 8 ? data.readInt32LE(4) : undefined;
    if (!d || d.size !== 8 || d.offset + 8 > data.length || pid === undefined) return `${f.name}: field ret missing or out of the record`;
    return { kind: 'exec-return', t, pid, ret: Number(data.readBigInt64LE(d.offset)) };
  }
  if (f.name === 'cgroup_attach_task') {
    const path = str('dst_path');
    const pid = int('pid');
    const b = bad(path, pid);
    if (b !== undefined) return `${f.name}: undecodable record (${b === '\0bad' ? 'dst_path out of the record' : b})`;
    return { kind: 'cgroup-attach', t, pid: pid as number, path };
  }
  if (f.name === 'sched_process_exit') {
    const comm = str('comm');
    const pid = int('pid');
    const b = bad(comm, pid);
    if (b !== undefined) return `${f.name}: undecodable record (${b === '\0bad' ? 'comm out of the record' : b})`;
    const gd = f.fields.get('group_dead');
    const groupDead = gd && gd.offset < data.length ? data[gd.offset] !== 0 : undefined;
    return { kind: 'exit', t, comm, pid: pid as number, ...(groupDead !== undefined ? { groupDead } : {}) };
  }
  return undefined;
}
