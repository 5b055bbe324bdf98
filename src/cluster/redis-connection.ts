/**
 * Connections to the shared Redis (store.backend redis): built from `store.redis`, with the command timeout, and
 * reconnecting by themselves (ioredis: pipelining, Lua scripts by SHA, blocking stream reads on their own
 * connection). `checkDurability` compares the server's persistence with `store.redis.durability`.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { OprError } from '../errors.js';

export type RedisSettings = Config['store']['redis'];

/** A new connection. `blocking`: for XREAD BLOCK (no command timeout; the read's own timeout bounds it). */
export function connectRedis(
  settings: RedisSettings,
  log: Logger,
  options: { blocking?: boolean; name?: string } = {},
): Redis {
  const redis = new Redis(settings.url, {
    ...(settings.password !== undefined ? { password: settings.password } : {}),
    connectTimeout: settings.connectTimeoutMs,
    ...(options.blocking === true ? {} : { commandTimeout: settings.commandTimeoutMs }),
    // Commands fail at once while disconnected (the caller answers 503 or retries) instead of waiting for a
    // reconnection; the first connection is awaited explicitly (`openRedis`).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Reconnect soon after Redis is back (a restart is usually shorter than a second).
    retryStrategy: (times) => Math.min(50 * times, 500),
    connectionName: options.name ?? 'openim-presence',
    lazyConnect: true,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn(
      { err: { message: err.message, code: (err as NodeJS.ErrnoException).code } },
      'redis connection failed; reconnecting',
    );
  });
  redis.on('ready', () => {
    if (down) log.info('redis connection back');
    down = false;
  });
  return redis;
}

/** Connects (or fails with OPR_ERR_REDIS_UNAVAILABLE naming the URL without its password). */
export async function openRedis(redis: Redis, settings: RedisSettings): Promise<void> {
  // What the connection reported (ECONNREFUSED, WRONGPASS, …): the command itself only sees "Connection is closed".
  let reported: Error | undefined;
  const onError = (err: Error): void => {
    reported = err;
  };
  redis.on('error', onError);
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    const why =
      reported !== undefined && reported.message !== (e as Error).message
        ? `${(e as Error).message} (${reported.message})`
        : (e as Error).message;
    throw new OprError(
      'OPR_ERR_REDIS_UNAVAILABLE',
      `cannot reach redis at ${safeRedisUrl(settings.url)}: ${why}`,
      { url: safeRedisUrl(settings.url) },
      { cause: e },
    );
  } finally {
    redis.off('error', onError);
  }
}

/** The URL with any password replaced, for messages and logs. */
export function safeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}

export interface DurabilityCheck {
  /** What the configuration asks for. */
  wanted: 'always' | 'everysec';
  /** What the server does: `always`, `everysec`, `no` (AOF without fsync) or `none` (no AOF). `unknown`: CONFIG is not allowed. */
  actual: 'always' | 'everysec' | 'no' | 'none' | 'unknown';
  ok: boolean;
  message: string;
}

const RANK = { none: 0, no: 1, everysec: 2, always: 3, unknown: -1 } as const;

/** Reads `appendonly` and `appendfsync` from the server (CONFIG GET) and compares them with what is wanted. */
export async function checkDurability(redis: Redis, wanted: 'always' | 'everysec'): Promise<DurabilityCheck> {
  let actual: DurabilityCheck['actual'];
  try {
    const aof = (await redis.config('GET', 'appendonly')) as string[];
    const fsync = (await redis.config('GET', 'appendfsync')) as string[];
    if (aof[1] !== 'yes') actual = 'none';
    else actual = fsync[1] === 'always' ? 'always' : fsync[1] === 'everysec' ? 'everysec' : 'no';
  } catch {
    actual = 'unknown';
  }
  // An eviction policy may drop the log or the inbox under memory pressure: as weak as no persistence at all.
  let eviction: string | undefined;
  try {
    const policy = ((await redis.config('GET', 'maxmemory-policy')) as string[])[1];
    if (policy !== undefined && policy !== 'noeviction') eviction = policy;
  } catch {
    // CONFIG refused: reported through `actual`.
  }
  if (eviction !== undefined) {
    return {
      wanted,
      actual,
      ok: false,
      message: `redis may evict keys (maxmemory-policy ${eviction}): the shared log or the inbox could be dropped under memory pressure; set maxmemory-policy noeviction in redis.conf`,
    };
  }
  const ok = actual !== 'unknown' && RANK[actual] >= RANK[wanted];
  const message =
    actual === 'unknown'
      ? `cannot read the server's persistence (CONFIG GET refused); store.redis.durability ${wanted} is assumed, not checked`
      : ok
        ? `redis persists with ${actual === 'always' ? 'appendfsync always' : 'appendfsync everysec'} (store.redis.durability ${wanted})`
        : `redis is weaker than store.redis.durability ${wanted}: ${actual === 'none' ? 'no AOF (appendonly no): a restart loses what is not in the last RDB snapshot' : actual === 'no' ? 'AOF without fsync (appendfsync no)' : 'appendfsync everysec: up to a second of acknowledged webhooks at risk'}; set appendonly yes and appendfsync ${wanted} in redis.conf`;
  return { wanted, actual, ok: ok || actual === 'unknown', message };
}
