import * as fs from 'node:fs';
import { sharedFile } from '../test/shared-data';
import { DEFAULT_PROFILE_FILE, defaultProfile, dockerDefaultAllowed, readProfile } from './docker-profile';

describe('bundled default profile', () => {
  it('is byte for byte the reference copy of Docker’s default', () => {
    expect(fs.readFileSync(DEFAULT_PROFILE_FILE, 'utf8')).toBe(fs.readFileSync(sharedFile('docker-default-seccomp.json'), 'utf8'));
  });

  it('loads and evaluates like the file on disk', () => {
    const fromDisk = readProfile(DEFAULT_PROFILE_FILE);
    if (!fromDisk.ok) throw fromDisk.error;
    expect(defaultProfile().profile).toEqual(fromDisk.value.profile);
    expect(dockerDefaultAllowed(defaultProfile().profile).size).toBeGreaterThan(280);
  });
});
