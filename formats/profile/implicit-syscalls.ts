/**
 * Syscalls no `syscall` instruction names, which the kernel makes a task enter on its
 * own, so static analysis can never find them and every profile must allow them.
 *
 * - restart_syscall: when a signal interrupts nanosleep, clock_nanosleep, poll or
 *   futex with ERESTART_RESTARTBLOCK, the kernel rewrites the return so the task
 *   re-enters through restart_syscall (seen in the kernel log for mariadbd).
 */
export const KERNEL_IMPLICIT_SYSCALLS: readonly string[] = ['restart_syscall'];
