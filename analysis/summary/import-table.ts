/** Synthetic import key for an unnamed IRELATIVE PLT stub: the call goes wherever the resolver says. */
export const IFUNC_PREFIX = '\0ifunc:';

/** An import's key: memcpy@GLIBC_2.14 and memcpy@GLIBC_2.2.5 are different definitions. */
export function importKey(name: string, version?: string): string {
  return version ? `${name}@${version}` : name;
}

/** The name a symbol is exported under: `name@@VERSION` for the default version, `name@VERSION` for another. */
export function exportName(s: { name: string; version?: string; versionDefault?: boolean }): string {
  return s.version ? `${s.name}@${s.versionDefault ? '@' : ''}${s.version}` : s.name;
}

/** The summary's import list: each key gets the next index the first time it is named. */
export class ImportTable {
  readonly keys: string[] = [];
  private readonly index = new Map<string, number>();

  of(key: string): number {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.keys.length;
      this.keys.push(key);
      this.index.set(key, i);
    }
    return i;
  }
}
