import { orderStages } from '../pipeline/dag';
import { allStages, STAGE_NAMES } from './';
import { Services } from './services';

describe('the confine pipeline', () => {
  it('registers every stage of the design, in dependency order, each with a schema', () => {
    const stages = orderStages(allStages(new Services('test')));
    expect(stages.map((s) => s.name)).toEqual(STAGE_NAMES);
    for (const s of stages) expect(s.schema).toMatch(/^confine\/[a-z-]+\/v\d+$/);
  });
});
