import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The README is the front door: short, and every way out of it (and out of docs/) leads
 * somewhere. Folders move; a link or a path in backticks that names a moved file would
 * send the reader nowhere, so both are checked against the checkout.
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

describe('README and docs/', () => {
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

  test('the checks catch a moved file and a missing heading', () => {
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
