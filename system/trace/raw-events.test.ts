import { parseFormat, parsePage, type EventFormat } from './raw-events';

// Captured on this host (6.18): the formats the parser reads from the instance.
const EXEC_FORMAT = `name: sched_process_exec
ID: 365
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;
	field:pid_t pid;	offset:12;	size:4;	signed:1;
	field:pid_t old_pid;	offset:16;	size:4;	signed:1;

print fmt: "filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid`;
const FORK_FORMAT = `name: sched_process_fork
ID: 366
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:__data_loc char[] parent_comm;	offset:8;	size:4;	signed:0;
	field:pid_t parent_pid;	offset:12;	size:4;	signed:1;
	field:__data_loc char[] child_comm;	offset:16;	size:4;	signed:0;
	field:pid_t child_pid;	offset:20;	size:4;	signed:1;
`;
const EXIT_FORMAT = `name: sched_process_exit
ID: 369
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:char comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t pid;	offset:24;	size:4;	signed:1;
	field:int prio;	offset:28;	size:4;	signed:1;
	field:bool group_dead;	offset:32;	size:1;	signed:0;
`;

const EXEC_RET_FORMAT = `name: sys_exit_execve
ID: 861
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:long ret;	offset:16;	size:8;	signed:1;
`;
const CGROUP_ATTACH_FORMAT = `name: cgroup_attach_task
ID: 538
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int dst_root;	offset:8;	size:4;	signed:1;
	field:int dst_level;	offset:12;	size:4;	signed:1;
	field:u64 dst_id;	offset:16;	size:8;	signed:0;
	field:int pid;	offset:24;	size:4;	signed:1;
	field:__data_loc char[] dst_path;	offset:28;	size:4;	signed:0;
	field:__data_loc char[] comm;	offset:32;	size:4;	signed:0;

print fmt: "dst_root=%d dst_id=%llu dst_level=%d dst_path=%s pid=%d comm=%s", REC->dst_root, REC->dst_id, REC->dst_level, __get_str(dst_path), REC->pid, __get_str(comm)
`;
const formats = new Map<number, EventFormat>([EXEC_FORMAT, FORK_FORMAT, EXIT_FORMAT, EXEC_RET_FORMAT, CGROUP_ATTACH_FORMAT].map((t) => parseFormat(t)).map((f) => [f.id, f]));

function execRecord(filename: Buffer, pid: number): Buffer {
  const body = Buffer.alloc(20 + filename.length + 1);
  body.writeUInt16LE(365, 0);
  body.writeInt32LE(pid, 4);
  body.writeUInt32LE(((filename.length + 1) << 16) | 20, 8);
  body.writeInt32LE(pid, 12);
  body.writeInt32LE(pid, 16);
  filename.copy(body, 20);
  return body;
}

function exitRecord(comm: string, pid: number): Buffer {
  const body = Buffer.alloc(36);
  body.writeUInt16LE(369, 0);
  body.write(comm, 8, 'latin1');
  body.writeInt32LE(pid, 24);
  body[32] = 1;
  return body;
}

/** A page as trace_pipe_raw returns it: header, then records with 27-bit time deltas. */
function page(records: { data: Buffer; delta: number }[], opts: { missed?: number; pageTs?: bigint } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const padded = Buffer.alloc((r.data.length + 3) & ~3);
    r.data.copy(padded);
    if (padded.length <= 28 * 4) {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(((r.delta << 5) | (padded.length / 4)) >>> 0);
      parts.push(h, padded);
    } else {
      const h = Buffer.alloc(8);
      h.writeUInt32LE((r.delta << 5) >>> 0, 0);
      h.writeUInt32LE(r.data.length + 4, 4);
      parts.push(h, padded);
    }
  }
  const data = Buffer.concat(parts);
  const head = Buffer.alloc(16);
  head.writeBigUInt64LE(opts.pageTs ?? 1_000_000_000n, 0);
  let commit = BigInt(data.length);
  if (opts.missed) commit |= (1n << 31n) | (1n << 30n);
  head.writeBigUInt64LE(commit, 8);
  const tail = Buffer.alloc(8);
  if (opts.missed) tail.writeBigUInt64LE(BigInt(opts.missed));
  return Buffer.concat([head, data, tail, Buffer.alloc(64)]);
}

