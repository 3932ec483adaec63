import type Dockerode from 'dockerode';
import { isAlive } from '../trace/tracefs';
import { isOurs, ownership, TOKEN_LABEL } from './ownership';

export const LABEL = 'confine';
export const RUN_LABEL = 'confine.run';
export const OWNER_LABEL = 'confine.owner-pid';

/** The labels on every container confine runs, so a later run can find what a killed one left. */
export function ownLabels(runLabel: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [LABEL]: '1', [RUN_LABEL]: runLabel, [OWNER_LABEL]: String(process.pid), ...extra };
}

/**
 * Create options with the name and label that let a later run prove the container is
 * ours (system/docker/ownership.ts): every container confine creates goes through this.
 */
export function owned<T extends { Labels?: Record<string, string> }>(opts: T): T & { name: string } {
  const own = ownership();
  return { ...opts, name: own.name, Labels: { ...(opts.Labels ?? {}), ...own.labels } };
}

export interface Leftover {
  id: string;
  /** The container's own name, as the engine lists it without the leading '/'. */
  name?: string;
  image: string;
  ownerPid?: number;
  run?: string;
}

/**
 * Removes containers a killed confine left behind (kill -9 skips every finally):
 * those labelled `confine=1` whose owner process is gone and whose name carries this
 * installation's proof (system/docker/ownership.ts) — a label alone is inherited from an
 * image, so anyone's container of an image labelled `confine=1` is left alone. With onlyDeadOwners, a
 * confine run still alive keeps its containers, so two batches can run side by side.
 * A container without a readable owner counts as dead-owned. Pids are reused, so a
 * dead owner whose pid now belongs to another process is missed until that one ends;
 * that errs on the side of not removing someone's live container.
 */
export async function removeLeftovers(
  docker: Dockerode,
  opts: {
    onlyDeadOwners: boolean;
    onError?: (id: string, message: string) => void;
    /** Containers some confine made (see madeByAConfine) that this installation's secret cannot prove ours: left alone, said here. */
    onUnproven?: (containers: Leftover[]) => void;
  } = { onlyDeadOwners: true },
): Promise<Leftover[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL}=1`] } });
  const removed: Leftover[] = [];
  const unproven: Leftover[] = [];
  for (const c of list) {
    const ownerText = c.Labels?.[OWNER_LABEL];
    const owner = ownerText && /^\d+$/.test(ownerText) ? Number(ownerText) : undefined;
    if (opts.onlyDeadOwners && owner !== undefined && (owner === process.pid || isAlive(owner))) continue;
    // The engine is already removing it (and may be stuck at it: a busy overlay);
    // asking again only waits for the same failure.
    if (c.State === 'removing') continue;
    const leftover = { id: c.Id, image: c.Image, ownerPid: owner, run: c.Labels?.[RUN_LABEL], ...(c.Names?.[0] ? { name: c.Names[0].replace(/^\//, '') } : {}) };
    if (!isOurs(c)) {
      if (madeByAConfine(c)) unproven.push(leftover);
      continue;
    }
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(leftover);
    } catch (e) {
      // One container the engine cannot remove (an overlay still busy) must not stop
      // the others from being cleaned, nor the run: report it and go on.
      if ((e as { statusCode?: number }).statusCode !== 404) opts.onError?.(c.Id, (e as Error).message);
    }
  }
  if (unproven.length) opts.onUnproven?.(unproven);
  return removed;
}

/**
 * A container that a confine created (under its own name, `confine-` and 16 hex digits,
 * with an ownership token) but whose token this installation's secret does not prove:
 * a run's whose secret was since deleted or replaced, or another installation's (another
 * user, another CONFINE_STATE_DIR). An image's labels are inherited, but a container's
 * name is not, so a container of an image committed from ours is not counted.
 */
function madeByAConfine(c: { Names?: string[]; Labels?: Record<string, string> }): boolean {
  const token = c.Labels?.[TOKEN_LABEL];
  return !!token && /^[0-9a-f]{64}$/.test(token) && (c.Names ?? []).some((n) => /^\/?confine-[0-9a-f]{16}$/.test(n));
}
