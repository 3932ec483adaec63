import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkSeccompLogging, filterEvents, followKernelLog, parseKmsgRecord, parseSeccompRecord, seccompAction } from './kernel-log';

// Captured on this host (kernel 6.18, runc 1.1.5) from a container run under
// {defaultAction: SCMP_ACT_LOG, syscalls: []}.
const KMSG_INIT =
  '5,1108,8785795795,-;audit: type=1326 audit(1795916162.917:315): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=24487 comm="runc:[2:INIT]" exe="/" sig=0 arch=c000003e syscall=59 compat=0 ip=0x40828e code=0x7ffc0000\n';
// A binary called "ex it": audit hex-encodes values with spaces.
const KMSG_HEX =
  '5,1109,8785796459,-;audit: type=1326 audit(1795916162.917:316): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=24487 comm=6578206974 exe=2F6578206974 sig=0 arch=c000003e syscall=60 compat=0 ip=0x401009 code=0x7ffc0000\n';
const DMESG_LINE =
  '[ 8678.539201] audit: type=1326 audit(1795916055.661:158): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=24237 comm="exit" exe="/exit" sig=0 arch=c000003e syscall=60 compat=0 ip=0x401009 code=0x7ffc0000';
const OTHER = '6,1100,8785000000,-;docker0: port 1(vethe5e0ba8) entered disabled state\n';

describe('parseSeccompRecord', () => {
  it('reads a /dev/kmsg record of runc init', () => {
    expect(parseSeccompRecord(KMSG_INIT)).toEqual({
      pid: 24487,
      comm: 'runc:[2:INIT]',
      exe: '/',
      syscall: 59,
      name: 'execve',
      arch: 'c000003e',
      compat: false,
      code: 0x7ffc0000,
      action: 'log',
      auditTime: 1795916162.917,
      auditSerial: 315,
      seq: 1108,
      tsUsec: 8785795795,
    });
  });

  it('decodes hex-encoded comm and exe', () => {
    const e = parseSeccompRecord(KMSG_HEX)!;
    expect([e.comm, e.exe, e.name]).toEqual(['ex it', '/ex it', 'exit']);
  });

  it('reads a dmesg line the same way', () => {
    const e = parseSeccompRecord(DMESG_LINE)!;
    expect([e.pid, e.comm, e.exe, e.syscall, e.name, e.action, e.seq]).toEqual([24237, 'exit', '/exit', 60, 'exit', 'log', undefined]);
  });

  it('ignores other messages and truncated records', () => {
    expect(parseSeccompRecord(OTHER)).toBeUndefined();
    expect(parseSeccompRecord(KMSG_INIT.slice(0, KMSG_INIT.indexOf(' syscall=')))).toBeUndefined();
    expect(parseSeccompRecord('')).toBeUndefined();
  });

  it('does not name 32-bit records with x86-64 names', () => {
    const e = parseSeccompRecord(DMESG_LINE.replace('arch=c000003e', 'arch=40000003').replace('compat=0', 'compat=1'))!;
    expect([e.name, e.compat]).toEqual(['nr:60', true]);
  });
});

describe('seccompAction', () => {
  it('maps the action bits of code=, ignoring the data bits', () => {
    expect(seccompAction(0x7ffc0000)).toBe('log');
    expect(seccompAction(0x00050001)).toBe('errno');
    expect(seccompAction(0x80000000)).toBe('kill_process');
    expect(seccompAction(0x00000000)).toBe('kill_thread');
    expect(seccompAction(0x12340000)).toBe('unknown');
  });
});

describe('parseKmsgRecord', () => {
  it('splits header and message, dropping continuation lines', () => {
    expect(parseKmsgRecord('6,7,100,-;hello\n SUBSYSTEM=net\n')).toEqual({ priority: 6, seq: 7, tsUsec: 100, message: 'hello' });
    expect(parseKmsgRecord('no header')).toBeUndefined();
  });
});

describe('filterEvents', () => {
  const a = parseSeccompRecord(KMSG_INIT)!;
  const b = parseSeccompRecord(DMESG_LINE)!;
  it('by pid, by time window, by action', () => {
    expect(filterEvents([a, b], { pids: new Set([24237]) })).toEqual([b]);
    expect(filterEvents([a, b], { fromSec: 1795916100 })).toEqual([a]);
    expect(filterEvents([a, b], { toSec: 1795916100 })).toEqual([b]);
    expect(filterEvents([a, b], { actions: new Set(['errno' as const]) })).toEqual([]);
  });
});

describe('followKernelLog', () => {
  it('reads lines from a file device incrementally', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-klog-'));
    const file = path.join(dir, 'log');
    fs.writeFileSync(file, DMESG_LINE + '\n' + 'noise\n');
    const seen: number[] = [];
    const f = followKernelLog({ device: file, onEvent: (e) => seen.push(e.syscall) });
    try {
      f.drain();
      fs.appendFileSync(file, DMESG_LINE.replace('syscall=60', 'syscall=39') + '\n');
      const { events, lost } = f.stop();
      expect(events.map((e) => e.name)).toEqual(['exit', 'getpid']);
      expect(seen).toEqual([60, 39]);
      expect(lost).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('follows /dev/kmsg from now on, and restores printk_ratelimit', () => {
    expect(checkSeccompLogging().ok).toBe(true);
    const before = fs.readFileSync('/proc/sys/kernel/printk_ratelimit', 'utf8');
    // Root can inject a record; a pid no process can have keeps it from being mistaken for a real one.
    const marker = `confine-selftest-${process.pid}`;
    const inject = (nr: number) =>
      fs.writeFileSync(
        '/dev/kmsg',
        `audit: type=1326 audit(1.0:1): pid=2147480000 comm="${marker}" exe="/x" sig=0 arch=c000003e syscall=${nr} compat=0 ip=0x0 code=0x7ffc0000\n`,
      );
    inject(1); // before following: must not be seen
    const f = followKernelLog();
    try {
      expect(fs.readFileSync('/proc/sys/kernel/printk_ratelimit', 'utf8').trim()).toBe('0');
      inject(2);
      inject(3);
    } finally {
      const { events } = f.stop();
      expect(events.filter((e) => e.comm === marker).map((e) => e.syscall)).toEqual([2, 3]);
    }
    expect(fs.readFileSync('/proc/sys/kernel/printk_ratelimit', 'utf8')).toBe(before);
  });
});