describe('binary trace records', () => {
  it('a newline in a file name stays inside the name: no split, no forged event', () => {
    const forged = Buffer.from('/bin/hid\nden\n   x-1 [000] ..... 1.0: sched_process_exec: filename=/evil pid=1 old_pid=1', 'latin1');
    const r = parsePage(page([{ data: execRecord(forged, 4242), delta: 10 }, { data: exitRecord('hid\nden', 4242), delta: 5 }]), formats);
    expect(r.malformed).toBeUndefined();
    expect(r.events).toHaveLength(2);
    expect(r.events[0]).toMatchObject({ kind: 'exec', pid: 4242, oldPid: 4242, filename: forged.toString('latin1') });
    expect(r.events[1]).toMatchObject({ kind: 'exit', pid: 4242, comm: 'hid\nden', groupDead: true });
    // ns page stamp + deltas → ms on CLOCK_MONOTONIC
    expect(r.events[0].t).toBeCloseTo(1000.00001, 6);
    expect(r.events[1].t).toBeCloseTo(1000.000015, 6);
  });

  it('keeps the bytes of a name that is not UTF-8', () => {
    const a = parsePage(page([{ data: execRecord(Buffer.from('/bin/prog\xff', 'latin1'), 7), delta: 1 }]), formats).events[0];
    const b = parsePage(page([{ data: execRecord(Buffer.from('/bin/prog\xef\xbf\xbd', 'latin1'), 7), delta: 1 }]), formats).events[0];
    expect(a.kind === 'exec' && b.kind === 'exec' && a.filename !== b.filename).toBe(true);
  });

  it('decodes long records, counts dropped events', () => {
    const long = Buffer.from('/' + 'd'.repeat(300), 'latin1');
    const r = parsePage(page([{ data: execRecord(long, 9), delta: 1 }], { missed: 17 }), formats);
    expect(r.events[0]).toMatchObject({ kind: 'exec', filename: long.toString('latin1') });
    expect(r.lost).toBe(17);
  });

  it('a record that does not decode makes the page malformed instead of being skipped', () => {
    const unknown = Buffer.alloc(8);
    unknown.writeUInt16LE(999, 0);
    expect(parsePage(page([{ data: unknown, delta: 1 }]), formats).malformed).toMatch(/event id 999/);
    const bad = execRecord(Buffer.from('/x'), 3);
    bad.writeUInt32LE((200 << 16) | 20, 8); // the name claims to run past the record
    expect(parsePage(page([{ data: bad, delta: 1 }]), formats).malformed).toMatch(/filename out of the record/);
    const p = page([{ data: execRecord(Buffer.from('/x'), 3), delta: 1 }]);
    p.writeBigUInt64LE(5000n, 8); // more data claimed than the page holds
    expect(parsePage(p, formats).malformed).toMatch(/claims 5000 bytes/);
  });
});

test('decodes an execve return with its pid and result', () => {
  const body = Buffer.alloc(24);
  body.writeUInt16LE(861, 0);
  body.writeInt32LE(77, 4);
  body.writeInt32LE(59, 8);
  body.writeBigInt64LE(-2n, 16);
  const r = parsePage(page([{ data: body, delta: 3 }]), formats);
  expect(r.events).toEqual([expect.objectContaining({ kind: 'exec-return', pid: 77, ret: -2 })]);
});

describe('cgroup attachments', () => {
  it('decodes cgroup_attach_task: the pid and the cgroup path it was moved into', () => {
    const path = Buffer.from('/docker/' + 'ab'.repeat(32) + '\0');
    const comm = Buffer.from('runc:[0:PARENT]\0');
    const body = Buffer.alloc(36 + path.length + comm.length);
    body.writeUInt16LE(538, 0);
    body.writeInt32LE(77, 4);
    body.writeInt32LE(3, 8);
    body.writeInt32LE(2, 12);
    body.writeInt32LE(4321, 24);
    body.writeUInt32LE((path.length << 16) | 36, 28);
    body.writeUInt32LE((comm.length << 16) | (36 + path.length), 32);
    path.copy(body, 36);
    comm.copy(body, 36 + path.length);
    const r = parsePage(page([{ data: body, delta: 3 }]), formats);
    expect(r.malformed).toBeUndefined();
    expect(r.events).toEqual([{ kind: 'cgroup-attach', t: expect.any(Number), pid: 4321, path: '/docker/' + 'ab'.repeat(32) }]);
  });
});
