/**
 * Symbolic names of tracked syscall argument values, for reports and `confine explain`
 * (Linux's include/linux/socket.h address families, include/uapi/linux/sched.h
 * namespace flags, include/uapi/asm-generic/ioctls.h tty requests). Unknown values
 * print as numbers.
 */
const ADDRESS_FAMILIES: Record<number, string> = {
  0: 'AF_UNSPEC', 1: 'AF_UNIX', 2: 'AF_INET', 3: 'AF_AX25', 4: 'AF_IPX', 5: 'AF_APPLETALK', 6: 'AF_NETROM',
  7: 'AF_BRIDGE', 8: 'AF_ATMPVC', 9: 'AF_X25', 10: 'AF_INET6', 11: 'AF_ROSE', 12: 'AF_DECnet', 13: 'AF_NETBEUI',
  14: 'AF_SECURITY', 15: 'AF_KEY', 16: 'AF_NETLINK', 17: 'AF_PACKET', 18: 'AF_ASH', 19: 'AF_ECONET', 20: 'AF_ATMSVC',
  21: 'AF_RDS', 22: 'AF_SNA', 23: 'AF_IRDA', 24: 'AF_PPPOX', 25: 'AF_WANPIPE', 26: 'AF_LLC', 27: 'AF_IB', 28: 'AF_MPLS',
  29: 'AF_CAN', 30: 'AF_TIPC', 31: 'AF_BLUETOOTH', 32: 'AF_IUCV', 33: 'AF_RXRPC', 34: 'AF_ISDN', 35: 'AF_PHONET',
  36: 'AF_IEEE802154', 37: 'AF_CAIF', 38: 'AF_ALG', 39: 'AF_NFC', 40: 'AF_VSOCK', 41: 'AF_KCM', 42: 'AF_QIPCRTR',
  43: 'AF_SMC', 44: 'AF_XDP', 45: 'AF_MCTP',
};

/** Namespace flags of clone/unshare (one bit each). */
const CLONE_FLAGS: Record<number, string> = {
  0x00000080: 'CLONE_NEWTIME', 0x00020000: 'CLONE_NEWNS', 0x02000000: 'CLONE_NEWCGROUP', 0x04000000: 'CLONE_NEWUTS',
  0x08000000: 'CLONE_NEWIPC', 0x10000000: 'CLONE_NEWUSER', 0x20000000: 'CLONE_NEWPID', 0x40000000: 'CLONE_NEWNET',
};

/** The tty requests reference data names (x86-64 values). */
const IOCTL_REQUESTS: Record<number, string> = { 0x5423: 'TIOCSETD', 0x5424: 'TIOCGETD' };

function tableFor(syscall: string, arg: number): Record<number, string> | undefined {
  if ((syscall === 'socket' || syscall === 'socketpair') && arg === 0) return ADDRESS_FAMILIES;
  if ((syscall === 'clone' || syscall === 'unshare') && arg === 0) return CLONE_FLAGS;
  if (syscall === 'ioctl' && arg === 1) return IOCTL_REQUESTS;
  return undefined;
}

/** The name of value `v` of argument `arg` of `syscall`, when there is one. */
export function argValueName(syscall: string, arg: number, v: number): string | undefined {
  if ((syscall === 'socket' || syscall === 'socketpair') && arg === 0) return ADDRESS_FAMILIES[v];
  return undefined;
}

/** The value a symbolic name stands for as argument `arg` of `syscall` (PF_ spellings of families too). */
export function argValueByName(syscall: string, arg: number, name: string): number | undefined {
  const t = tableFor(syscall, arg);
  if (!t) return undefined;
  const want = t === ADDRESS_FAMILIES ? name.replace(/^PF_/, 'AF_') : name;
  for (const [v, n] of Object.entries(t)) if (n === want) return Number(v);
  return undefined;
}

/** The reference-data name of a value (every table above, flags included), for reports of CVE rows. */
export function argValueSymbol(syscall: string, arg: number, v: number): string | undefined {
  return tableFor(syscall, arg)?.[v];
}
