import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOCKER_HUB_KEY, registryAuth, registryOf } from './registry-auth';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-auth-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
const config = (c: unknown) => fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c));
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('registryOf', () => {
  it.each([
    ['nginx', 'docker.io'],
    ['nginx:1.25', 'docker.io'],
    ['library/nginx:latest', 'docker.io'],
    ['bitnami/redis', 'docker.io'],
    ['docker.io/library/nginx', 'docker.io'],
    ['index.docker.io/x/y', 'docker.io'],
    ['ghcr.io/owner/app:v1', 'ghcr.io'],
    ['localhost/x', 'localhost'],
    ['localhost:5000/x/y:2', 'localhost:5000'],
    ['registry.example.com:8443/a@sha256:' + '0'.repeat(64), 'registry.example.com:8443'],
  ])('%s is on %s', (ref, want) => expect(registryOf(ref)).toBe(want));
});

describe('registryAuth', () => {
  it('is anonymous without a config file', async () => {
    expect(await registryAuth('nginx', { configDir: dir })).toEqual({ source: 'anonymous (no Docker config)' });
  });

  it("reads Docker Hub's inline auths entry for an unqualified name", async () => {
    config({ auths: { [DOCKER_HUB_KEY]: { auth: b64('alice:s3:cr3t') }, 'ghcr.io': { auth: b64('bob:x') } } });
    const r = await registryAuth('redis:7', { configDir: dir });
    expect(r.auth).toEqual({ username: 'alice', password: 's3:cr3t', serveraddress: DOCKER_HUB_KEY });
  });

  it('matches an auths key written with a scheme, and none for another registry', async () => {
    config({ auths: { 'https://ghcr.io': { auth: b64('bob:x') } } });
    expect((await registryAuth('ghcr.io/o/a', { configDir: dir })).auth).toEqual({ username: 'bob', password: 'x', serveraddress: 'ghcr.io' });
    expect((await registryAuth('quay.io/o/a', { configDir: dir })).auth).toBeUndefined();
  });

  it("asks the registry's credHelper before credsStore and auths", async () => {
    config({ credHelpers: { 'ghcr.io': 'gh' }, credsStore: 'desktop', auths: { 'ghcr.io': { auth: b64('inline:no') } } });
    const asked: string[][] = [];
    const r = await registryAuth('ghcr.io/o/a', {
      configDir: dir,
      runHelper: async (name, url) => (asked.push([name, url]), JSON.stringify({ ServerURL: url, Username: 'carol', Secret: 'tok' })),
    });
    expect(asked).toEqual([['gh', 'ghcr.io']]);
    expect(r).toEqual({ auth: { username: 'carol', password: 'tok', serveraddress: 'ghcr.io' }, source: 'docker-credential-gh' });
  });

  it("uses credsStore for Docker Hub with the CLI's server URL; '<token>' is an identity token", async () => {
    config({ credsStore: 'pass', auths: { [DOCKER_HUB_KEY]: {} } });
    const r = await registryAuth('nginx', { configDir: dir, runHelper: async (_n, url) => JSON.stringify({ ServerURL: url, Username: '<token>', Secret: 'idt' }) });
    expect(r.auth).toEqual({ identitytoken: 'idt', serveraddress: DOCKER_HUB_KEY });
  });

  it('goes anonymous, saying why, when the helper has nothing', async () => {
    config({ credsStore: 'pass' });
    const r = await registryAuth('nginx', { configDir: dir, runHelper: async () => Promise.reject(new Error('credentials not found in native keychain')) });
    expect(r).toEqual({ source: 'anonymous (docker-credential-pass: credentials not found in native keychain)' });
  });

  it('runs a real docker-credential-NAME program with the server URL on its stdin', async () => {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    // Echoes back what it read, so the test sees the protocol was followed.
    fs.writeFileSync(path.join(bin, 'docker-credential-i15fake'), '#!/bin/sh\n[ "$1" = get ] || exit 3\nread url\nprintf \'{"ServerURL":"%s","Username":"u-%s","Secret":"s"}\' "$url" "$url"\n', { mode: 0o755 });
    config({ credHelpers: { 'registry.example.com': 'i15fake' } });
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      const r = await registryAuth('registry.example.com/a/b', { configDir: dir });
      expect(r.source).toBe("docker-credential-i15fake");
      expect(r.auth).toEqual({ username: 'u-registry.example.com', password: 's', serveraddress: 'registry.example.com' });
    } finally {
      process.env.PATH = oldPath;
    }
  });
});
