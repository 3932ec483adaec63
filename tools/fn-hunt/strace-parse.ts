// Reads one `strace -f -qq -s 256 -o FILE PROGRAM ARGS` output and says which
// syscalls each executed program made. Syscalls are attributed per process image:
// after a successful execve a pid runs a different program, whose syscalls are
// checked against that program's analysis, not the caller's; a new pid runs the
// program its parent ran when it cloned it.
import { syscallName } from '../../analysis/syscalls/table';

export interface ParsedTrace {
  /** One entry per process image (pid × execve), merged by exe path. */
  byExe: Map<string, Set<string>>;
  /** Segments whose program is unknown (a pid whose parent was never seen, execveat). */
  unattributed: Set<string>;
  /** Whether the root execve succeeded (the program ran at all). */
  started: boolean;
}

/** Kernel-entered, never in any program's code: always allowed (docs/fn-hunt.md). */
export const ALWAYS_ALLOWED = new Set(['restart_syscall']);

interface Segment {
  exe: string | undefined;
  syscalls: Set<string>;
  parent?: Segment;
}

const LINE = /^(\d+)\s+(.*)$/;
const RESUMED = /^<\.\.\. ([\w]+) resumed>/;
const CALL = /^([\w]+)\(/;
const CLONE_LIKE = new Set(['clone', 'clone3', 'fork', 'vfork']);

/** strace names a syscall it has no name for `syscall_0x1b4`. */
export function normaliseName(name: string): string {
  const m = /^syscall_0x([0-9a-f]+)$/.exec(name);
  if (!m) return name;
  const nr = parseInt(m[1], 16);
  return syscallName(nr) ?? name;
}

function unescapeC(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' } as Record<string, string>)[e] ?? e;
  });
}

function returnValue(rest: string): string | undefined {
  const m = /\)\s+=\s+(-?\d+|\?)(?:\s|$)/.exec(rest);
  return m ? m[1] : undefined;
}

export function parseStrace(text: string, rootProgram: string): ParsedTrace {
  const current = new Map<number, Segment>();
  const all: Segment[] = [];
  const pending = new Map<number, { name: string; path?: string }>();
  const parentAtClone = new Map<number, Segment>();
  const firstSegOfPid = new Map<number, Segment>();
  let rootPid: number | undefined;
  let started = false;

  const segOf = (pid: number): Segment => {
    let s = current.get(pid);
    if (!s) {
      s = { exe: undefined, syscalls: new Set() };
      current.set(pid, s);
      all.push(s);
      if (!firstSegOfPid.has(pid)) firstSegOfPid.set(pid, s);
    }
    return s;
  };

  for (const line of text.split('\n')) {
    const lm = LINE.exec(line);
    if (!lm) continue;
    const pid = Number(lm[1]);
    const rest = lm[2];
    if (rest.startsWith('---') || rest.startsWith('+++')) continue;
    let name: string;
    let path: string | undefined;
    const resumed = RESUMED.exec(rest);
    if (resumed) {
      name = resumed[1];
      path = pending.get(pid)?.path;
      pending.delete(pid);
    } else {
      const cm = CALL.exec(rest);
      if (!cm) continue;
      name = cm[1];
      if (name === 'execve') {
        const pm = /^execve\("((?:[^"\\]|\\.)*)"/.exec(rest);
        path = pm ? unescapeC(pm[1]) : undefined;
      }
      if (rest.endsWith('<unfinished ...>')) {
        pending.set(pid, { name, path });
        if (rootPid === undefined) rootPid = pid;
        continue;
      }
    }
    name = normaliseName(name);
    if (rootPid === undefined) rootPid = pid;
    const ret = returnValue(rest);
    if (pid === rootPid && !started && name === 'execve') {
      // strace's own fork+execve of the program: not the program's syscall.
      if (ret === '0') {
        started = true;
        const s: Segment = { exe: rootProgram, syscalls: new Set() };
        current.set(pid, s);
        all.push(s);
      }
      continue;
    }
    const seg = segOf(pid);
    seg.syscalls.add(name);
    if (name === 'execve' && ret === '0') {
      const s: Segment = { exe: path, syscalls: new Set() };
      current.set(pid, s);
      all.push(s);
    } else if (name === 'execveat' && ret === '0') {
      const s: Segment = { exe: undefined, syscalls: new Set() };
      current.set(pid, s);
      all.push(s);
    } else if (CLONE_LIKE.has(name) && ret && /^\d+$/.test(ret) && ret !== '0') {
      parentAtClone.set(Number(ret), seg);
    }
  }
  // A child's first line may come before or after its parent's clone returned.
  for (const [childPid, parent] of parentAtClone) {
    const first = firstSegOfPid.get(childPid);
    if (first && first.exe === undefined && !first.parent) first.parent = parent;
  }

  const byExe = new Map<string, Set<string>>();
  const unattributed = new Set<string>();
  for (const s of all) {
    const exe = resolveExe(s);
    const target = exe === undefined ? unattributed : getOrMake(byExe, exe);
    for (const n of s.syscalls) target.add(n);
  }
  return { byExe, unattributed, started };
}

function resolveExe(s: Segment): string | undefined {
  let cur: Segment | undefined = s;
  for (let hops = 0; cur && hops < 10000; hops++) {
    if (cur.exe !== undefined) return cur.exe;
    cur = cur.parent;
  }
  return undefined;
}

function getOrMake(m: Map<string, Set<string>>, k: string): Set<string> {
  let v = m.get(k);
  if (!v) m.set(k, (v = new Set()));
  return v;
}
