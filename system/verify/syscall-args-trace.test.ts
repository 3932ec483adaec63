import { argumentValues, parseSyscallEntry } from './syscall-args-trace';

// Lines as an instance's `trace` printed them for a `docker run` (runc 1.1.5).
const TRACE = `# tracer: nop
#
#                                _-----=> irqs-off/BH-disabled
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
            runc-19587   [000] .....  8993.429635: sys_prctl(option: 1, arg2: 9, arg3: 0, arg4: 0, arg5: 0)
 runc:[0:PARENT]-19595   [000] .....  8993.497236: sys_prctl(option: 0xf, arg2: 0x9a968f, arg3: 0, arg4: 0, arg5: 0)
   runc:[2:INIT]-19597   [001] .....  8993.498844: sys_prctl(option: 0xf, arg2: 0x9a980a, arg3: 0, arg4: 0, arg5: 0)
   runc:[2:INIT]-19597   [001] .....  8993.506307: sys_socket(family: 0x10, type: 0x80003, protocol: 0)
   runc:[2:INIT]-19597   [001] .....  8993.624924: sys_prctl(option: 0x16, arg2: 2, arg3: 0xc0001b9770, arg4: 0, arg5: 0)
   runc:[2:INIT]-19597   [001] .....  8993.625612: sys_prctl(option: 0x18, arg2: 2, arg3: 0, arg4: 0, arg5: 0)
   runc:[2:INIT]-19597   [001] .....  8993.625617: sys_prctl(option: 0x18, arg2: 9, arg3: 0, arg4: 0, arg5: 0)
   runc:[2:INIT]-19597   [001] .....  8993.625700: sys_ioctl(fd: 0, cmd: 0xffffffff80045430, arg: 0xc0001b9000)
   a weird-comm 2-19597   [001] .....  8993.625800: sys_prctl(option: 8, arg2: 1, arg3: 0, arg4: 0, arg5: 0)
   runc:[2:INIT]-19597   [001] .....  8993.625900: sched_process_exec: filename=/confine-exit pid=19597 old_pid=19597
`;

test('an entry event gives its pid, name and arguments in order, hex or decimal', () => {
  expect(parseSyscallEntry('   runc:[2:INIT]-19597   [001] .....  8993.624924: sys_prctl(option: 0x16, arg2: 2, arg3: 0xc0001b9770, arg4: 0, arg5: 0)')).toEqual({
    pid: 19597,
    name: 'prctl',
    args: [0x16n, 2n, 0xc0001b9770n, 0n, 0n],
  });
  expect(parseSyscallEntry('# tracer: nop')).toBeUndefined();
  expect(parseSyscallEntry('   runc:[2:INIT]-19597   [001] .....  8993.625900: sched_process_exec: filename=/x pid=1 old_pid=1')).toBeUndefined();
  expect(parseSyscallEntry('  x-1 [000] ..... 1.0: sys_prctl(option: ???)')).toBeUndefined();
});

test("only the given process's values count, each once, on the low 32 bits", () => {
  const { values: v, complete } = argumentValues(TRACE, 19597, [
    { name: 'prctl', arg: 0 },
    { name: 'socket', arg: 0 },
    { name: 'ioctl', arg: 1 },
    { name: 'clone', arg: 0 },
  ]);
  // pid 19587's PR_SET_PDEATHSIG (1) is another process's; a comm with spaces and dashes still parses.
  expect(v.get('prctl')).toEqual([8, 0xf, 0x16, 0x18]);
  expect(v.get('socket')).toEqual([0x10]);
  // A sign-extended int request is compared on its low 32 bits, like the profile's rule.
  expect(v.get('ioctl')).toEqual([0x80045430]);
  expect(v.has('clone')).toBe(false);
  expect(complete).toBe(true);
});

test("with thread groups recorded, every thread of the process counts; a lost-events line makes the reading incomplete", () => {
  const trace = [
    '   runc:[2:INIT]-500     (    500) [000] ..... 1.0: sys_prctl(option: 0x18, arg2: 2, arg3: 0, arg4: 0, arg5: 0)',
    '   runc:[2:INIT]-503     (    500) [001] ..... 1.1: sys_prctl(option: 0x2f, arg2: 4, arg3: 0, arg4: 0, arg5: 0)',
    '   runc:[2:INIT]-600     (    600) [001] ..... 1.2: sys_prctl(option: 0x4, arg2: 0, arg3: 0, arg4: 0, arg5: 0)',
  ].join('\n');
  expect(parseSyscallEntry(trace.split('\n')[1])).toMatchObject({ pid: 503, tgid: 500 });
  const r = argumentValues(trace, 500, [{ name: 'prctl', arg: 0 }]);
  expect(r).toEqual({ values: new Map([['prctl', [0x18, 0x2f]]]), complete: true });
  expect(argumentValues(`CPU:1 [LOST 12 EVENTS]\n${trace}`, 500, [{ name: 'prctl', arg: 0 }]).complete).toBe(false);
});
