import { execCostOf, execCostsFromRunSummary, formatExecCostLine } from './exec-cost';

test('confine stats reads each image\'s exec cost back from run-summary.json and prints it as the run did', () => {
  const profile = {
    allowedCount: 131,
    execToo: { asked: ['shell'], programs: [{ name: 'sh', path: '/bin/sh' }, { name: 'ls', path: '/usr/local/bin/busybox' }], missingTools: ['ps', 'id'], allowedWithout: 126, added: [{ syscall: 'vfork', by: ['/bin/sh'] }] },
  };
  const cost = execCostOf(profile)!;
  const summary = JSON.parse(JSON.stringify({ rows: [{ image: 'nginx', execToo: cost }, { image: 'redis' }, { image: 'bad', execToo: { asked: [] } }] }));
  const read = execCostsFromRunSummary(summary);
  expect(read.map((r) => r.image)).toEqual(['nginx']);
  expect(formatExecCostLine('nginx', read[0].cost)).toBe('nginx 126 → 131 with shell: /bin/sh, ls (/usr/local/bin/busybox); not in the image: ps, id; adds vfork (/bin/sh)');
  expect(execCostsFromRunSummary({})).toEqual([]);
  expect(execCostOf({ allowedCount: 3 })).toBeUndefined();
});
