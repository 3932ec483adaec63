import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ContentStore } from '../../cache/content-store';
import type { CacheKey } from '../../cache/digest';
import { Ledger, LedgerRecord } from '../../pipeline/ledger';
import { validateArtifact } from '../../schemas/validate';
import type {
  ElfScanArtifact,
  ExtractArtifact,
  ProfileArtifact,
  ResolveArtifact,
  SymbolsArtifact,
  TraceArtifact,
  VerifyArtifact,
} from '../../schemas/types';

/** Stage name → the artifact type it stores, for the stages reports read back. */
export interface StageArtifacts {
  'run-and-trace': TraceArtifact;
  'extract-binaries': ExtractArtifact;
  'symbol-scan': SymbolsArtifact;
  'syscall-resolve': ResolveArtifact;
  'profile-emit': ProfileArtifact;
  verify: VerifyArtifact;
}

/**
 * Read-only access to what earlier runs left in a cache directory: the ledger says
 * which key is an (image, stage)'s latest artifact, the content store returns it
 * validated against its schema. Reports never recompute anything.
 */
export class CacheReader {
  private latest?: Promise<Map<string, LedgerRecord>>;
  readonly store: ContentStore;

  constructor(readonly cacheDir: string) {
    // Read-only use: a corrupt entry is reported missing (the store also removes it, so the next run recomputes it).
    this.store = new ContentStore(cacheDir, validateArtifact);
  }

  /** Every (image, stage)'s last ledger record; the ledger file is read once per reader. */
  async records(): Promise<Map<string, LedgerRecord>> {
    this.latest ??= new Ledger(path.join(this.cacheDir, 'ledger.jsonl')).latest();
    return this.latest;
  }

  /** The last record for (image, stage), whatever its status. */
  async record(image: string, stage: string): Promise<LedgerRecord | undefined> {
    return (await this.records()).get(`${image}\u0000${stage}`);
  }

  /**
   * The latest artifact of a stage for an image: the newest ledger record with that
   * pair whose status is done or reused (a later `running`/`failed` record keeps the
   * earlier artifact's key, which is still the newest one that exists).
   */
  async artifact<S extends keyof StageArtifacts>(image: string, stage: S): Promise<StageArtifacts[S] | undefined> {
    const key = await this.latestDoneKey(image, stage);
    if (!key) return undefined;
    const r = await this.store.read<StageArtifacts[S]>(key as CacheKey);
    return r.status === 'hit' ? r.artifact : undefined;
  }

  async elfScan(key: string): Promise<ElfScanArtifact | undefined> {
    const r = await this.store.read<ElfScanArtifact>(key as CacheKey);
    return r.status === 'hit' ? r.artifact : undefined;
  }

  // A promise, not a map filled after an await: concurrent lookups must share one read.
  private doneKeys?: Promise<Map<string, string>>;

  private async latestDoneKey(image: string, stage: string): Promise<string | undefined> {
    this.doneKeys ??= this.readDoneKeys();
    return (await this.doneKeys).get(`${image}\u0000${stage}`);
  }

  private async readDoneKeys(): Promise<Map<string, string>> {
    const keys = new Map<string, string>();
    let text = '';
    try {
      text = await fs.readFile(path.join(this.cacheDir, 'ledger.jsonl'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as LedgerRecord;
        if (rec && rec.key && (rec.status === 'done' || rec.status === 'reused')) keys.set(`${rec.image}\u0000${rec.stage}`, rec.key);
      } catch {
        // a line cut by a crash
      }
    }
    return keys;
  }
}

/** Languages of an image's programs as the seed names them: Go when a Go binary ran, CCPP for other ELF code. */
export async function imageLanguages(reader: CacheReader, image: string): Promise<string[]> {
  const symbols = await reader.artifact(image, 'symbol-scan');
  if (!symbols) return [];
  const langs = new Set<string>();
  for (const f of symbols.files) {
    if (f.format !== 'elf') continue;
    const scan = await reader.elfScan(f.scanKey);
    langs.add(scan?.go ? 'Go' : 'CCPP');
  }
  return [...langs].sort();
}
