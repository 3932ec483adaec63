/**
 * The smallest x86-64 Linux program: one PT_LOAD segment whose entry point makes a
 * single syscall (exit_group by default) and nothing else. Written byte by byte so the
 * calibration needs no compiler at run time, and so that every syscall the kernel logs
 * for the container before that one is provably the runtime's, not the program's.
 */
import { syscallNumber } from '../../analysis/syscalls/table';

const BASE = 0x400000;
const EHDR = 64;
const PHDR = 56;

export interface ExitElfOptions {
  /** Exit status. Default 0. */
  status?: number;
  /** `exit_group` (default) or `exit`. */
  syscall?: 'exit_group' | 'exit';
}

export function exitElf(opts: ExitElfOptions = {}): Buffer {
  const status = opts.status ?? 0;
  const nr = syscallNumber(opts.syscall ?? 'exit_group')!;
  // mov eax, nr ; mov edi, status ; syscall ; ud2 (never reached)
  const code = Buffer.alloc(14);
  code.writeUInt8(0xb8, 0);
  code.writeUInt32LE(nr, 1);
  code.writeUInt8(0xbf, 5);
  code.writeUInt32LE(status >>> 0, 6);
  code.set([0x0f, 0x05, 0x0f, 0x0b], 10);
  return elfAround(code);
}

/**
 * A program that only waits: `pause()` in a loop, so a container stays up (for
 * `docker exec` into it) making no syscall but pause until it is killed.
 */
export function pauseElf(): Buffer {
  const nr = syscallNumber('pause')!;
  // mov eax, nr ; syscall ; jmp back to the mov (rel8 -9)
  const code = Buffer.alloc(9);
  code.writeUInt8(0xb8, 0);
  code.writeUInt32LE(nr, 1);
  code.set([0x0f, 0x05, 0xeb, 0xf7], 5);
  return elfAround(code);
}

/** One PT_LOAD segment holding the headers and `code`, entered at the code's first byte. */
function elfAround(code: Buffer): Buffer {
  const size = EHDR + PHDR + code.length;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // \x7fELF, 64-bit, little endian, version 1, SysV ABI
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(62, 18); // EM_X86_64
  b.writeUInt32LE(1, 20); // EV_CURRENT
  b.writeBigUInt64LE(BigInt(BASE + EHDR + PHDR), 24); // e_entry
  b.writeBigUInt64LE(BigInt(EHDR), 32); // e_phoff
  b.writeBigUInt64LE(0n, 40); // e_shoff: no sections
  b.writeUInt32LE(0, 48); // e_flags
  b.writeUInt16LE(EHDR, 52); // e_ehsize
  b.writeUInt16LE(PHDR, 54); // e_phentsize
  b.writeUInt16LE(1, 56); // e_phnum
  b.writeUInt16LE(64, 58); // e_shentsize
  b.writeUInt16LE(0, 60); // e_shnum
  b.writeUInt16LE(0, 62); // e_shstrndx

  const p = EHDR;
  b.writeUInt32LE(1, p); // PT_LOAD
  b.writeUInt32LE(5, p + 4); // PF_R | PF_X
  b.writeBigUInt64LE(0n, p + 8); // p_offset
  b.writeBigUInt64LE(BigInt(BASE), p + 16); // p_vaddr
  b.writeBigUInt64LE(BigInt(BASE), p + 24); // p_paddr
  b.writeBigUInt64LE(BigInt(size), p + 32); // p_filesz
  b.writeBigUInt64LE(BigInt(size), p + 40); // p_memsz
  b.writeBigUInt64LE(0x1000n, p + 48); // p_align

  code.copy(b, EHDR + PHDR);
  return b;
}
