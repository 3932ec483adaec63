/**
 * Seccomp audit records from the kernel log: the ground truth for which syscalls a
 * process made that its filter did not allow.
 *
 * Why /dev/kmsg and not `dmesg -w`: each read of /dev/kmsg returns exactly one record
 * with a sequence number (so a gap means records were overwritten before we read them,
 * and we can say so), the message text is not reformatted, and opening it non-blocking
 * lets us drain it from a timer without parking a libuv thread on a blocking read.
 * Draining the backlog right after opening gives "from now on" without any clock
 * matching between the kernel's timestamps and ours.
 *
 * The kernel prints seccomp records (audit type 1326, `SECCOMP`) through printk only
 * when no audit daemon is listening; printk is rate limited by
 * `kernel.printk_ratelimit` (seconds), which drops records silently ("printk limit
 * exceeded" goes to the audit lost counter), so followers set it to 0 while they run.
 * SCMP_ACT_LOG is logged only if `kernel.seccomp.actions_logged` contains `log`.
 */
import * as fs from 'node:fs';
import { ConfineError } from '../../pipeline/errors';
import { syscallName } from '../../analysis/syscalls/table';

/** Seccomp return action in the `code=` field (SECCOMP_RET_ACTION_FULL of the filter's verdict). */
export type SeccompLoggedAction = 'kill_process' | 'kill_thread' | 'trap' | 'errno' | 'user_notif' | 'trace' | 'log' | 'allow' | 'unknown';

export interface SeccompEvent {
  /** Host tgid of the process (audit logs the thread group id). */
  pid: number;
  comm: string;
  exe: string;
  syscall: number;
  /** Name for x86-64 records; `nr:N` when the number is not in the table or the arch is not x86-64. */
  name: string;
  /** Audit arch, e.g. `c000003e` for x86-64, `40000003` for i386. */
  arch: string;
  /** True for x32 or 32-bit records (`compat=1`). */
  compat: boolean;
  code: number;
  action: SeccompLoggedAction;
  /** From `audit(SECONDS.MILLIS:SERIAL)`: wall clock seconds, and the audit serial. */
  auditTime?: number;
  auditSerial?: number;
  /** /dev/kmsg record sequence number and timestamp (µs since boot), when read from there. */
  seq?: number;
  tsUsec?: number;
}

export const AUDIT_ARCH_X86_64 = 'c000003e';
export const SECCOMP_RET_LOG = 0x7ffc0000;

const ACTIONS: Array<[number, SeccompLoggedAction]> = [
  [0x80000000, 'kill_process'],
  [0x00000000, 'kill_thread'],
  [0x00030000, 'trap'],
  [0x00050000, 'errno'],
  [0x7fc00000, 'user_notif'],
  [0x7ff00000, 'trace'],
  [0x7ffc0000, 'log'],
  [0x7fff0000, 'allow'],
];

export function seccompAction(code: number): SeccompLoggedAction {
  const action = (code & 0xffff0000) >>> 0;
  return ACTIONS.find(([v]) => v === action)?.[1] ?? 'unknown';
}

export interface KmsgRecord {
  priority: number;
  seq: number;
  tsUsec: number;
  message: string;
}

/** One /dev/kmsg record: `PRI,SEQ,TS_USEC,FLAGS[,...];MESSAGE\n` then optional ` KEY=VALUE` lines. */
export function parseKmsgRecord(raw: string): KmsgRecord | undefined {
  const semi = raw.indexOf(';');
  if (semi < 0) return undefined;
  const head = raw.slice(0, semi).split(',');
  if (head.length < 3) return undefined;
  const [pri, seq, ts] = head.map((x) => Number(x));
  if (![pri, seq, ts].every(Number.isInteger)) return undefined;
  const nl = raw.indexOf('\n', semi);
  const message = raw.slice(semi + 1, nl < 0 ? raw.length : nl);
  return { priority: pri & 7, seq, tsUsec: ts, message };
}

/** A quoted (`comm="x"`) or hex-encoded (`comm=6120...` when the value has spaces or quotes) audit field. */
function auditString(text: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${key}=(?:"([^"]*)"|([0-9A-Fa-f]+|\\(null\\)))(?=\\s|$)`).exec(text);
  if (!m) return undefined;
  if (m[1] !== undefined) return m[1];
  if (m[2] === '(null)') return '';
  const hex = m[2];
  return hex.length % 2 === 0 ? Buffer.from(hex, 'hex').toString('utf8') : hex;
}

