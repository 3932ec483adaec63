import type { ConnectionOptions } from 'bullmq';
import { UsageError } from '../cli/args';

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
      ...(url.protocol === 'rediss:' ? { tls: { servername: host } } : {}),
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
