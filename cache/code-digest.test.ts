import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sourceDigest, sourceRootOf } from './code-digest';

function tree(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'code-digest-'));
  writeFileSync(path.join(root, 'tsconfig.json'), '{}');
  mkdirSync(path.join(root, 'elf'));
  writeFileSync(path.join(root, 'elf', 'reader.ts'), 'export const a = 1;\n');
  writeFileSync(path.join(root, 'elf', 'reader.test.ts'), 'test("x", () => {});\n');
  mkdirSync(path.join(root, 'dist', 'elf'), { recursive: true });
  writeFileSync(path.join(root, 'dist', 'elf', 'reader.js'), 'exports.a = 1;\n');
  return root;
}

describe('sourceDigest', () => {
  it('changes with a source file but not with a test file', () => {
    const root = tree();
    const before = sourceDigest(root, ['elf']);
    writeFileSync(path.join(root, 'elf', 'reader.test.ts'), 'test("y", () => {});\n');
    // memoised per process: a fresh root path is needed to see a change
    const copy = tree();
    writeFileSync(path.join(copy, 'elf', 'reader.test.ts'), 'test("y", () => {});\n');
    expect(sourceDigest(copy, ['elf'])).toBe(before);
    const edited = tree();
    writeFileSync(path.join(edited, 'elf', 'reader.ts'), 'export const a = 2;\n');
    expect(sourceDigest(edited, ['elf'])).not.toBe(before);
  });

  it('digests the TypeScript sources when called from the compiled build in dist/', () => {
    const root = tree();
    expect(sourceRootOf(path.join(root, 'dist'))).toBe(root);
    expect(sourceDigest(path.join(root, 'dist'), ['elf'])).toBe(sourceDigest(root, ['elf']));
  });

  it('leaves a folder named dist alone when it is not a build inside a project', () => {
    const lone = path.join(mkdtempSync(path.join(os.tmpdir(), 'code-digest-')), 'dist');
    mkdirSync(lone);
    expect(sourceRootOf(lone)).toBe(lone);
  });
});
