/**
 * The arguments a process passed to tracked syscalls, read from tracefs's syscall entry
 * events (`syscalls/sys_enter_prctl` …). The kernel's seccomp log names a syscall but
 * never its arguments, so runtime calibration reads these beside it: runc's init calls
 * prctl (capability bounding set, keep-caps) after the container's filter is in place,
 * and an argument rule on prctl must allow exactly those options too.
 *
 * The text form of an entry event is
 *   `runc:[2:INIT]-19597 [001] ..... 8993.625612: sys_prctl(option: 0x18, arg2: 2, …)`
 * — the arguments in the syscall's order, hex with `0x` or decimal.
 */

export interface SyscallEntry {
  /** The thread that made the call. */
  pid: number;
  /** Its process (thread group), when the instance records it (`options/record-tgid`). */
  tgid?: number;
  /** The syscall's name, without `sys_`. */
  name: string;
  /** Arguments in order, as unsigned 64-bit values. */
  args: bigint[];
}

// comm may hold anything, spaces and dashes included: the pid is the digits after the
// last dash before the CPU field.
const LINE = /^\s*(.*)-(\d+)\s+(?:\(\s*([\d-]+)\)\s+)?\[\d+\]\s+\S+\s+[\d.]+:\s+sys_(\w+)\((.*)\)\s*$/;
/** What the text form prints where a CPU's ring buffer overwrote events before they were read. */
const LOST = /\[LOST \d+ EVENTS\]/;

/** One line of an instance's `trace`; undefined for headers, comments and other events. */
export function parseSyscallEntry(line: string): SyscallEntry | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const args: bigint[] = [];
  const body = m[5].trim();
  if (body) {
    for (const part of body.split(',')) {
      const colon = part.indexOf(':');
      if (colon < 0) return undefined;
      const text = part.slice(colon + 1).trim();
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) return undefined;
      args.push(BigInt.asUintN(64, BigInt(text)));
    }
  }
  const tgid = m[3] !== undefined && /^\d+$/.test(m[3]) ? Number(m[3]) : undefined;
  return { pid: Number(m[2]), ...(tgid !== undefined ? { tgid } : {}), name: m[4], args };
}

export interface TrackedArgument {
  name: string;
  arg: number;
}

/**
 * The values (low 32 bits: the tracked arguments are C ints, and the profile's rules
 * compare those bits) that process `pid` (any of its threads, where the trace records
 * thread groups) passed for each tracked syscall, from a `trace` text. A syscall the
 * process never entered has no entry. `complete` is false when the buffer lost events:
 * the values may then be some of them only.
 */
export function argumentValues(trace: string, pid: number, tracked: readonly TrackedArgument[]): { values: Map<string, number[]>; complete: boolean } {
  const byName = new Map(tracked.map((t) => [t.name, t.arg]));
  const seen = new Map<string, Set<number>>();
  let complete = true;
  for (const line of trace.split('\n')) {
    if (LOST.test(line)) complete = false;
    const e = parseSyscallEntry(line);
    if (!e || (e.tgid ?? e.pid) !== pid) continue;
    const arg = byName.get(e.name);
    if (arg === undefined || arg >= e.args.length) continue;
    let s = seen.get(e.name);
    if (!s) seen.set(e.name, (s = new Set()));
    s.add(Number(BigInt.asUintN(32, e.args[arg])));
  }
  return { values: new Map([...seen].map(([n, s]) => [n, [...s].sort((a, b) => a - b)])), complete };
}
