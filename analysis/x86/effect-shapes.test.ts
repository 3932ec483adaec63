import * as fs from 'fs';
import { Decoder, DecoderOptions, Instruction } from 'iced-x86';
import { parseElf } from '../elf';
import { EffectDecoder } from './effects';
import { compile, tempDir } from './test-fixtures';

// effects.ts learns what an instruction writes once per shape instead of reading iced's
// register-use tables every time, and which Codes write nothing at all (writesNothing). Each pair below puts first the instance that could
// teach a wrong shape (an implicit write on the register the operand names, one register
// for two written operands) and then one where the difference shows.
const ASM = String.raw`
  .text
  .globl _start
  .type _start,@function
_start:
  mul %r8               # writes rax, rdx: the operand is only read
  mul %rbx
  imul %r8, %r8         # one register for both operands
  imul %r9, %r10
  xadd %r8, %r8         # two written operands, the same register
  xadd %r9, %r10
  cmpxchg %rcx, %rax     # the operand written is rax, which cmpxchg also writes on its own
  cmpxchg %r9, %r10     # writes r10 and rax
  cmpxchg %r8, %r8
  cmpxchg %rax, %rbx
  div %r12
  div %rcx
  bsf %r13, %r13
  bsf %rax, %r14
  shl %cl, %r15
  shl %cl, %rcx
  popcnt (%r8), %r8     # the first operand is the memory operand's base
  popcnt (%rdi), %r9
  cmp %r8, %r9          # writes nothing
  cmp %rax, (%rdi)
  test %r8, %r8
  sete %r8b
  sete %al
  setne %al             # learned from two registers that are not r8-r15: al, then cl
  setne %cl
  setne %dl
  cmpxchg %rdx, %rax    # rax is written by the operand and on its own: a second one like it proves nothing
  cmpxchg %rsi, %rax
  cmpxchg %rsi, %rdi
  movq %xmm0, %r8       # a general register from a vector one
  movq %xmm1, %rax
  movq %r8, %xmm0
  .byte 0x66, 0x0f, 0x7f, 0xc8   # movdqa %xmm1,%xmm0 in the store encoding: writes a vector register only
  movdqa %xmm0, (%rdi)           # the same Code, to memory
  rep stosb
  stosb
  xchg %r8, (%rdi)
  xchg %rax, (%rdi)
  cpuid
  rdtscp
  pushf
  popf
  mov $60, %eax
  syscall
  .size _start, .-_start
`;

/** Every instruction of `.text` (a linear sweep), with the learned and the table-only effect. */
function compare(file: string): { n: number; differ: string[] } {
  const buf = fs.readFileSync(file);
  const elf = parseElf(buf, file);
  const text = elf.sectionByName('.text')!;
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset + text.offset, text.size);
  const learned = new EffectDecoder(bytes, text.addr);
  const tables = new EffectDecoder(bytes, text.addr, { noShapes: true });
  const d = new Decoder(64, bytes, DecoderOptions.None);
  d.ip = BigInt(text.addr);
  const ins = new Instruction();
  const differ: string[] = [];
  let n = 0;
  try {
    while (d.canDecode) {
      d.decodeOut(ins);
      const at = Number(ins.ip);
      // What the decoder claims of this Code before seeing this instance (the forward scan skips the decode on it).
      const claimsNothing = learned.writesNothing(ins.code);
      const e = tables.effectUncached(at);
      const a = JSON.stringify(learned.effectUncached(at));
      const b = JSON.stringify(e);
      n++;
      if (a !== b) differ.push(`0x${at.toString(16)}: ${a} vs ${b}`);
      const inert = e.op === 'other' && !e.writes && !e.partialRegWrite && !e.frameWrites.length && !e.otherMemWrite && !e.detail;
      if (claimsNothing && !inert) differ.push(`0x${at.toString(16)}: said to write nothing, but ${b}`);
    }
  } finally {
    learned.free();
    tables.free();
    d.free();
    ins.free();
  }
  return { n, differ };
}

test('learned instruction shapes give the register-use tables’ effect on instances built to fool them', () => {
  const dir = tempDir('confine-shapes-');
  const bin = compile(dir, 'shapes.s', ASM, 'shapes', ['-nostdlib', '-static']);
  const r = compare(bin);
  expect(r.n).toBeGreaterThan(30);
  expect(r.differ).toEqual([]);
});

test('learned instruction shapes give the register-use tables’ effect on every instruction of the host libc', () => {
  const r = compare('/lib/x86_64-linux-gnu/libc.so.6');
  expect(r.n).toBeGreaterThan(100000);
  expect(r.differ).toEqual([]);
});
