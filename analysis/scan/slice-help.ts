import { MessageChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { at } from './timing-stamp';
import { decodeSlice, trimmed, type SliceCache, type SliceResult, type SliceRunner } from '../x86/decode-slices';
import type { SliceJob } from '../x86/slice-job';

/**
 * Ranges of one large object's decode (analysis/x86/decode-slices.ts), shared out among the
 * scan workers. The worker scanning the object (the owner) offers the ranges through
 * its pool (scan-pool.ts, bounded-scan.ts), which hands the offer to every worker that
 * is idle then or becomes idle while it is open. Owner and helpers take ranges from one
 * shared counter, so nobody waits for a busy worker: ranges nobody else took the owner
 * decodes itself. Helpers post their ranges back on their own channel; the owner, whose
 * analysis is synchronous, collects them with receiveMessageOnPort and Atomics.wait.
 *
 * Bounded: a helper that dies or stalls holding a range costs the owner HELPER_PATIENCE
 * at most, then the owner decodes that range itself (ranges are deterministic: the same
 * result whoever decodes it). An owner stopped mid-scan (abort, time limit) has its
 * offer cancelled by the pool, and helpers stop at their next range.
 */

/** What the owner posts to its pool. */
export interface HelpOffer {
  offer: number;
  /** [next range to take, ranges posted by helpers, cancelled]. */
  ctrl: Int32Array;
  job: SliceJob;
  count: number;
}

/** Owner → pool messages (alongside ScanReply). */
export type HelpMessage = { helpOffer: HelpOffer; ports: MessagePort[] } | { helpDone: number };

/** Pool → helper: one offer, with the channel to post ranges on. */
export interface HelpRequest {
  help: HelpOffer;
  port: MessagePort;
}

const NEXT = 0;
const POSTED = 1;
const CANCELLED = 2;

/** How long the owner waits for a range a helper took, beyond the longest range it decoded itself. */
const HELPER_PATIENCE_MS = 2000;

let nextOffer = 0;

/**
 * The owner's runner: offers the ranges through `post` (to the pool, for up to `helpers`
 * other workers) and decodes ranges itself until none are left, then collects the others.
 */
export function helpedSliceRunner(post: (m: HelpMessage, transfer: MessagePort[]) => void, helpers: number): SliceRunner | undefined {
  if (helpers < 1) return undefined;
  return (job: SliceJob, count: number, decodeHere: (k: number) => SliceResult): SliceResult[] => {
    const ctrl = new Int32Array(new SharedArrayBuffer(3 * 4));
    // One copy of the code every helper reads in place.
    const code = new Uint8Array(new SharedArrayBuffer(job.code.length));
    code.set(job.code);
    const channels = Array.from({ length: helpers }, () => new MessageChannel());
    const offer = nextOffer++;
    const ports = channels.map((c) => c.port2);
    post({ helpOffer: { offer, ctrl, job: { ...job, code }, count }, ports }, ports);
    const results: (SliceResult | undefined)[] = new Array(count);
    let have = 0;
    let receiving = 0;
    const drain = () => {
      const t = performance.now();
      for (const c of channels) {
        for (let m = receiveMessageOnPort(c.port1); m; m = receiveMessageOnPort(c.port1)) {
          const r = m.message as SliceResult;
          if (!results[r.k]) {
            results[r.k] = r;
            have++;
          }
        }
      }
      receiving += performance.now() - t;
    };
    let slowest = 0;
    let mine = 0;
    const started = performance.now();
    try {
      for (;;) {
        const k = Atomics.add(ctrl, NEXT, 1);
        if (k >= count) break;
        const t0 = performance.now();
        results[k] = decodeHere(k);
        slowest = Math.max(slowest, performance.now() - t0);
        have++;
        mine++;
      }
      const since = performance.now();
      while (have < count) {
        const seen = Atomics.load(ctrl, POSTED);
        drain();
        if (have >= count) break;
        if (performance.now() - since > HELPER_PATIENCE_MS + 4 * slowest) {
          // A helper died or stalls: its ranges are decoded here (the same result).
          for (let k = 0; k < count; k++) if (!results[k]) results[k] = decodeHere(k);
          break;
        }
        Atomics.wait(ctrl, POSTED, seen, 20);
      }
    } finally {
      Atomics.store(ctrl, CANCELLED, 1);
      post({ helpDone: offer }, []);
      for (const c of channels) c.port1.close();
    }
    if (process.env.CONFINE_ANALYZE_TIMING) {
      process.stderr.write(`[analyze] ${at()}${job.code.length >>> 20} MB of code decoded in ${count} ranges (${count - mine} by other workers) in ${((performance.now() - started) / 1000).toFixed(2)} s, ${(receiving / 1000).toFixed(2)} s of it receiving theirs\n`);
    }
    return results as SliceResult[];
  };
}

/** A helper's part: takes ranges of the offer until none are left (or it is cancelled), posting each back. */
export function helpWith(req: HelpRequest): number {
  const { help, port } = req;
  const cache: SliceCache = {};
  let done = 0;
  try {
    for (;;) {
      if (Atomics.load(help.ctrl, CANCELLED)) break;
      const k = Atomics.add(help.ctrl, NEXT, 1);
      if (k >= help.count) break;
      const { result, transfer } = trimmed(decodeSlice(help.job, k, undefined, cache), help.job, cache);
      port.postMessage(result, transfer);
      Atomics.add(help.ctrl, POSTED, 1);
      Atomics.notify(help.ctrl, POSTED);
      done++;
    }
  } finally {
    port.close();
  }
  return done;
}

/**
 * The pool's side: open offers by worker, handed to workers that are idle. One port per
 * helper; an offer with no port left, done, or whose owner is gone is dropped.
 */
export class HelpBoard<W> {
  private readonly open: { owner: W; offer: HelpOffer; ports: MessagePort[]; given: Set<W | undefined> }[] = [];

  /** Handles an owner's message; true if it was one (then the caller should give offers to its idle workers). */
  take(owner: W, m: unknown): boolean {
    if (!m || typeof m !== 'object') return false;
    if ('helpOffer' in m) {
      const h = m as Extract<HelpMessage, { helpOffer: HelpOffer }>;
      this.open.push({ owner, offer: h.helpOffer, ports: h.ports, given: new Set() });
      return true;
    }
    if ('helpDone' in m) {
      const i = this.open.findIndex((o) => o.owner === owner && o.offer.offer === (m as { helpDone: number }).helpDone);
      if (i >= 0) this.drop(i);
      return true;
    }
    return false;
  }

  /** The next offer `idle` can help with (not its own, not one it has), with the port it posts on; or undefined. */
  next(idle: W): HelpRequest | undefined {
    for (const o of this.open) {
      if (o.owner === idle || o.given.has(idle) || !o.ports.length || Atomics.load(o.offer.ctrl, NEXT) >= o.offer.count) continue;
      o.given.add(idle);
      return { help: o.offer, port: o.ports.pop()! };
    }
    return undefined;
  }

  /** Is some offer still looking for help (a pool with room may start a worker for it)? */
  wanted(): boolean {
    return this.open.some((o) => o.ports.length > 0 && Atomics.load(o.offer.ctrl, NEXT) < o.offer.count);
  }

  /** The owner stopped (terminated, died): its helpers stop at their next range. */
  cancel(owner: W): void {
    for (let i = this.open.length - 1; i >= 0; i--) {
      if (this.open[i].owner !== owner) continue;
      Atomics.store(this.open[i].offer.ctrl, CANCELLED, 1);
      this.drop(i);
    }
  }

  private drop(i: number): void {
    const [o] = this.open.splice(i, 1);
    for (const p of o.ports) p.close();
  }
}
