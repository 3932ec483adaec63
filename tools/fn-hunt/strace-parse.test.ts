import { compareRun, parseStacks, median } from './compare';
import { parseStrace } from './strace-parse';

// Shapes taken from real `strace -f -qq -s 256` output in the fn-hunt image.
const TRACE = [
  '10    execve("/usr/bin/prog", ["/usr/bin/prog", "--version"], 0x7ffc /* 4 vars */) = 0',
  '10    brk(NULL)                         = 0x31491000',
  '10    clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, child_tidptr=0x7f) = 11',
  '11    set_robust_list(0x7f, 24 <unfinished ...>',
  '10    wait4(-1,  <unfinished ...>',
  '11    <... set_robust_list resumed>) = 0',
  '11    execve("/usr/bin/child", ["child"], 0x7ffe /* 4 vars */) = 0',
  '11    openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3',
  '11    syscall_0x14a(0, 0)             = -1 ENOSYS (Function not implemented)',
  '11    exit_group(0)                     = ?',
  '10    <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 11',
  '10    --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=11} ---',
  '10    restart_syscall(<... resuming interrupted read ...>) = 0',
  '10    execve("/nonexistent", ["x"], 0x7ffe /* 4 vars */) = -1 ENOENT (No such file or directory)',
  '10    exit_group(0)                     = ?',
].join('\n');

describe('parseStrace', () => {
  const t = parseStrace(TRACE, '/usr/bin/prog');

  test('strace\'s own execve of the program is not the program\'s', () => {
    expect(t.started).toBe(true);
    expect([...t.byExe.get('/usr/bin/prog')!].sort()).toEqual(['brk', 'clone', 'execve', 'exit_group', 'restart_syscall', 'set_robust_list', 'wait4']);
  });

  test('a child runs its parent\'s program until its own execve, then the new one', () => {
    // set_robust_list came before the child's execve: the parent's program's code made it.
    expect(t.byExe.get('/usr/bin/prog')!.has('set_robust_list')).toBe(true);
    expect(t.unattributed.size).toBe(0);
    expect([...t.byExe.get('/usr/bin/child')!].sort()).toEqual(['exit_group', 'openat', 'pkey_alloc']);
  });

  test('a child first seen before its parent\'s clone returned still inherits the program', () => {
    const segs = parseStrace(
      ['5 execve("/p", ["/p"], 0x1 /* 0 vars */) = 0', '5 clone(child_stack=NULL <unfinished ...>', '6 getpid() = 6', '5 <... clone resumed>) = 6'].join('\n'),
      '/p',
    );
    expect([...segs.byExe.get('/p')!].sort()).toEqual(['clone', 'getpid']);
    expect(segs.unattributed.size).toBe(0);
  });

  test('a program that never started has no syscalls', () => {
    const none = parseStrace('7 execve("/missing", ["/missing"], 0x1 /* 0 vars */) = -1 ENOENT (No such file or directory)\n', '/missing');
    expect(none.started).toBe(false);
    expect(none.byExe.size).toBe(0);
  });
});

describe('compareRun', () => {
  test('a number that is no x86-64 syscall is listed apart, not as a false negative', () => {
    const odd = parseStrace('5 execve("/p", ["/p"], 0x1 /* 0 vars */) = 0\n5 syscall_0x2b7(0x1, 0x2) = -1 ENOSYS (Function not implemented)\n5 syscall_0x14a(0, 0) = 0\n', '/p');
    const c = compareRun({ program: '/p', mode: 'help', trace: odd, exeToAnalysed: (e) => e, allowed: () => new Set() });
    expect(c.unnamed.map((u) => u.syscall)).toEqual(['syscall_0x2b7']);
    // 0x14a is pkey_alloc: named, so a real false negative.
    expect(c.falseNegatives.map((u) => u.syscall)).toEqual(['pkey_alloc']);
  });

  const t = parseStrace(TRACE, '/usr/bin/prog');
  const sets: Record<string, Set<string>> = {
    '/usr/bin/prog': new Set(['brk', 'clone', 'execve', 'exit_group', 'wait4', 'set_robust_list']),
    '/usr/bin/child': new Set(['exit_group', 'openat', 'pkey_alloc']),
  };

  test('nothing missing: no false negatives (restart_syscall is kernel-entered)', () => {
    const c = compareRun({ program: '/usr/bin/prog', mode: 'version', trace: t, exeToAnalysed: (e) => e, allowed: (p) => sets[p] });
    expect(c.falseNegatives).toEqual([]);
    expect(c.unchecked).toEqual([]);
  });

  test('a syscall the analysis did not allow is reported with the program that made it', () => {
    const c = compareRun({
      program: '/usr/bin/prog',
      mode: 'help',
      trace: t,
      exeToAnalysed: (e) => e,
      allowed: (p) => (p === '/usr/bin/child' ? new Set(['exit_group', 'pkey_alloc']) : sets[p]),
    });
    expect(c.falseNegatives).toEqual([{ program: '/usr/bin/prog', mode: 'help', exe: '/usr/bin/child', syscall: 'openat' }]);
  });

  test('a program image that cannot be checked is listed, not silently passed', () => {
    const c = compareRun({ program: '/usr/bin/prog', mode: 'help', trace: t, exeToAnalysed: (e) => (e === '/usr/bin/child' ? undefined : e), allowed: (p) => sets[p] });
    expect(c.unchecked.map((u) => u.exe)).toEqual(['/usr/bin/child']);
  });
});

test('parseStacks keeps the innermost frames of the first call per syscall', () => {
  const s = parseStacks(
    ['16    clone(child_stack=0x7f, flags=CLONE_VM) = 17', ' > /usr/bin/m(__clone+0x25) [0x2a26]', ' > /usr/bin/m(pthread_create+0x10) [0x1000]', '16    clone(x) = 18', ' > /other(f+0x1) [0x1]'].join('\n'),
  );
  expect(s.get('clone')).toEqual(['/usr/bin/m(__clone+0x25)', '/usr/bin/m(pthread_create+0x10)']);
});

test('median', () => {
  expect(median([])).toBeUndefined();
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 2, 3])).toBe(2.5);
});
