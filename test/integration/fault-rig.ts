import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { TEST_START_SEC } from './cli-harness';

/** What the fault tests share: the two smallest sample images, the ledger, our containers. */
export const IMAGES = ['confine-sample/c-static:latest', 'confine-sample/c-musl:latest'];
export const LIST = [
  `1;c-static;${IMAGES[0]};['Web Servers'];0;Unofficial;-p 19286:8080`,
  `2;c-musl;${IMAGES[1]};['Web Servers'];0;Unofficial;-p 19287:8080`,
];
export const docker = new Dockerode();

export interface Rec {
  run: string;
  image: string;
  stage: string;
  status: string;
  key?: string;
  error?: { kind: string; message: string };
}

/** The ledger's records; a line cut by a kill is skipped, as confine skips it. */
export const ledger = (cache: string): Rec[] =>
  readFileSync(path.join(cache, 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean).flatMap((l) => {
    try {
      return [JSON.parse(l) as Rec];
    } catch {
      return [];
    }
  });
export const runs = (recs: Rec[]) => [...new Set(recs.map((r) => r.run))];

let imageIds: Promise<string[]> | undefined;

/** Containers of the two images made since the test file started (older stuck leftovers are not its doing). */
export async function ourContainers(): Promise<string[]> {
  imageIds ??= Promise.all(IMAGES.map(async (ref) => (await docker.getImage(ref).inspect()).Id));
  const ids = await imageIds;
  const list = await docker.listContainers({ all: true, filters: { label: ['confine=1'] } });
  return list.filter((c) => ids.includes(c.ImageID) && c.Created >= TEST_START_SEC).map((c) => c.Id);
}
