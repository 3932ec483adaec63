import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The README is the front door: short, and every way out of it (and out of docs/) leads
 * somewhere. Folders move; a link, a path in backticks or a path in a command's --help
 * that names a moved file would send the reader nowhere, so all are checked against the
 * checkout. And CHANGELOG.md, where cached artifacts' version histories live, has to
 * follow every version bump.
 */
const ROOT = path.join(__dirname, '..');
const README = path.join(ROOT, 'README.md');
const DOCS = path.join(ROOT, 'docs');
const README_MAX_LINES = 150;

const docFiles = (): string[] => [
  README,
  path.join(ROOT, 'CHANGELOG.md'),
  ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort().map((f) => path.join(DOCS, f)),
];

/** Markdown without its fenced code blocks (commands and sample output are not links). */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = prose(readFileSync(file, 'utf8'));
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => headingAnchor(m[1])));
}

interface Link {
  file: string;
  target: string;
}

function relativeLinks(file: string): Link[] {
  const text = prose(readFileSync(file, 'utf8'));
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1])
    .filter((t) => !/^[a-z]+:/i.test(t))
    .map((target) => ({ file, target }));
}

/** What a link points at that does not exist, or '' when it leads somewhere. */
export function brokenLink({ file, target }: Link): string {
  const [rel, anchor] = target.split('#', 2);
  const dest = rel ? path.resolve(path.dirname(file), rel) : file;
  if (!existsSync(dest)) return `${target}: no file ${path.relative(ROOT, dest)}`;
  if (anchor && dest.endsWith('.md') && !anchorsOf(dest).has(anchor)) return `${target}: no heading #${anchor} in ${path.relative(ROOT, dest)}`;
  return '';
}

/** Top-level folders of the checkout: a backticked folder path starting with one names a folder of ours. */
const topFolders = (): Set<string> =>
  new Set(readdirSync(ROOT).filter((f) => !f.startsWith('.') && f !== 'node_modules' && f !== 'dist' && statSync(path.join(ROOT, f)).isDirectory()));

/** Where confine writes (`results/NAME.seccomp.json`): named in the docs, absent from a checkout. */
const OUTPUT_DIRS = /^(results|out)\//;

/**
 * Repository paths in backticks, outside code blocks: `dir/file.ext` (any, so a path to a
 * folder that moved away is caught too) and `top-folder/sub/`. Not globs, absolute or
 * home paths, or what a run writes.
 */
