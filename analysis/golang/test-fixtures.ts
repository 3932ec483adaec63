/**
 * Test-only helper: builds small Go programs with Debian's golang-go into a temp dir
 * (binaries are never checked in; no network: GOPROXY=off, local modules only).
 *
 * `rare` calls rare syscalls three ways: the standard `syscall` package, a vendored
 * minimal `golang.org/x/sys/unix`-style module (`example.com/unixlike`: the same
 * amd64 assembly stubs — `JMP syscall·Syscall`, and a `SyscallNoError` that loads the
 * number from the ABI0 stack frame — plus Go wrappers taking the number as an
 * argument), and a package variable holding the number.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNIXLIKE_ASM = `#include "textflag.h"

// Copied in spirit from golang.org/x/sys/unix/asm_linux_amd64.s (BSD-3-Clause).
TEXT ·Syscall(SB),NOSPLIT,$0-56
	JMP	syscall·Syscall(SB)

TEXT ·Syscall6(SB),NOSPLIT,$0-80
	JMP	syscall·Syscall6(SB)

TEXT ·RawSyscall(SB),NOSPLIT,$0-56
	JMP	syscall·RawSyscall(SB)

TEXT ·SyscallNoError(SB),NOSPLIT,$0-48
	CALL	runtime·entersyscall(SB)
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVQ	$0, R9
	MOVQ	trap+0(FP), AX	// syscall entry
	SYSCALL
	MOVQ	AX, r1+32(FP)
	MOVQ	DX, r2+40(FP)
	CALL	runtime·exitsyscall(SB)
	RET
`;

const UNIXLIKE_GO = `package unixlike

import (
	"syscall"
	"unsafe"
)

const (
	SYS_MINCORE   = 27
	SYS_GETITIMER = 36
	SYS_SYSINFO   = 99
	SYS_GETCPU    = 309
	SYS_TIMES     = 100
)

func Syscall(trap, a1, a2, a3 uintptr) (r1, r2 uintptr, err syscall.Errno)
func Syscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)
func RawSyscall(trap, a1, a2, a3 uintptr) (r1, r2 uintptr, err syscall.Errno)
func SyscallNoError(trap, a1, a2, a3 uintptr) (r1, r2 uintptr)

// TimesNr is a package variable holding a number, like internal/syscall/unix.FcntlSyscall.
var TimesNr uintptr = SYS_TIMES

func Mincore(b []byte, vec []byte) error {
	_, _, e := Syscall(SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		return e
	}
	return nil
}

//go:noinline
func call3(nr uintptr, a1, a2 uintptr) uintptr {
	r, _, _ := Syscall6(nr, a1, a2, 0, 0, 0, 0)
	return r
}

func Getitimer(which int, buf *[4]int64) uintptr {
	return call3(SYS_GETITIMER, uintptr(which), uintptr(unsafe.Pointer(buf)))
}

func Sysinfo(buf *[64]uint64) error {
	_, _, e := RawSyscall(SYS_SYSINFO, uintptr(unsafe.Pointer(buf)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func Getcpu() uintptr {
	var cpu, node uint32
	r, _ := SyscallNoError(SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0)
	return r + uintptr(cpu)
}

func Times(buf *[4]int64) uintptr {
	r, _, _ := Syscall(TimesNr, uintptr(unsafe.Pointer(buf)), 0, 0)
	return r
}
`;

const MAIN_GO = `package main

import (
	"fmt"
	"os"
	"syscall"

	"example.com/unixlike"
)

func main() {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	fmt.Println("prio", p, err)
	var ru syscall.Rusage
	fmt.Println("rusage", syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	page := make([]byte, os.Getpagesize())
	vec := make([]byte, 1)
	fmt.Println("mincore", unixlike.Mincore(page, vec))
	var it [4]int64
	fmt.Println("getitimer", unixlike.Getitimer(0, &it))
	var si [64]uint64
	fmt.Println("sysinfo", unixlike.Sysinfo(&si))
	fmt.Println("getcpu", unixlike.Getcpu())
	var tms [4]int64
	fmt.Println("times", unixlike.Times(&tms))
}
`;

const CGO_GO = `package main

// #include <unistd.h>
// static long my_pid(void) { return (long)getppid(); }
import "C"
import "fmt"

func main() { fmt.Println(C.my_pid()) }
`;

export interface GoFixtures {
  dir: string;
  /** Static, non-PIE, with symbols: example.com/rare. */
  rare: string;
  /** The same program built with -ldflags=-s -w (no .symtab). */
  rareStripped: string;
  /** -buildmode=pie. */
  rarePie?: string;
  /** cgo, dynamically linked to libc. */
  cgo?: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function goAvailable(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function buildGoFixtures(): GoFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'confine-go-'));
  const env = {
    ...process.env,
    GOPROXY: 'off',
    GOFLAGS: '-mod=mod',
    GOPATH: join(dir, 'gopath'),
    GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'confine-go-cache'),
    GO111MODULE: 'on',
    GOTOOLCHAIN: 'local',
  };
  const src = join(dir, 'rare');
  mkdirSync(join(src, 'unixlike'), { recursive: true });
  writeFileSync(join(src, 'go.mod'), 'module example.com/rare\n\ngo 1.17\n\nrequire example.com/unixlike v0.0.0\n\nreplace example.com/unixlike => ./unixlike\n');
  writeFileSync(join(src, 'unixlike', 'go.mod'), 'module example.com/unixlike\n\ngo 1.17\n');
  writeFileSync(join(src, 'unixlike', 'unixlike.go'), UNIXLIKE_GO);
  writeFileSync(join(src, 'unixlike', 'asm_linux_amd64.s'), UNIXLIKE_ASM);
  writeFileSync(join(src, 'main.go'), MAIN_GO);
  const go = (cwd: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
    execFileSync('go', args, { cwd, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  const fx: GoFixtures = {
    dir,
    rare: join(dir, 'rare.bin'),
    rareStripped: join(dir, 'rare-stripped.bin'),
    env,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  go(src, ['build', '-o', fx.rare, '.'], { CGO_ENABLED: '0' });
  go(src, ['build', '-ldflags=-s -w', '-o', fx.rareStripped, '.'], { CGO_ENABLED: '0' });
  try {
    go(src, ['build', '-buildmode=pie', '-o', join(dir, 'rare-pie.bin'), '.'], { CGO_ENABLED: '0' });
    fx.rarePie = join(dir, 'rare-pie.bin');
  } catch {
    /* PIE needs the external linker on some toolchains */
  }
  const csrc = join(dir, 'cgo');
  mkdirSync(csrc);
  writeFileSync(join(csrc, 'go.mod'), 'module example.com/cgo\n\ngo 1.17\n');
  writeFileSync(join(csrc, 'main.go'), CGO_GO);
  try {
    go(csrc, ['build', '-o', join(dir, 'cgo.bin'), '.'], { CGO_ENABLED: '1' });
    fx.cgo = join(dir, 'cgo.bin');
  } catch {
    /* no C compiler */
  }
  return fx;
}

/** Names of the syscalls `strace -f -qq` sees a run make. */
export function straceSyscalls(bin: string, dir: string): Set<string> {
  const out = join(dir, `strace-${Date.now()}.txt`);
  execFileSync('strace', ['-f', '-qq', '-o', out, bin], { stdio: 'ignore' });
  const text = execFileSync('cat', [out]).toString();
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    // A name starts with a letter: a line strace could not name (`7768  ???( <unfinished ...>`,
    // a thread killed in a syscall as the program exits) would otherwise give its pid.
    const m = /^(?:\d+\s+)?(?:<\.\.\. )?([a-z_][a-z0-9_]*)[( ]/.exec(line);
    if (m && !line.includes('+++') && !line.includes('---')) names.add(m[1]);
  }
  return names;
}
