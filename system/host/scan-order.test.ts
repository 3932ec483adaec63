import { scanOrder } from './scan-order';

const o = (key: string, size: number, users = 1) => ({ key, size, users });

test('one program: largest first', () => {
  expect(scanOrder([o('libc', 2), o('prog', 9), o('libz', 1)], 2)).toEqual(['prog', 'libc', 'libz']);
});

test('several programs: the largest on all workers but one, then what several programs load, then the rest', () => {
  const objects = [o('containerd', 46), o('libpython', 7, 2), o('python3', 6), o('libcrypto', 4), o('libc', 2, 6), o('libz', 0.1, 3), o('ld.so', 0.2, 6)];
  expect(scanOrder(objects, 2)).toEqual(['containerd', 'libpython', 'libc', 'ld.so', 'libz', 'python3', 'libcrypto']);
  expect(scanOrder(objects, 3)).toEqual(['containerd', 'libpython', 'libc', 'ld.so', 'libz', 'python3', 'libcrypto']);
  expect(scanOrder(objects, 4)).toEqual(['containerd', 'libpython', 'python3', 'libc', 'ld.so', 'libz', 'libcrypto']);
});

test('no worker (inline scans): shared objects first, so walks can start sooner', () => {
  expect(scanOrder([o('a', 5), o('libc', 2, 2)], 0)).toEqual(['libc', 'a']);
});