export function repoPathsIn(text: string, tops: Set<string>): string[] {
  return [...prose(text).matchAll(/`([^`\s]+)`/g)]
    .map((m) => m[1])
    .filter((p) => /^[\w-][\w.-]*\/[\w./-]*$/.test(p) && !OUTPUT_DIRS.test(p))
    .filter((p) => /\/[\w.-]*\.[a-z]+$/.test(p) || (p.endsWith('/') && tops.has(p.split('/')[0])));
}

/** Repository file paths a source file's text names (help strings, comments): `dir/…/file.ext`. */
export function sourcePathsIn(text: string): string[] {
  return [...text.matchAll(/(?<![\w./~$-])((?:[a-z][\w-]*\/)+[\w.-]+\.(?:ts|md|csv|json|sh|txt|js))\b/g)].map((m) => m[1]).filter((p) => !OUTPUT_DIRS.test(p));
}

/** Product code that keys cached artifacts (not the cache's and runner's own test fixtures). */
const VERSIONED_CODE = ['stages', 'analysis', 'formats', 'system', 'distributed', 'cli'];

/** Every cached artifact kind the code keys: its name (`name:`/`stage:`) and `version:` (a number, or a constant of the same file). */
export function versionedArtifacts(file: string, text: string): { file: string; name: string; version: number }[] {
  return [...text.matchAll(/(?:name|stage): '([\w-]+)',?\s*(?:\/\/[^\n]*\n\s*)*version: (\w+)/g)].map((m) => {
    const v = /^\d+$/.test(m[2]) ? m[2] : text.match(new RegExp(`\\b${m[2]}\\s*=\\s*(\\d+)`))?.[1];
    return { file, name: m[1], version: v === undefined ? NaN : Number(v) };
  });
}

/** CHANGELOG.md's sections: the names a heading lists (before its parenthesis) and its versions, in order. */
export function changelogSections(text: string): Map<string, number[]> {
  const sections = new Map<string, number[]>();
  for (const part of text.split(/^## /m).slice(1)) {
    const heading = part.split('\n', 1)[0];
    const versions = [...part.matchAll(/^- \*\*(\d+)\*\*/gm)].map((m) => Number(m[1]));
    for (const name of heading.split('(')[0].split(',').map((n) => n.trim()).filter(Boolean)) sections.set(name, versions);
  }
  return sections;
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return tsFilesUnder(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [full] : [];
  });
}

describe('README, docs/, --help texts and CHANGELOG.md', () => {
  test(`README.md is at most ${README_MAX_LINES} lines`, () => {
    const lines = readFileSync(README, 'utf8').split('\n').length - 1;
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES);
  });

  test('every relative link leads to a file (and heading) that exists', () => {
    const links = docFiles().flatMap(relativeLinks);
    expect(links.length).toBeGreaterThan(10);
    const broken = links.map((l) => (brokenLink(l) ? `${path.relative(ROOT, l.file)}: ${brokenLink(l)}` : '')).filter(Boolean);
    expect(broken).toEqual([]);
  });

  test('every repository path named in backticks exists', () => {
    const tops = topFolders();
    const named = docFiles().flatMap((f) => repoPathsIn(readFileSync(f, 'utf8'), tops).map((p) => ({ f, p })));
    expect(named.length).toBeGreaterThan(20);
    const missing = named.filter(({ p }) => !existsSync(path.join(ROOT, p))).map(({ f, p }) => `${path.relative(ROOT, f)}: ${p}`);
    expect(missing).toEqual([]);
  });

  test("the commands' help texts (and the CLI's comments) name only files that exist", () => {
    const sources = ['cli', 'distributed'].flatMap((d) =>
      readdirSync(path.join(ROOT, d)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => path.join(ROOT, d, f)),
    );
    const named = sources.flatMap((f) => sourcePathsIn(readFileSync(f, 'utf8')).map((p) => ({ f, p })));
    expect(named.length).toBeGreaterThan(5);
    const missing = named.filter(({ p }) => !existsSync(path.join(ROOT, p))).map(({ f, p }) => `${path.relative(ROOT, f)}: ${p}`);
    expect(missing).toEqual([]);
  });

  test("CHANGELOG.md has every cached artifact's versions, newest the code's, none missing", () => {
    const artifacts = VERSIONED_CODE.flatMap((d) => tsFilesUnder(path.join(ROOT, d))).flatMap((f) => versionedArtifacts(path.relative(ROOT, f), readFileSync(f, 'utf8')));
    expect(artifacts.map((a) => a.name)).toEqual(expect.arrayContaining(['elf-scan', 'profile-emit', 'syscall-resolve']));
    const sections = changelogSections(readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8'));
    const wrong = artifacts
      .filter((a) => {
        const v = sections.get(a.name);
        return !v || v.join(',') !== Array.from({ length: a.version }, (_, i) => a.version - i).join(',');
      })
      .map((a) => `${a.file}: ${a.name} is version ${a.version}; CHANGELOG.md lists ${sections.get(a.name)?.join(', ') ?? 'no section'}`);
    expect(wrong).toEqual([]);
  });

  test('the checks catch a moved file and a missing heading', () => {
    expect(versionedArtifacts('x.ts', "const V = 3;\n  name: 'a',\n    // why\n    version: V,\n  { stage: 'b', version: 2 }")).toEqual([
      { file: 'x.ts', name: 'a', version: 3 },
      { file: 'x.ts', name: 'b', version: 2 },
    ]);
    expect(changelogSections('# C\n\n## a, b (`x.ts`)\n\n- **2**: y\n- **1**: x\n')).toEqual(new Map([['a', [2, 1]], ['b', [2, 1]]]));
    expect(sourcePathsIn('default: report/data/cve-to-syscall.csv, ~/.docker/config.json, results/run-summary.json')).toEqual(['report/data/cve-to-syscall.csv']);
    expect(brokenLink({ file: README, target: 'x86/README.md' })).toMatch(/no file x86\/README.md/);
    expect(brokenLink({ file: README, target: 'docs/analysis.md#no-such-heading' })).toMatch(/no heading/);
    expect(brokenLink({ file: README, target: 'analysis/x86/README.md' })).toBe('');
    expect(headingAnchor('`docker exec` runs under the profile')).toBe('docker-exec-runs-under-the-profile');
    const tops = new Set(['analysis']);
    expect(repoPathsIn('see `x86/idioms.ts`, `analysis/x86/`, `results/run-summary.json`, `stages/*.ts`', tops)).toEqual(['x86/idioms.ts', 'analysis/x86/']);
    expect(repoPathsIn('```\n`x86/idioms.ts`\n```\n', tops)).toEqual([]);
    expect(headingAnchor('By-name lookups, dlopen and exec candidates')).toBe('by-name-lookups-dlopen-and-exec-candidates');
  });
});
