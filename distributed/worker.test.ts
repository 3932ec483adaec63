import { ConfineError, ErrorKind } from '../pipeline/errors';
import type { UnitOutcome } from '../pipeline/runner';
import { retryReason } from './worker';

const failedAt = (kind: ErrorKind): UnitOutcome => ({
  unit: 'img',
  stages: [
    { stage: 'run-and-trace', status: kind === 'analysis-failed' ? 'done' : 'failed', ms: 1, ...(kind === 'analysis-failed' ? {} : { error: new ConfineError(kind, 'boom', { image: 'img' }) }) },
    { stage: 'symbol-scan', status: kind === 'analysis-failed' ? 'failed' : 'skipped', ms: 0, ...(kind === 'analysis-failed' ? { error: new ConfineError(kind, 'bad elf') } : {}) },
  ],
});

describe('retryReason', () => {
  it('gives engine failures back to the queue while tries remain', () => {
    expect(retryReason(failedAt('docker-unavailable'), 1, 3)).toMatch(/docker-unavailable: boom/);
    expect(retryReason(failedAt('container-start-failed'), 2, 3)).toMatch(/container-start-failed/);
  });

  it('returns the last try as the outcome, so it is reported once', () => {
    expect(retryReason(failedAt('docker-unavailable'), 3, 3)).toBeUndefined();
  });

  it('does not retry what is the image\'s own fault', () => {
    expect(retryReason(failedAt('image-not-found'), 1, 3)).toBeUndefined();
    expect(retryReason(failedAt('bad-input'), 1, 3)).toBeUndefined();
    expect(retryReason(failedAt('analysis-failed'), 1, 3)).toBeUndefined();
  });

  it('leaves a finished image alone', () => {
    expect(retryReason({ unit: 'img', stages: [{ stage: 'run-and-trace', status: 'done', ms: 1 }] }, 1, 3)).toBeUndefined();
  });
});
