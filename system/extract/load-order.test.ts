import { loadOrder, loadOrderAsync, type LoadGraph } from './load-order';

interface Obj {
  file: string;
  needed: string[];
  soname?: string;
}

const graph: LoadGraph<Obj> = { key: (o) => o.file, needed: (o) => o.needed, soname: (o) => o.soname };

/** A tiny tree: names found by a table, as a directory search would. */
function tree(objs: Obj[], table: Record<string, string[]>) {
  const byFile = new Map(objs.map((o) => [o.file, o]));
  const asked: string[] = [];
  const find = (from: Obj, name: string) => {
    asked.push(`${from.file}:${name}`);
    return (table[name] ?? []).map((f) => byFile.get(f)!);
  };
  return { byFile, asked, find };
}

test('breadth-first over DT_NEEDED, each file once, in ld.so order', () => {
  const t = tree(
    [
      { file: '/exe', needed: ['liba', 'libb'] },
      { file: '/a', needed: ['libc', 'libb'] },
      { file: '/b', needed: ['libc'] },
      { file: '/c', needed: ['libexe'] },
    ],
    { liba: ['/a'], libb: ['/b'], libc: ['/c'], libexe: ['/exe'] },
  );
  const order = loadOrder(t.byFile.get('/exe')!, graph, t.find).map((o) => o.file);
  expect(order).toEqual(['/a', '/b', '/c']);
  // libb and libc are matched by the name they were loaded under, not searched again.
  expect(t.asked).toEqual(['/exe:liba', '/exe:libb', '/a:libc', '/c:libexe']);
});

test('a name matching a loaded object’s DT_SONAME is that object (_dl_name_match_p), even when a search would find another file', () => {
  const t = tree(
    [
      { file: '/exe', needed: ['/opt/libz.so.1', 'liba'] },
      { file: '/opt/libz.so.1', needed: [], soname: 'libz.so.1' },
      { file: '/a', needed: ['libz.so.1'] },
      { file: '/usr/lib/libz.so.1', needed: [], soname: 'libz.so.1' },
    ],
    { '/opt/libz.so.1': ['/opt/libz.so.1'], liba: ['/a'], 'libz.so.1': ['/usr/lib/libz.so.1'] },
  );
  expect(loadOrder(t.byFile.get('/exe')!, graph, t.find).map((o) => o.file)).toEqual(['/opt/libz.so.1', '/a']);
  expect(t.asked).toEqual(['/exe:/opt/libz.so.1', '/exe:liba']);
});

test('every variant a lookup returns is loaded (glibc-hwcaps), a missing name is asked once per requester, and the async walk agrees', async () => {
  const t = tree(
    [
      { file: '/exe', needed: ['libv', 'gone'] },
      { file: '/hwcaps/v3/libv', needed: ['libw'] },
      { file: '/libv', needed: ['libw'] },
      { file: '/libw', needed: ['gone'] },
    ],
    { libv: ['/libv', '/hwcaps/v3/libv'], libw: ['/libw'] },
  );
  const order = loadOrder(t.byFile.get('/exe')!, graph, t.find).map((o) => o.file);
  expect(order).toEqual(['/libv', '/hwcaps/v3/libv', '/libw']);
  expect(t.asked.filter((a) => a.endsWith(':gone'))).toEqual(['/exe:gone', '/libw:gone']);
  const asyncOrder = await loadOrderAsync(t.byFile.get('/exe')!, graph, async (from, name) => t.find(from, name));
  expect(asyncOrder.map((o) => o.file)).toEqual(order);
});
