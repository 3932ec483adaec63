import { readFileSync } from 'node:fs';
import type { DynamicInfo } from '../../analysis/elf';
import { writeFileAtomic } from '../../cache/content-store';

/** What planning a program needs of one object: its dynamic section and the library names its strings spell. */
export interface ObjectFacts {
  info: DynamicInfo;
  /** Absent until someone asked (only objects searched for dlopen names are). */
  names?: string[];
}

/**
 * Facts of ELF objects by content digest, kept beside the file-digest index: with both,
 * a warm `confine analyze` plans every program (load order, dlopen candidates) without
 * reading the tens of megabytes of the files again. Keyed by content and by the digest
 * of the code that computed them (`code`: a store written by other code is empty), an
 * entry never goes stale; a missing or damaged file is an empty store (it only ever
 * saves work).
 */
export class ObjectFactsStore {
  private dirty = false;

  private constructor(
    private readonly file: string | undefined,
    private readonly code: string,
    private readonly entries: Map<string, ObjectFacts>,
  ) {}

  static open(file?: string, code = ''): ObjectFactsStore {
    const entries = new Map<string, ObjectFacts>();
    if (file) {
      try {
        const data = JSON.parse(readFileSync(file, 'utf8')) as { code?: unknown; entries?: Record<string, unknown> };
        if (data.code === code && data.entries && typeof data.entries === 'object') {
          for (const [d, f] of Object.entries(data.entries)) if (/^sha256:[0-9a-f]{64}$/.test(d) && isFacts(f)) entries.set(d, f);
        }
      } catch {
        // absent or damaged: start empty
      }
    }
    return new ObjectFactsStore(file, code, entries);
  }

  get(digest: string): ObjectFacts | undefined {
    return this.entries.get(digest);
  }

  /** Record facts computed from bytes whose digest was checked to be `digest`. */
  set(digest: string, facts: ObjectFacts): void {
    this.entries.set(digest, facts);
    this.dirty = true;
  }

  async save(): Promise<void> {
    if (!this.dirty || !this.file) return;
    await writeFileAtomic(this.file, JSON.stringify({ code: this.code, entries: Object.fromEntries(this.entries) }));
    this.dirty = false;
  }
}

const isStrings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');

function isFacts(f: unknown): f is ObjectFacts {
  if (!f || typeof f !== 'object') return false;
  const { info, names } = f as Record<string, unknown>;
  if (!info || typeof info !== 'object') return false;
  const i = info as Record<string, unknown>;
  return (
    (i.elfClass === 32 || i.elfClass === 64) &&
    typeof i.machine === 'number' &&
    typeof i.type === 'string' &&
    typeof i.isPie === 'boolean' &&
    typeof i.isStatic === 'boolean' &&
    (i.interp === undefined || typeof i.interp === 'string') &&
    (i.soname === undefined || typeof i.soname === 'string') &&
    isStrings(i.needed) &&
    isStrings(i.runpath) &&
    isStrings(i.rpath) &&
    (names === undefined || isStrings(names))
  );
}
