/**
 * Derives the TypeScript types of every artifact from its JSON Schema, so the types
 * that document a stage's contract and the schemas ajv checks cannot drift apart, and
 * ajv's validation code for every schema, compiled ahead (schemas/validators/), so a
 * run that only reads cached entries (a warm `confine analyze`) checks them without
 * loading ajv and compiling schemas at start-up.
 * `npm run schemas` rewrites both; `--check` (run by a test) fails when either is stale.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import { compile } from 'json-schema-to-typescript';

export const SCHEMA_DIR = path.join(__dirname, '..', 'schemas');
export const TYPES_FILE = path.join(SCHEMA_DIR, 'types.ts');
export const VALIDATORS_DIR = path.join(SCHEMA_DIR, 'validators');

const schemaFiles = async () => (await fs.readdir(SCHEMA_DIR)).filter((f) => f.endsWith('.schema.json')).sort();

export async function renderSchemaTypes(): Promise<string> {
  const parts = ['/* eslint-disable */\n// Generated from schemas/*.schema.json by scripts/gen-schema-types.ts — do not edit; run `npm run schemas`.\n'];
  for (const f of await schemaFiles()) {
    const schema = JSON.parse(await fs.readFile(path.join(SCHEMA_DIR, f), 'utf8'));
    const ts = await compile(schema, schema.title, { bannerComment: '', additionalProperties: false, format: true, strictIndexSignatures: false });
    parts.push(`// ${f}\n${ts}`);
  }
  return parts.join('\n');
}

/**
 * ajv's standalone code for each schema (schemas/validators/NAME.ts for NAME.schema.json,
 * one module each, so a run loads only the checks it uses), with the same options
 * schemas/validate.ts compiles with, and the schema file's sha256: validate.ts uses a
 * compiled function only while its file still has that digest, so a schema edited
 * without regenerating is still checked, by ajv.
 */
export async function renderValidators(): Promise<Map<string, string>> {
  const files = await schemaFiles();
  const texts = new Map<string, string>();
  for (const f of files) texts.set(f, await fs.readFile(path.join(SCHEMA_DIR, f), 'utf8'));
  const out = new Map<string, string>();
  for (const f of files) {
    // Every schema is added, so one may refer to another.
    const ajv = new Ajv({ allErrors: false, strict: true, code: { source: true, esm: true } });
    for (const t of texts.values()) ajv.addSchema(JSON.parse(t));
    const text = texts.get(f)!;
    const id = JSON.parse(text).$id as string;
    const compiledFrom = { id, file: f, sha256: createHash('sha256').update(text).digest('hex') };
    out.set(
      path.join(VALIDATORS_DIR, `${f.replace(/\.schema\.json$/, '')}.ts`),
      [
        '/* eslint-disable */',
        '// @ts-nocheck',
        `// Generated from schemas/${f} by scripts/gen-schema-types.ts (ajv standalone code) — do not edit; run \`npm run schemas\`.`,
        standaloneCode(ajv, { validate: id }),
        `export const compiledFrom = ${JSON.stringify(compiledFrom)};`,
        '',
      ].join('\n'),
    );
  }
  return out;
}

if (require.main === module) {
  const check = process.argv.includes('--check');
  (async () => {
    const wanted = new Map([[TYPES_FILE, await renderSchemaTypes()], ...(await renderValidators())]);
    const present = (await fs.readdir(VALIDATORS_DIR).catch(() => [] as string[])).map((f) => path.join(VALIDATORS_DIR, f));
    const stale = present.filter((f) => !wanted.has(f));
    if (check) {
      for (const [file, text] of wanted) {
        if ((await fs.readFile(file, 'utf8').catch(() => '')) !== text) stale.push(file);
      }
      if (stale.length) {
        console.error(`${stale.map((f) => path.relative(process.cwd(), f)).join(', ')} stale: run \`npm run schemas\``);
        process.exit(1);
      }
      return;
    }
    await fs.mkdir(VALIDATORS_DIR, { recursive: true });
    for (const f of stale) await fs.rm(f);
    for (const [file, text] of wanted) await fs.writeFile(file, text);
    console.log(`wrote ${path.relative(process.cwd(), TYPES_FILE)} and ${wanted.size - 1} files in ${path.relative(process.cwd(), VALIDATORS_DIR)}/`);
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
