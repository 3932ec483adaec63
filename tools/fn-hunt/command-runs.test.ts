import { parseCommandRuns } from './command-runs';

describe('parseCommandRuns', () => {
  it('splits on blanks, keeps quoted blanks, drops comments and empty lines', () => {
    const text = ["# a comment", '', "/bin/sh -c 'echo a | wc -c'  # why", "/bin/cat /etc/passwd", "/bin/echo '#not a comment' x''y"].join('\n');
    expect(parseCommandRuns(text, 'f')).toEqual([
      { path: '/bin/sh', args: ['-c', 'echo a | wc -c'] },
      { path: '/bin/cat', args: ['/etc/passwd'] },
      { path: '/bin/echo', args: ['#not a comment', 'xy'] },
    ]);
  });

  it('refuses a relative program and an unterminated quote, naming the line', () => {
    expect(() => parseCommandRuns('\ncat x', 'f')).toThrow('f:2: the program must be an absolute path');
    expect(() => parseCommandRuns("/bin/sh -c 'x", 'f')).toThrow('f:1: unterminated quote');
  });
});
