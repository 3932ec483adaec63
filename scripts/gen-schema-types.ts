/**
 * Derives the TypeScript types of every artifact from its JSON Schema, so the types
 * that document a stage's contract and the schemas ajv checks cannot drift apart.
 * `npm run schemas` rewrites schemas/types.ts; `--check` (run by a test) fails when it is stale.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { compile } from 'json-schema-to-typescript';

export const SCHEMA_DIR = path.join(__dirname, '..', 'schemas');
export const TYPES_FILE = path.join(SCHEMA_DIR, 'types.ts');

export async function renderSchemaTypes(): Promise<string> {
  const files = (await fs.readdir(SCHEMA_DIR)).filter((f) => f.endsWith('.schema.json')).sort();
  const parts = ['/* eslint-disable */\n// Generated from schemas/*.schema.json by scripts/gen-schema-types.ts — do not edit; run `npm run schemas`.\n'];
  for (const f of files) {
    const schema = JSON.parse(await fs.readFile(path.join(SCHEMA_DIR, f), 'utf8'));
    const ts = await compile(schema, schema.title, { bannerComment: '', additionalProperties: false, format: true, strictIndexSignatures: false });
    parts.push(`// ${f}\n${ts}`);
  }
  return parts.join('\n');
}

if (require.main === module) {
  const check = process.argv.includes('--check');
  renderSchemaTypes()
    .then(async (text) => {
      if (!check) return fs.writeFile(TYPES_FILE, text).then(() => console.log(`wrote ${path.relative(process.cwd(), TYPES_FILE)}`));
      if ((await fs.readFile(TYPES_FILE, 'utf8')) !== text) {
        console.error('schemas/types.ts is stale: run `npm run schemas`');
        process.exit(1);
      }
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