function auditNumber(text: string, key: string, radix = 10): number | undefined {
  const m = new RegExp(`(?:^|\\s)${key}=(${radix === 16 ? '0x[0-9a-fA-F]+' : '-?\\d+'})(?=\\s|$)`).exec(text);
  if (!m) return undefined;
  return radix === 16 ? parseInt(m[1].slice(2), 16) : parseInt(m[1], 10);
}

/**
 * Parses a seccomp audit record from any of the forms it reaches us in: a raw /dev/kmsg
 * record, a `dmesg` line (`[ 8678.52] audit: ...`), or the bare message. Anything else
 * (other audit types, other kernel messages) gives undefined.
 */
export function parseSeccompRecord(line: string): SeccompEvent | undefined {
  let text = line;
  let seq: number | undefined;
  let tsUsec: number | undefined;
  const k = /^\d+,\d+,\d+,/.test(line) ? parseKmsgRecord(line) : undefined;
  if (k) {
    text = k.message;
    seq = k.seq;
    tsUsec = k.tsUsec;
  }
  const at = text.indexOf('type=1326 ');
  if (at < 0) return undefined;
  const body = text.slice(at);
  const pid = auditNumber(body, 'pid');
  const syscall = auditNumber(body, 'syscall');
  const code = auditNumber(body, 'code', 16);
  const archM = /\sarch=([0-9a-fA-F]+)(?=\s|$)/.exec(body);
  if (pid === undefined || syscall === undefined || code === undefined || !archM) return undefined;
  const arch = archM[1].toLowerCase();
  const compat = auditNumber(body, 'compat') === 1;
  const stamp = /audit\((\d+)\.(\d+):(\d+)\)/.exec(body);
  const name = arch === AUDIT_ARCH_X86_64 && !compat ? (syscallName(syscall) ?? `nr:${syscall}`) : `nr:${syscall}`;
  const ev: SeccompEvent = {
    pid,
    comm: auditString(body, 'comm') ?? '',
    exe: auditString(body, 'exe') ?? '',
    syscall,
    name,
    arch,
    compat,
    code,
    action: seccompAction(code),
  };
  if (stamp) {
    ev.auditTime = Number(`${stamp[1]}.${stamp[2]}`);
    ev.auditSerial = Number(stamp[3]);
  }
  if (seq !== undefined) ev.seq = seq;
  if (tsUsec !== undefined) ev.tsUsec = tsUsec;
  return ev;
}

export interface EventFilter {
  pids?: ReadonlySet<number>;
  /** Wall-clock window on the audit timestamp (seconds since the epoch, inclusive). */
  fromSec?: number;
  toSec?: number;
  actions?: ReadonlySet<SeccompLoggedAction>;
}

export function filterEvents(events: readonly SeccompEvent[], f: EventFilter): SeccompEvent[] {
  return events.filter(
    (e) =>
      (!f.pids || f.pids.has(e.pid)) &&
      (f.fromSec === undefined || (e.auditTime !== undefined && e.auditTime >= f.fromSec)) &&
      (f.toSec === undefined || (e.auditTime !== undefined && e.auditTime <= f.toSec)) &&
      (!f.actions || f.actions.has(e.action)),
  );
}

// ---- the host side ----------------------------------------------------------------

const RATELIMIT = '/proc/sys/kernel/printk_ratelimit';
const ACTIONS_LOGGED = '/proc/sys/kernel/seccomp/actions_logged';

/**
 * Whether this kernel will print SCMP_ACT_LOG verdicts, and why not if it won't.
 * An audit daemon takes the records away from the kernel log, so that is checked too.
 */
export function checkSeccompLogging(): { ok: boolean; actionsLogged: string[]; reasons: string[] } {
  const reasons: string[] = [];
  let actionsLogged: string[] = [];
  try {
    actionsLogged = fs.readFileSync(ACTIONS_LOGGED, 'utf8').trim().split(/\s+/);
    if (!actionsLogged.includes('log')) reasons.push(`${ACTIONS_LOGGED} does not contain "log" (${actionsLogged.join(' ')})`);
  } catch (e) {
    reasons.push(`cannot read ${ACTIONS_LOGGED}: ${(e as Error).message}`);
  }
  try {
    fs.accessSync('/dev/kmsg', fs.constants.R_OK);
  } catch (e) {
    reasons.push(`cannot read /dev/kmsg: ${(e as Error).message}`);
  }
  if (auditdRunning()) reasons.push('an audit daemon is running: seccomp records go to its log, not the kernel log');
  return { ok: reasons.length === 0, actionsLogged, reasons };
}

