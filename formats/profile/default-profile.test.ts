import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_PROFILE_FILE, defaultProfile, dockerDefaultAllowed, readProfile } from './docker-profile';

describe('bundled default profile', () => {
  it('is byte for byte the upstream file its provenance note names (by digest)', () => {
    const note = fs.readFileSync(path.join(__dirname, 'default-profile.md'), 'utf8');
    const recorded = /^sha256: ([0-9a-f]{64})$/m.exec(note)?.[1];
    expect(recorded).toBeDefined();
    expect(createHash('sha256').update(fs.readFileSync(DEFAULT_PROFILE_FILE)).digest('hex')).toBe(recorded);
  });

  it('loads and evaluates like the file on disk', () => {
    const fromDisk = readProfile(DEFAULT_PROFILE_FILE);
    if (!fromDisk.ok) throw fromDisk.error;
    expect(defaultProfile().profile).toEqual(fromDisk.value.profile);
    expect(dockerDefaultAllowed(defaultProfile().profile).size).toBeGreaterThan(280);
  });
});
