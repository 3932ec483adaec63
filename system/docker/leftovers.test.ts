import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { cleanLeftovers, unprovenWarning } from '../../cli/profiles-command';
import type { Reporter } from '../../pipeline/reporter';
import type { Services } from '../../stages/services';
import { OWNER_LABEL, owned, removeLeftovers, type Leftover } from './leftovers';

type Listed = { Id: string; Names: string[]; Image: string; State: string; Labels: Record<string, string> };

/** An engine that lists the given containers and records which ones are removed. */
function fakeEngine(list: Listed[]) {
  const removedIds: string[] = [];
  const docker = {
    listContainers: async () => list,
    getContainer: (id: string) => ({ remove: async () => void removedIds.push(id) }),
  } as unknown as Dockerode;
  return { docker, removedIds };
}

describe('leftovers of a killed run', () => {
  const dead = spawnSync('true').pid!; // a pid that has exited
  const dirs: string[] = [];
  const stateDir = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'confine-state-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    delete process.env.CONFINE_STATE_DIR;
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A container as confine creates one, under whatever secret CONFINE_STATE_DIR holds now. */
  const made = (id: string, owner: number): Listed => {
    const o = owned({ Labels: { confine: '1', [OWNER_LABEL]: String(owner), 'confine.run': `run-${id}` } });
    return { Id: id.padEnd(64, '0'), Names: [`/${o.name}`], Image: 'sha256:img', State: 'exited', Labels: o.Labels };
  };

  it('removes what the secret proves ours, and reports (without removing) what a lost secret no longer proves', async () => {
    process.env.CONFINE_STATE_DIR = stateDir();
    const killedEarlier = made('aa', dead); // its run's secret is then deleted
    const liveElsewhere = made('bb', process.ppid); // a run still going keeps its containers
    process.env.CONFINE_STATE_DIR = stateDir(); // what a deleted secret amounts to: a new one
    const ours = made('cc', dead);
    const fromImage: Listed = { Id: 'dd'.padEnd(64, '0'), Names: ['/happy_turing'], Image: 'evil', State: 'exited', Labels: { ...killedEarlier.Labels } };
    const { docker, removedIds } = fakeEngine([killedEarlier, liveElsewhere, ours, fromImage]);
    const unproven: Leftover[][] = [];
    const removed = await removeLeftovers(docker, { onlyDeadOwners: true, onUnproven: (l) => unproven.push(l) });
    expect(removed.map((r) => r.id)).toEqual([ours.Id]);
    expect(removedIds).toEqual([ours.Id]);
    // The killed run's container is named; an image's copy of its labels under another name is not ours to speak of.
    expect(unproven).toEqual([[expect.objectContaining({ id: killedEarlier.Id, name: killedEarlier.Names[0].slice(1), run: 'run-aa' })]]);
  });

  it('says so at the start of a run, with the command that removes them', async () => {
    process.env.CONFINE_STATE_DIR = stateDir();
    const lost = [made('e1', dead), made('e2', dead)];
    process.env.CONFINE_STATE_DIR = stateDir();
    const { docker, removedIds } = fakeEngine(lost);
    let err = '';
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    try {
      await cleanLeftovers({ docker: async () => docker } as unknown as Services, {} as Reporter);
    } finally {
      spy.mockRestore();
    }
    expect(removedIds).toEqual([]);
    expect(err).toContain('2 container(s) made by confine are left');
    expect(err).toContain(lost[0].Names[0].slice(1));
    expect(err).toContain(`docker rm -f -v ${lost[0].Id.slice(0, 12)} ${lost[1].Id.slice(0, 12)}`);
    expect(unprovenWarning(lost.map((c) => ({ id: c.Id, image: c.Image })))).toMatch(/cannot prove them/);
  });
});
