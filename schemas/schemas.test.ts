import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { precompiled, schemaIds, validateArtifact } from './validate';

describe('artifact schemas', () => {
  it('types.ts is generated from the current schemas (run `npm run schemas` when this fails)', () => {
    // A subprocess: the generator formats with prettier, which jest's VM cannot import.
    const root = path.join(__dirname, '..');
    expect(() => execFileSync(path.join(root, 'node_modules/.bin/tsx'), ['scripts/gen-schema-types.ts', '--check'], { cwd: root, stdio: 'pipe' })).not.toThrow();
  });

  it('every schema compiles under ajv strict mode', () => {
    const ids = schemaIds();
    expect(ids.length).toBeGreaterThanOrEqual(8);
    for (const id of ids) expect(validateArtifact(id, {})).toBeDefined(); // {} lacks required fields everywhere
  });

  it('rejects a trace artifact keyed by tag instead of image ID', () => {
    const trace = {
      imageRef: 'nginx', imageId: 'nginx:latest', startedAt: 'now', durationSec: 1, exitedEarly: false,
      execs: [], executedPaths: [], mappedObjects: [], logTail: '', notes: [],
    };
    expect(validateArtifact('confine/trace/v1', trace)).toMatch(/imageId/);
    expect(validateArtifact('confine/trace/v1', { ...trace, imageId: 'sha256:' + 'a'.repeat(64) })).toBeUndefined();
  });

  it('every schema has a function ajv compiled ahead, used only while the schema file is the one it was compiled from', () => {
    for (const id of schemaIds()) expect(precompiled(id)).toBeDefined();
    const edited = (f: string) => (f.endsWith('trace.schema.json') ? Buffer.from('{"edited": true}') : fs.readFileSync(f));
    expect(precompiled('confine/trace/v1', edited)).toBeUndefined();
    expect(precompiled('confine/verify/v1', edited)).toBeDefined();
    expect(precompiled('confine/no-such/v1')).toBeUndefined();
  });
});
