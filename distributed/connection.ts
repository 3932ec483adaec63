import type { ConnectionOptions } from 'bullmq';
import { isIP } from 'node:net';
import { UsageError } from '../pipeline/errors';
import { ConfineError } from '../pipeline/errors';

export interface QueueTarget {
  connection: ConnectionOptions;
  /** The URL with any password replaced, for messages and logs. */
  display: string;
}

/** Every queue and key of confine lives under this prefix, apart from other BullMQ users of the same Redis. */
export const QUEUE_PREFIX = 'confine';
/** The queue every worker takes image jobs from. */
export const IMAGES_QUEUE = 'images';

/**
 * `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). A password may also
 * come from REDISCLI_AUTH, so it need not appear in process listings.
 */
export function parseQueueUrl(text: string, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--queue ${text}: not a URL; expected redis://HOST:PORT or rediss://HOST:PORT`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--queue ${redact(url)}: the scheme must be redis:// or rediss:// (TLS)`);
  if (!url.hostname) throw new UsageError(`--queue ${redact(url)}: no host`);
  const port = url.port ? Number(url.port) : 6379;
  const db = url.pathname && url.pathname !== '/' ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new UsageError(`--queue ${redact(url)}: the path must be a database number`);
  const password = url.password ? decodeURIComponent(url.password) : env.REDISCLI_AUTH || undefined;
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    connection: {
      host,
      port,
      db,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      // SNI takes names only; an address is still checked against the certificate.
      ...(url.protocol === 'rediss:' ? { tls: isIP(host) ? {} : { servername: host } } : {}),
      // BullMQ workers block on Redis; ioredis must retry forever rather than fail a command.
      maxRetriesPerRequest: null,
    },
    display: redact(url),
  };
}

function redact(url: URL): string {
  const u = new URL(url.href);
  if (u.password) u.password = '***';
  return u.href.replace(/\/$/, '');
}

/**
 * One round trip before any queue object exists: a wrong password, a TLS mismatch or
 * nothing listening is one clear message, not a stream of reconnect errors.
 */
export async function checkQueue(target: QueueTarget): Promise<void> {
  const { default: Redis } = await import('ioredis');
  const client = new Redis({ ...(target.connection as object), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 10_000 });
  // The cause arrives as an 'error' event; the command itself only fails with "Connection is closed".
  let cause: Error | undefined;
  client.on('error', (e: Error) => (cause ??= e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    const msg = (cause ?? (e as Error)).message;
    const hint = /NOAUTH|WRONGPASS|invalid password|AUTH/i.test(msg)
      ? ' (a password goes in the URL, redis://:PASSWORD@HOST:PORT, or in REDISCLI_AUTH)'
      : /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND/.test(msg)
        ? ' (is redis-server running there, and reachable from this machine?)'
        : '';
    throw new ConfineError('bad-input', `cannot use the queue at ${target.display}: ${msg}${hint}`);
  } finally {
    client.disconnect();
  }
}