function auditdRunning(): boolean {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'auditd') return true;
    } catch {
      /* gone */
    }
  }
  return false;
}

/**
 * printk_ratelimit is host-wide; followers in this process share one override, and the
 * first value seen is restored when the last follower stops. (Other processes doing the
 * same at the same time can still restore it under us; that only re-enables dropping.)
 */
let ratelimitUsers = 0;
let savedRatelimit: string | undefined;

function holdRatelimit(): void {
  if (ratelimitUsers++ > 0) return;
  try {
    savedRatelimit = fs.readFileSync(RATELIMIT, 'utf8').trim();
    fs.writeFileSync(RATELIMIT, '0');
  } catch (e) {
    ratelimitUsers--;
    throw new ConfineError('trace-failed', `cannot set ${RATELIMIT} to 0: ${(e as Error).message}`);
  }
}

function releaseRatelimit(): void {
  if (--ratelimitUsers > 0) return;
  if (savedRatelimit !== undefined) {
    try {
      fs.writeFileSync(RATELIMIT, savedRatelimit);
    } catch {
      /* best effort; nothing else to do */
    }
    savedRatelimit = undefined;
  }
}

export interface FollowOptions {
  /** Drain interval. The ring buffer is large, but a noisy LOG run can fill it; 20 ms keeps up here. */
  pollMs?: number;
  /** Called for every seccomp record as it is read (e.g. to look up the pid's cgroup while it still lives). */
  onEvent?: (e: SeccompEvent) => void;
  /** Path of the kernel log device; tests can point it at a FIFO or file. */
  device?: string;
}

export interface KernelLogFollower {
  /** Seccomp records read so far. */
  readonly events: readonly SeccompEvent[];
  /** Records overwritten before we read them (sequence gaps, EPIPE), i.e. possibly missed events. */
  readonly lost: number;
  /** Reads whatever is pending now (the timer does this too; call before deciding a run is over). */
  drain(): void;
  /** Drains once more, closes the device and restores printk_ratelimit. Idempotent. */
  stop(): { events: SeccompEvent[]; lost: number };
}

/**
 * Starts following the kernel log from now on. Throws ConfineError('trace-failed')
 * when the log cannot be opened or the rate limit cannot be lifted.
 */
export function followKernelLog(opts: FollowOptions = {}): KernelLogFollower {
  const device = opts.device ?? '/dev/kmsg';
  let fd: number;
  try {
    fd = fs.openSync(device, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new ConfineError('trace-failed', `cannot open ${device}: ${(e as Error).message}`);
  }
  const isKmsg = device === '/dev/kmsg';
  try {
    holdRatelimit();
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  const buf = Buffer.alloc(16 * 1024);
  const events: SeccompEvent[] = [];
  let lost = 0;
  let lastSeq: number | undefined;
  let stopped = false;
  let partial = '';

  const readAll = (keep: boolean): void => {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return;
        if (code === 'EPIPE') {
          // The record we were about to read was overwritten; the next read resumes at the oldest one left.
          if (keep) lost++;
          continue;
        }
        throw e;
      }
      if (n === 0) return;
      const chunk = buf.toString('utf8', 0, n);
      if (isKmsg) {
        const rec = parseKmsgRecord(chunk);
        if (rec) {
          if (keep && lastSeq !== undefined && rec.seq > lastSeq + 1) lost += rec.seq - lastSeq - 1;
          lastSeq = rec.seq;
        }
        if (!keep) continue;
        const ev = parseSeccompRecord(chunk);
        if (ev) accept(ev);
      } else {
        // A plain file or FIFO of lines (dmesg output), for tests.
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        if (!keep) continue;
        for (const l of lines) {
          const ev = parseSeccompRecord(l);
          if (ev) accept(ev);
        }
      }
    }
  };
  const accept = (ev: SeccompEvent): void => {
    events.push(ev);
    opts.onEvent?.(ev);
  };

  if (isKmsg) readAll(false); // skip the backlog: only records from now on
  const timer = setInterval(() => {
    try {
      readAll(true);
    } catch {
      /* reported at stop() through the final drain */
    }
  }, opts.pollMs ?? 20);
  timer.unref?.();

  return {
    get events() {
      return events;
    },
    get lost() {
      return lost;
    },
    drain() {
      if (!stopped) readAll(true);
    },
    stop() {
      if (!stopped) {
        stopped = true;
        clearInterval(timer);
        try {
          readAll(true);
        } finally {
          fs.closeSync(fd);
          releaseRatelimit();
        }
      }
      return { events: [...events], lost };
    },
  };
}
