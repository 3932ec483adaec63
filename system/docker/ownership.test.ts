import { chmodSync, chownSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installationSecret, isOurs, ownership, TOKEN_LABEL } from './ownership';

describe('container ownership proof', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'confine-state-'));
  beforeAll(() => {
    process.env.CONFINE_STATE_DIR = dir;
  });
  afterAll(() => {
    delete process.env.CONFINE_STATE_DIR;
  });

  it('creates the secret once, mode 0600, and proves only the name it was made for', () => {
    const own = ownership();
    expect(statSync(path.join(dir, 'owner-secret')).mode & 0o777).toBe(0o600);
    expect(isOurs({ Names: [`/${own.name}`], Labels: own.labels })).toBe(true);
    // An image committed from our container carries our labels; its containers get other names.
    expect(isOurs({ Names: ['/someone-elses'], Labels: own.labels })).toBe(false);
    // The labels an image can set without the secret.
    expect(isOurs({ Names: [`/${own.name}`], Labels: { confine: '1', 'confine.owner-pid': '1' } })).toBe(false);
    expect(isOurs({ Names: [`/${own.name}`], Labels: { [TOKEN_LABEL]: 'f'.repeat(64) } })).toBe(false);
  });

  it('refuses a secret file others can read, or one reached through a link', () => {
    const open = mkdtempSync(path.join(os.tmpdir(), 'confine-state-'));
    writeFileSync(path.join(open, 'owner-secret'), 'a'.repeat(64), { mode: 0o644 });
    expect(() => installationSecret(open)).toThrow(/mode 0600/);
    const linked = mkdtempSync(path.join(os.tmpdir(), 'confine-state-'));
    symlinkSync(path.join(dir, 'owner-secret'), path.join(linked, 'owner-secret'));
    expect(() => installationSecret(linked)).toThrow(/installation secret/);
  });

  // Another user could delete or swap such a secret: our leftovers would stop being proven ours, theirs would be.
  it('refuses a secret file another user owns, naming it', () => {
    const theirs = mkdtempSync(path.join(os.tmpdir(), 'confine-state-'));
    writeFileSync(path.join(theirs, 'owner-secret'), 'a'.repeat(64), { mode: 0o600 });
    chownSync(path.join(theirs, 'owner-secret'), 12345, 12345);
    expect(() => installationSecret(theirs)).toThrow(`${path.join(theirs, 'owner-secret')} is owned by uid 12345`);
  });

  it('refuses a state directory that every user can write, or that another user owns', () => {
    const open = mkdtempSync(path.join(os.tmpdir(), 'confine-state-'));
    writeFileSync(path.join(open, 'owner-secret'), 'a'.repeat(64), { mode: 0o600 });
    chmodSync(open, 0o1777);
    expect(() => installationSecret(open)).toThrow(/set CONFINE_STATE_DIR.*the state directory .*writable by every user/);
    const foreign = path.join(mkdtempSync(path.join(os.tmpdir(), 'confine-state-')), 'state');
    mkdirSync(foreign, { mode: 0o700 });
    chownSync(foreign, 12345, 12345);
    expect(() => installationSecret(foreign)).toThrow(/owned by uid 12345/);
  });
});
