/**
 * x86-64 syscall names ↔ numbers, from the checked-in table (see gen-table.ts for
 * where it came from). Names are the kernel's `__NR_` names, which are also the
 * names Docker's seccomp profiles use.
 */
import tableFile from './x86_64.json';

export interface SyscallInfo {
  name: string;
  nr: number;
}

const byName = new Map<string, number>(Object.entries(tableFile.syscalls as Record<string, number>));
const byNumber = new Map<number, string>();
for (const [name, nr] of byName) byNumber.set(nr, name);

export const SYSCALL_TABLE_SOURCE = {
  source: tableFile.source,
  kernelHeaders: tableFile.kernelHeaders,
};

export function syscallName(nr: number): string | undefined {
  return byNumber.get(nr);
}

export function syscallNumber(name: string): number | undefined {
  return byName.get(name);
}

/** Every syscall, ordered by number. */
export function allSyscalls(): SyscallInfo[] {
  return [...byNumber].sort((a, b) => a[0] - b[0]).map(([nr, name]) => ({ name, nr }));
}
