/**
 * Reads the kernel's `asm/unistd_64.h` (the uapi header shipped by linux-libc-dev):
 * one `#define __NR_name number` per syscall. Anything else in the file is include
 * guards and blank lines; a `__NR_` define we cannot read is reported, not dropped,
 * so a header format change shows up as a failing generator rather than a short table.
 */
export interface UnistdEntry {
  name: string;
  nr: number;
}

export interface UnistdParse {
  entries: UnistdEntry[];
  errors: { line: number; text: string }[];
}

const DEFINE = /^#define\s+__NR_([A-Za-z0-9_]+)\s+(\d+)\s*$/;

export function parseUnistdHeader(text: string): UnistdParse {
  const entries: UnistdEntry[] = [];
  const errors: UnistdParse['errors'] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line.includes('__NR_')) return;
    const m = DEFINE.exec(line);
    if (m) entries.push({ name: m[1], nr: Number(m[2]) });
    else errors.push({ line: i + 1, text: raw });
  });
  entries.sort((a, b) => a.nr - b.nr);
  return { entries, errors };
}

/** `LINUX_VERSION_CODE` from `linux/version.h`, as "major.minor.sub". */
export function parseLinuxVersionCode(text: string): string | undefined {
  const m = /#define\s+LINUX_VERSION_CODE\s+(\d+)/.exec(text);
  if (!m) return undefined;
  const code = Number(m[1]);
  return `${code >> 16}.${(code >> 8) & 0xff}.${code & 0xff}`;
}
