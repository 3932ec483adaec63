import type Dockerode from 'dockerode';
import { isAlive } from '../trace/tracefs';

export const LABEL = 'confine';
export const OWNER_LABEL = 'confine.owner-pid';
export const RUN_LABEL = 'confine.run';

/** The labels every container confine creates carries, so a later run can find its leftovers. */
export function ownLabels(runLabel: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [LABEL]: '1', [RUN_LABEL]: runLabel, [OWNER_LABEL]: String(process.pid), ...extra };
}

/**
 * Removes containers a killed confine left behind (kill -9 skips every finally):
 * those labelled `confine=1` whose owner process is gone. Containers of a confine
 * run still alive are left alone, so two batches can run side by side.
 */
export async function removeLeftovers(docker: Dockerode, opts: { onlyDeadOwners: boolean } = { onlyDeadOwners: true }): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL}=1`] } });
  const removed: string[] = [];
  for (const c of list) {
    const owner = Number(c.Labels?.[OWNER_LABEL]);
    if (opts.onlyDeadOwners && Number.isInteger(owner) && owner > 0 && isAlive(owner)) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(c.Id);
    } catch {
      /* already gone */
    }
  }
  return removed;
}
