import type Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * One ajv instance for every artifact schema in this folder, compiled once. The
 * content store calls it on every write and every read back.
 */
let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

function instance(): Ajv {
  if (ajv) return ajv;
  // Loaded only when some schema has no compiled function (precompiled below).
  const { default: AjvClass } = require('ajv') as typeof import('ajv');
  ajv = new AjvClass({ allErrors: false, strict: true });
  for (const f of fs.readdirSync(__dirname).filter((n) => n.endsWith('.schema.json')).sort()) {
    const schema = JSON.parse(fs.readFileSync(path.join(__dirname, f), 'utf8'));
    ajv.addSchema(schema);
  }
  return ajv;
}

export function schemaIds(): string[] {
  const a = instance();
  return Object.keys(a.schemas).filter((id) => id.startsWith('confine/'));
}

/**
 * The function ajv compiled ahead for this schema (schemas/validators/, `npm run
 * schemas`), while the schema file is still the one it was compiled from: loading ajv
 * and compiling at start-up costs more than a warm `confine analyze` does otherwise.
 */
export function precompiled(schemaId: string, readSchema = (file: string): Buffer => fs.readFileSync(file)): ValidateFunction | undefined {
  // Ids are confine/NAME/vN for NAME.schema.json; compiledFrom says which id and file the module is for.
  const name = /^confine\/([a-z0-9-]+)\/v\d+$/.exec(schemaId)?.[1];
  if (!name) return undefined;
  let mod: { validate: ValidateFunction; compiledFrom: { id: string; file: string; sha256: string } };
  let text: Buffer;
  try {
    mod = require(`./validators/${name}`);
    text = readSchema(path.join(__dirname, mod.compiledFrom.file));
  } catch {
    return undefined;
  }
  const fresh = mod.compiledFrom.id === schemaId && createHash('sha256').update(text).digest('hex') === mod.compiledFrom.sha256;
  return fresh ? mod.validate : undefined;
}

/** Returns a short description of the first problem, or undefined when valid. */
export function validateArtifact(schemaId: string, artifact: unknown): string | undefined {
  let fn = compiled.get(schemaId);
  if (!fn) {
    fn = precompiled(schemaId) ?? instance().getSchema(schemaId);
    if (!fn) return `unknown schema ${schemaId}`;
    compiled.set(schemaId, fn);
  }
  if (fn(artifact)) return undefined;
  const e = fn.errors?.[0];
  return e ? `${e.instancePath || '(root)'} ${e.message}` : 'invalid';
}
