/** What claiming a stage's key tells a unit, and how it lets waiting units go on. */
export interface StageClaim {
  /** Another unit of this run held the key and stored its artifact (what --force may reuse). */
  storedByThisRun: boolean;
  /** Lets units waiting on this key go on; a no-op unless this unit claimed it. */
  release(stored: boolean): void;
}

/**
 * Stage computations in progress by key. Another unit with the very same fingerprint
 * (a re-tagged image past the stages that read its ID) waits for the one computing
 * it, then takes its artifact from the store instead of computing it again.
 */
export class StageClaims {
  /** Resolves (never rejects) to whether the claiming unit stored an artifact. */
  private readonly inflight = new Map<string, Promise<boolean>>();

  async claim(key: string): Promise<StageClaim> {
    const computing = this.inflight.get(key);
    if (computing) return { storedByThisRun: await computing, release: () => undefined };
    // Registered before any await, so a second unit arriving now sees this claim.
    let release: (stored: boolean) => void = () => undefined;
    this.inflight.set(
      key,
      new Promise<boolean>((resolve) => {
        release = (stored) => {
          this.inflight.delete(key);
          resolve(stored);
        };
      }),
    );
    return { storedByThisRun: false, release };
  }
}
