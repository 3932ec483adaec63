/**
 * The layers of confine, bottom to top (README "Layout"). A module may import its own
 * folder and any folder of a LOWER rank; never a higher rank, never a sibling of the same
 * rank (siblings importing each other is how folder-level cycles start). Run by `make test`
 * (`npm run deps`) and fails the build on an upward import or any import cycle.
 *
 * Tests (*.test.ts) may reach upward for fixtures and helpers; they are still checked for cycles.
 */
const LAYERS = [
  // rank 0: storage and the artifact contract
  ['cache', 'schemas'],
  // the runner: knows nothing of syscalls
  ['pipeline'],
  // pure analysis: bytes in, facts out (its own sub-layers below)
  ['analysis/elf', 'analysis/syscalls'],
  ['analysis/x86'],
  ['analysis/golang'],
  ['analysis/summary'],
  ['analysis/link', 'analysis/seed-graph'],
  ['analysis/scan'],
  // what users read and write
  ['formats/image-list', 'formats/exec-too-list'],
  ['formats/profile'],
  ['formats/report'],
  // what touches the engine, the kernel and files on disk
  ['system/image', 'system/probe'],
  ['system/trace'],
  ['system/docker'],
  ['system/extract', 'system/verify'],
  ['system/host'],
  // glue and developer tools
  ['stages', 'tools'],
  ['distributed'],
  ['cli'],
];

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const pathOf = (folder) => `^${esc(folder)}(/|\\.ts$)`;
const anyOf = (folders) => folders.map(pathOf).join('|');

const rules = [];
LAYERS.forEach((rank, i) => {
  const above = LAYERS.slice(i + 1).flat();
  for (const folder of rank) {
    const siblings = rank.filter((f) => f !== folder);
    const forbidden = [...above, ...siblings];
    if (!forbidden.length) continue;
    rules.push({
      name: `layer:${folder}`,
      comment: `${folder} may import only lower layers (.dependency-cruiser.js LAYERS)`,
      severity: 'error',
      from: { path: pathOf(folder), pathNot: '\\.test\\.ts$' },
      to: { path: anyOf(forbidden) },
    });
  }
});

// Pure analysis knows nothing of the content store: only the scan (which keys its results) may.
rules.push({
  name: 'analysis-is-pure',
  comment: 'the analysis libraries take bytes and give facts; caching is the scan and stage glue\'s business',
  severity: 'error',
  from: { path: '^analysis/(elf|x86|golang|syscalls|summary|link|seed-graph)/', pathNot: '\\.test\\.ts$' },
  to: { path: '^cache/' },
});

rules.push({
  name: 'no-circular',
  comment: 'no import cycle between modules, type-only imports included',
  severity: 'error',
  from: {},
  to: { circular: true },
});

rules.push({
  name: 'not-unresolvable',
  comment: 'every relative import resolves to a file',
  severity: 'error',
  from: {},
  to: { couldNotResolve: true, pathNot: '^(node:|iced-x86)' },
});

module.exports = {
  forbidden: rules,
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules|test/fixtures)/' },
  },
};
