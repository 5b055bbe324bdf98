/**
 * A real Redis for tests: Debian's `redis-server` on a free loopback port, in its own temporary directory, with the
 * append-only file on and RDB snapshots off, so what survives a crash is exactly what the AOF holds. Start it in
 * `beforeAll` and `stop()` it in `afterAll`; every process it starts is also SIGKILLed when the test process exits,
 * whatever happened to the test.
 *
 * Built on the benchmark's server (bench/redis-server.ts: the binary, the port, the PING, the arguments, the exit
 * hook), adding what tests need: a password, a crash (`kill`), a restart on the same port and dir, and clients.
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import {
  findRedisServer as findRedisServerIn,
  launchRedis,
  redisTempDir,
  terminateRedis,
} from '../../bench/redis-server.js';
import type { LaunchedRedis, RedisLaunchOptions } from '../../bench/redis-server.js';

export interface RedisServerOptions {
  /** `--appendfsync`: always (default: an acknowledged write is on disk) or everysec. */
  appendfsync?: 'always' | 'everysec';
  /** `--requirepass`: clients must AUTH with it (the url carries it). */
  requirePass?: string;
  /** How long a start may take to answer PING (default 15 s). */
  startTimeoutMs?: number;
}

export interface TestRedisServer {
  /** `redis://127.0.0.1:<port>`, with `:<requirePass>@` when a password is required. */
  readonly url: string;
  readonly port: number;
  /** The server's working directory (the AOF lives in `<dir>/appendonlydir`). */
  readonly dir: string;
  /** Closes every client from `client()`, SIGTERMs the server, waits for it to exit and removes `dir`. Final. */
  stop(): Promise<void>;
  /** SIGKILLs the server (a crash) and waits for it to exit; `dir` and the clients stay, for `restart()`. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and dir, so it reloads the AOF, and waits until it answers PING. A running server is SIGTERMed first. */
  restart(): Promise<void>;
  /** A new ioredis client of this server (reconnecting by itself across kill/restart), closed by `stop()`. */
  client(options?: RedisOptions): Redis;
}

/** The path of `redis-server` on PATH (only there: a test may hide it by emptying PATH), or undefined. */
export function findRedisServer(): string | undefined {
  return findRedisServerIn([]);
}

/**
 * Whether the Redis backend's tests can run: without Debian's `redis-server` they are skipped with a message, as the
 * browser tests are without chromium (`.ci/run` installs both).
 */
export const HAS_REDIS = findRedisServer() !== undefined;
export const REDIS_SKIP_REASON = HAS_REDIS
  ? ''
  : ' (skipped: redis-server is not installed; install it with `apt-get install -y redis-server`)';

/**
 * Starts a redis-server on a free 127.0.0.1 port in a new temporary directory, with `--save "" --appendonly yes
 * --appendfsync <always|everysec>`, and resolves once it answers PING. Throws when redis-server is not installed.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const bin = findRedisServer();
  if (bin === undefined) {
    throw new Error(
      "redis-server not found on PATH: the Redis tests need a real Redis 7 server; install Debian's redis-server package (apt-get install redis-server)",
    );
  }
  const password = options.requirePass;
  const tmp = redisTempDir('opr-redis-');
  const dir = tmp.path;
  const launch: RedisLaunchOptions = {
    bin,
    dir,
    appendfsync: options.appendfsync ?? 'always',
    requirePass: password,
    timeoutMs: options.startTimeoutMs ?? 15_000,
  };

  let current: LaunchedRedis | undefined;
  try {
    current = await launchRedis(launch);
  } catch (error) {
    tmp.cleanup();
    throw error;
  }
  const port = current.port;
  const url = `redis://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}127.0.0.1:${port}`;
  const clients = new Set<Redis>();
  let stopped = false;

  return {
    url,
    port,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.disconnect();
      clients.clear();
      if (current !== undefined) await terminateRedis(current.child, 'SIGTERM');
      tmp.cleanup();
    },
    async kill() {
      if (current !== undefined) await terminateRedis(current.child, 'SIGKILL');
    },
    async restart() {
      if (stopped) throw new Error('restart() after stop(): the server and its directory are gone');
      if (current !== undefined) await terminateRedis(current.child, 'SIGTERM');
      current = undefined;
      current = await launchRedis({ ...launch, port });
    },
    client(clientOptions: RedisOptions = {}) {
      if (stopped) throw new Error('client() after stop()');
      const c = new Redis(url, clientOptions);
      // Connection errors while the server is down are expected here (kill, restart); commands still fail.
      c.on('error', () => {});
      clients.add(c);
      return c;
    },
  };
}
