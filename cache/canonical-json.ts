/**
 * Canonical JSON: object keys sorted, no whitespace. Two equal values always
 * serialise to the same bytes, so hashes of artifacts and fingerprints are stable
 * across runs, Node versions and the order in which code built the object.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[key];
      // undefined is dropped by JSON.stringify anyway; dropping it here keeps
      // {a: undefined} and {} hashing the same.
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
