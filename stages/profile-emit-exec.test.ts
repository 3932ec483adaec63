import { measuredArguments } from './profile-emit';

describe("the runtime's measured arguments over its init and exec paths", () => {
  it('unions the values each path measured', () => {
    const init = { syscalls: ['prctl', 'read'], args: { prctl: [2, 8, 24] } };
    const exec = { syscalls: ['prctl', 'fchown'], args: { prctl: [8, 15, 47] } };
    expect([...measuredArguments([init, exec])]).toEqual([['prctl', [2, 8, 15, 24, 47]]]);
    expect([...measuredArguments([init])]).toEqual([['prctl', [2, 8, 24]]]);
  });

  it('a syscall one path made without its arguments measured gets no values: no rule may narrow it', () => {
    const init = { syscalls: ['prctl'], args: { prctl: [8] } };
    const exec = { syscalls: ['prctl'], args: {} };
    expect(measuredArguments([init, exec]).has('prctl')).toBe(false);
    // A path that never made it does not unmeasure it.
    expect(measuredArguments([init, { syscalls: ['read'], args: {} }]).get('prctl')).toEqual([8]);
  });
});
