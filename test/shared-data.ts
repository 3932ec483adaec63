import * as path from 'node:path';

/**
 * The team's reference data (`shared/`) sits beside the repository checkout, both
 * here and in CI; CONFINE_SHARED overrides that for other layouts.
 */
export const SHARED_DIR = process.env.CONFINE_SHARED ?? path.resolve(__dirname, '..', '..', 'shared');
export const SEED_DIR = path.join(SHARED_DIR, 'data', 'seed');
export const sharedFile = (...parts: string[]) => path.join(SHARED_DIR, 'data', ...parts);
