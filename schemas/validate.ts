import Ajv, { ValidateFunction } from 'ajv';
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
  ajv = new Ajv({ allErrors: false, strict: true });
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

/** Returns a short description of the first problem, or undefined when valid. */
export function validateArtifact(schemaId: string, artifact: unknown): string | undefined {
  let fn = compiled.get(schemaId);
  if (!fn) {
    fn = instance().getSchema(schemaId);
    if (!fn) return `unknown schema ${schemaId}`;
    compiled.set(schemaId, fn);
  }
  if (fn(artifact)) return undefined;
  const e = fn.errors?.[0];
  return e ? `${e.instancePath || '(root)'} ${e.message}` : 'invalid';
}
