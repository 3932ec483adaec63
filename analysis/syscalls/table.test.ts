import * as fs from 'node:fs';
import { buildTable, DEFAULT_HEADER, TABLE_FILE } from './gen-table';
import { parseLinuxVersionCode, parseUnistdHeader } from './unistd-header';
import { allSyscalls, syscallName, syscallNumber } from './table';

describe('syscall table', () => {
  it('maps the well-known x86-64 numbers both ways', () => {
    expect(syscallName(0)).toBe('read');
    expect(syscallName(59)).toBe('execve');
    expect(syscallName(202)).toBe('futex');
    expect(syscallName(435)).toBe('clone3');
    expect(syscallNumber('openat')).toBe(257);
    expect(syscallNumber('not_a_syscall')).toBeUndefined();
    expect(syscallName(100000)).toBeUndefined();
  });

  it('is a bijection ordered by number', () => {
    const all = allSyscalls();
    expect(all.length).toBeGreaterThan(300);
    for (let i = 1; i < all.length; i++) expect(all[i].nr).toBeGreaterThan(all[i - 1].nr);
    for (const { name, nr } of all) {
      expect(syscallNumber(name)).toBe(nr);
      expect(syscallName(nr)).toBe(name);
    }
  });

  it('checked-in JSON is in sync with the host header', () => {
    const checkedIn = JSON.parse(fs.readFileSync(TABLE_FILE, 'utf8'));
    if (fs.existsSync(DEFAULT_HEADER)) {
      const fresh = buildTable(DEFAULT_HEADER);
      expect(checkedIn.syscalls).toEqual(fresh.syscalls);
      expect(checkedIn.count).toBe(fresh.count);
      expect(checkedIn.kernelHeaders.linuxVersion).toBe(fresh.kernelHeaders.linuxVersion);
    } else {
      // No headers on this host: at least the file must agree with itself.
      expect(Object.keys(checkedIn.syscalls)).toHaveLength(checkedIn.count);
    }
    expect(checkedIn.source).toMatch(/unistd_64\.h$/);
  });
});

describe('parseUnistdHeader', () => {
  it('reads defines, ignores guards, reports unreadable __NR_ lines', () => {
    const text = [
      '#ifndef _ASM_UNISTD_64_H',
      '#define _ASM_UNISTD_64_H',
      '#define __NR_write 1',
      '#define __NR_read 0',
      '#define __NR_broken oops',
      '#endif',
    ].join('\n');
    const r = parseUnistdHeader(text);
    expect(r.entries).toEqual([
      { name: 'read', nr: 0 },
      { name: 'write', nr: 1 },
    ]);
    expect(r.errors).toEqual([{ line: 5, text: '#define __NR_broken oops' }]);
  });

  it('decodes LINUX_VERSION_CODE', () => {
    expect(parseLinuxVersionCode('#define LINUX_VERSION_CODE 393659\n')).toBe('6.1.187');
    expect(parseLinuxVersionCode('nothing')).toBeUndefined();
  });
});
