import { statSync } from 'node:fs';
import type { ContentStore } from '../../cache/content-store';
import { sha256Hex } from '../../cache/digest';
import type { FileDigestIndex } from '../../cache/file-digests';
import { readDynamicInfo } from '../../analysis/elf';
import { libraryNamesIn } from '../../analysis/summary/dlopen-names';
import { cachedScan, type ScanJob } from '../../analysis/scan/scan-job';
import type { ScanPool } from '../../analysis/scan/scan-pool';
import { ConfineError } from '../../pipeline/errors';
import { readFileShared } from './shared-read';
import type { ElfScanArtifact } from '../../schemas/types';
import type { ObjectReader } from './host-resolver';
import { ObjectFactsStore } from './object-facts';
import { LibraryTreeIndex } from './library-trees';

/** Per-file summaries by content digest: in memory for this run, on disk with --cache. */
export class SummarySource {
  private readonly memo = new Map<string, Promise<ElfScanArtifact>>();
  private readonly digests = new WeakMap<Uint8Array, string>();
  constructor(
    readonly store?: ContentStore,
    /** Digests of host files by identity and change times (with --cache): a warm run re-hashes nothing. */
    private readonly files?: FileDigestIndex,
    /** Listings of library trees (dlopen names found by file name), kept with --cache while the directories are unchanged. */
    readonly trees: LibraryTreeIndex = LibraryTreeIndex.open(),
    /** Dynamic info and library names of objects by content digest (with --cache: kept between runs). */
    private readonly facts: ObjectFactsStore = ObjectFactsStore.open(),
  ) {}

  /** The digest of an object the resolver found: the reader's when it had one, else of its bytes. */
  objectDigest(o: { readonly bytes: Uint8Array; digest?: string }): string {
    return o.digest ?? this.digestOf(o.bytes);
  }

  /**
   * With --cache: a reader that takes an unchanged file's digest from the file index and
   * its dynamic info and library names from the facts store, so planning reads no file
   * it has seen before. The bytes are read when first asked for (a scan), and checked to
   * still have that digest, so a file changed in between is never analysed under the
   * old one's name.
   */
  reader(): ObjectReader | undefined {
    const index = this.files;
    if (!index) return undefined;
    return (hostPath, rootPath) => {
      try {
        if (!statSync(hostPath).isFile()) return null;
      } catch {
        return null;
      }
      let bytes: Uint8Array | undefined;
      // Whether the bytes read are the ones the digest was computed from.
      let hashed = false;
      const read = () => (bytes ??= readFileShared(hostPath));
      let digest: string;
      try {
        digest = index.digestOf(hostPath, () => {
          hashed = true;
          return `sha256:${sha256Hex(read())}`;
        });
      } catch {
        return null;
      }
      const checked = (): Uint8Array => {
        const b = read();
        if (!hashed) {
          if (`sha256:${sha256Hex(b)}` !== digest) throw new ConfineError('analysis-failed', `${hostPath} changed while it was being analysed; run again`);
          hashed = true;
        }
        this.digests.set(b, digest);
        return b;
      };
      let facts = this.facts.get(digest);
      if (!facts) {
        try {
          facts = { info: readDynamicInfo(checked(), rootPath) };
        } catch {
          return null;
        }
        this.facts.set(digest, facts);
      }
      const f = facts;
      return {
        get bytes() {
          return checked();
        },
        info: f.info,
        libraryNames: () => {
          if (!f.names) {
            f.names = libraryNamesIn(checked());
            this.facts.set(digest, f);
          }
          return f.names;
        },
        digest,
      };
    };
  }

  /** Keeps the facts learnt in this run (with --cache); not saved only costs reading again. */
  async saveFacts(): Promise<void> {
    await this.facts.save().catch(() => undefined);
  }

  /** digestOf for bytes just read from `absPath`, from the file index when the file is unchanged. */
  digestOfFile(absPath: string, bytes: Uint8Array): string {
    if (!this.files || this.digests.has(bytes)) return this.digestOf(bytes);
    const d = this.files.digestOf(absPath, () => `sha256:${sha256Hex(bytes)}`);
    this.digests.set(bytes, d);
    return d;
  }

  /** `sha256:` digest of a file's bytes (each buffer hashed once). */
  digestOf(bytes: Uint8Array): string {
    let d = this.digests.get(bytes);
    if (d === undefined) this.digests.set(bytes, (d = `sha256:${sha256Hex(bytes)}`));
    return d;
  }

  get(bytes: Uint8Array, pathForMessages: string, pool?: ScanPool): Promise<ElfScanArtifact> {
    const digest = this.digestOf(bytes);
    let p = this.memo.get(digest);
    if (!p) {
      const job: ScanJob = { bytes, digest, path: pathForMessages };
      p = pool ? pool.scan(job) : cachedScan(this.store, job);
      this.memo.set(digest, p);
    }
    return p;
  }
}

