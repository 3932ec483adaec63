import { promises as fs, closeSync, constants, mkdirSync, openSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export type StageStatus = 'pending' | 'running' | 'done' | 'reused' | 'failed' | 'skipped' | 'interrupted';

export interface LedgerRecord {
  /** ISO time of the record. */
  t: string;
  run: string;
  /** The image's unit id (its name in the list, or `*` for global stages). */
  image: string;
  stage: string;
  status: StageStatus;
  key?: string;
  error?: { kind: string; message: string };
}

/**
 * An append-only log of (image, stage) → status. Each record is one short line
 * appended with O_APPEND, so a crash or kill -9 can at worst cut the last line, which
 * the reader ignores. The last record of a pair wins: `running` with nothing after it
 * means the run died mid-stage. The content store decides what is reused; the ledger
 * says what happened, so a rerun can report what it resumes and retries.
 */
const APPEND_NO_LINK = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

export class Ledger {
  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  }

  append(rec: Omit<LedgerRecord, 't'>): void {
    // Synchronous on purpose: the record must be on disk before the stage's work
    // starts or is reported finished, even if the process is killed right after.
    // Never through a link: a ledger.jsonl planted as one would have root append where it leads.
    const fd = openSync(this.file, APPEND_NO_LINK, 0o644);
    try {
      writeFileSync(fd, JSON.stringify({ t: new Date().toISOString(), ...rec }) + '\n');
    } finally {
      closeSync(fd);
    }
  }

  /** The last record of every (image, stage) pair. */
  async latest(): Promise<Map<string, LedgerRecord>> {
    const out = new Map<string, LedgerRecord>();
    let text = '';
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw e;
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as LedgerRecord;
        if (rec && typeof rec.image === 'string' && typeof rec.stage === 'string') out.set(pairKey(rec.image, rec.stage), rec);
      } catch {
        // a line cut by a crash: ignored, the stage simply reruns
      }
    }
    return out;
  }
}

export function pairKey(image: string, stage: string): string {
  return `${image}\u0000${stage}`;
}
