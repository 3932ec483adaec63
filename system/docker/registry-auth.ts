/**
 * Credentials for pulling an image, found the way the docker CLI finds them: in
 * $DOCKER_CONFIG/config.json (default ~/.docker/config.json), per registry through
 * `credHelpers`, else the global `credsStore`, else an inline `auths` entry. No
 * credentials is not an error: the pull goes anonymous and the registry says whether
 * that is enough.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What the engine takes in X-Registry-Auth. */
export type RegistryAuth =
  | { username: string; password: string; serveraddress: string }
  | { identitytoken: string; serveraddress: string };

/** Docker Hub's key in config.json and its credential helpers (the CLI's IndexServer). */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * The registry an image reference names: its first path component when that looks like
 * a host (has a dot or a port, or is localhost), else Docker Hub ('docker.io').
 */
export function registryOf(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = ref.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return HUB_ALIASES.has(first) ? 'docker.io' : first;
  return 'docker.io';
}

/** A config.json key (`https://host/v1/`, `host`, `http://host`) reduced to its host, Hub's aliases to docker.io. */
function hostOfKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0];
  return HUB_ALIASES.has(host) ? 'docker.io' : host;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export interface AuthLookup {
  auth?: RegistryAuth;
  /** Where the credentials came from, or why none were used (shown as a progress note, never the secret). */
  source: string;
}

export interface AuthOptions {
  /** Directory holding config.json; default $DOCKER_CONFIG or ~/.docker. */
  configDir?: string;
  /** Runs `docker-credential-NAME get` (tests replace it). */
  runHelper?: (name: string, serverUrl: string) => Promise<string>;
}

export async function registryAuth(ref: string, opts: AuthOptions = {}): Promise<AuthLookup> {
  const registry = registryOf(ref);
  const serverUrl = registry === 'docker.io' ? DOCKER_HUB_KEY : registry;
  const configFile = path.join(opts.configDir ?? process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json');
  let config: DockerConfig;
  try {
    config = JSON.parse(await fs.readFile(configFile, 'utf8')) as DockerConfig;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return { source: missing ? 'anonymous (no Docker config)' : `anonymous (${configFile} unreadable: ${(e as Error).message})` };
  }
  const find = <T>(table: Record<string, T> | undefined): T | undefined =>
    table && Object.entries(table).find(([key]) => hostOfKey(key) === registry)?.[1];

  const helper = find(config.credHelpers) ?? config.credsStore;
  if (helper) {
    const run = opts.runHelper ?? runCredentialHelper;
    try {
      const got = JSON.parse(await run(helper, serverUrl)) as { Username?: string; Secret?: string };
      if (got.Secret) {
        // The CLI's convention: a helper returns an identity token with the user '<token>'.
        const auth: RegistryAuth = got.Username === '<token>' || !got.Username
          ? { identitytoken: got.Secret, serveraddress: serverUrl }
          : { username: got.Username, password: got.Secret, serveraddress: serverUrl };
        return { auth, source: `docker-credential-${helper}` };
      }
    } catch (e) {
      // Falls through to auths: a store without an entry for this registry says so by failing.
      const inline = fromAuths(find(config.auths), serverUrl);
      return inline ? { auth: inline, source: configFile } : { source: `anonymous (docker-credential-${helper}: ${(e as Error).message.trim()})` };
    }
  }
  const inline = fromAuths(find(config.auths), serverUrl);
  return inline ? { auth: inline, source: configFile } : { source: 'anonymous' };
}

function fromAuths(entry: NonNullable<DockerConfig['auths']>[string] | undefined, serverUrl: string): RegistryAuth | undefined {
  if (!entry) return undefined;
  if (entry.identitytoken) return { identitytoken: entry.identitytoken, serveraddress: serverUrl };
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1), serveraddress: serverUrl };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password, serveraddress: serverUrl };
  return undefined;
}

/** The credential-helper protocol: the server URL on stdin, `{"Username","Secret"}` on stdout. */
function runCredentialHelper(name: string, serverUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${name}`, ['get'], { timeout: 30_000, env: process.env }, (e, stdout, stderr) =>
      e ? reject(new Error((stdout || stderr || e.message).toString().trim())) : resolve(stdout),
    );
    child.stdin?.end(serverUrl);
  });
}
