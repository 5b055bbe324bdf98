/**
 * Opens a replica's local copy of the shared state (store.path) and makes sure it is one: of this cluster (its id
 * in Redis), at an entry the shared log holds with the same commit id. Otherwise, a copy of another cluster, one
 * that is ahead of the log (a writer that stopped before its last commits reached Redis) or one whose entry was
 * written differently, is deleted and built again: from the snapshot `migrate` left in Redis, if any, then by the
 * follower replaying the log. A file that holds a single-node store (never a copy) is refused, never deleted.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { OprError } from '../errors.js';
import type { SqliteStoreOptions } from '../store/sqlite-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { ClusterKeys } from './cluster-keys.js';
import type { RedisLog } from './redis-log.js';
import { CLUSTER_ID_KEY, MARK_KEY, readMark } from './replicated-store.js';

export interface SnapshotInfo {
  /** The log position the snapshot stands at (the log continues after it). */
  base: number;
  commit: string;
  chunks: number;
  bytes: number;
  /** The generation its chunks are stored under (none for `migrate`'s). */
  gen: string;
}

export async function readSnapshotInfo(redis: Redis, keys: ClusterKeys): Promise<SnapshotInfo | undefined> {
  const h = await redis.hgetall(keys.snapshot);
  if (h.chunks === undefined) return undefined;
  return {
    base: Number(h.base),
    commit: h.commit ?? '',
    chunks: Number(h.chunks),
    bytes: Number(h.bytes),
    gen: h.gen ?? '',
  };
}

/** The cluster id (created by the first replica or `migrate`). */
export async function ensureClusterId(redis: Redis, keys: ClusterKeys): Promise<string> {
  await redis.set(keys.cluster, randomUUID(), 'NX');
  return (await redis.get(keys.cluster))!;
}

/** Why the local copy cannot be used as it is, or undefined when it can. */
async function staleness(
  store: SqliteStore,
  clusterID: string,
  log: RedisLog,
  snapshot: SnapshotInfo | undefined,
): Promise<string | undefined> {
  const localCluster = store.getMeta(CLUSTER_ID_KEY);
  if (localCluster === undefined) {
    throw new OprError(
      'OPR_ERR_CONFIG_INVALID',
      `store.path ${store.location} holds a single-node store, not a copy of the shared state: move it into Redis with \`openim-presence migrate --from ${store.location} --to <redis url>\`, or set store.path to a new file`,
      { path: store.location },
    );
  }
  if (localCluster !== clusterID) return `it is a copy of another cluster (${localCluster}, redis has ${clusterID})`;
  const mark = readMark(store);
  const base = snapshot?.base ?? 0;
  if (mark.n < base) return `it stands at entry ${mark.n}, before the snapshot the log starts from (${base})`;
  if (mark.n === base)
    return mark.c === (snapshot?.commit ?? '') ? undefined : 'it was not built from the snapshot the log starts from';
  const entry = await log.entry(mark.n);
  if (entry === undefined)
    return `it stands at entry ${mark.n}, which the shared log does not hold (head ${await log.head()})`;
  if (entry.c !== mark.c) return `its entry ${mark.n} is ${mark.c}, the shared log's is ${entry.c}`;
  return undefined;
}

function removeFiles(path: string): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
}

/**
 * Writes the snapshot's image to `path`. The writer may replace the snapshot meanwhile (deleting the chunks being
 * read): then the newest one is read again, a few times at most. Returns the snapshot restored.
 */
async function restoreSnapshot(
  path: string,
  redis: Redis,
  keys: ClusterKeys,
  first: SnapshotInfo,
  logger: Logger,
): Promise<SnapshotInfo> {
  let snapshot: SnapshotInfo | undefined = first;
  for (let attempt = 1; snapshot !== undefined; attempt++) {
    const parts: Buffer[] = [];
    for (let i = 0; i < snapshot.chunks; i++) {
      const chunk = await redis.getBuffer(keys.snapshotChunk(i, snapshot.gen));
      if (chunk === null) break;
      parts.push(chunk);
    }
    if (parts.length === snapshot.chunks) {
      const tmp = `${path}.restore`;
      writeFileSync(tmp, Buffer.concat(parts), { mode: 0o600 });
      renameSync(tmp, path);
      logger.info(
        { path, bytes: snapshot.bytes, base: snapshot.base },
        'local copy restored from the snapshot in redis',
      );
      return snapshot;
    }
    if (attempt >= 5) break;
    snapshot = await readSnapshotInfo(redis, keys);
  }
  throw new OprError(
    'OPR_ERR_REPLICA_DIVERGED',
    'the snapshot in redis is incomplete (chunks missing); run `openim-presence migrate` again or restore redis',
    {},
  );
}

/** Opens (or builds) the local copy for this cluster. */
export async function openLocalCopy(opts: {
  sqlite: SqliteStoreOptions;
  redis: Redis;
  keys: ClusterKeys;
  log: RedisLog;
  logger: Logger;
}): Promise<SqliteStore> {
  const { sqlite, redis, keys, logger } = opts;
  const path = sqlite.path;
  const clusterID = await ensureClusterId(redis, keys);
  const snapshot = await readSnapshotInfo(redis, keys);
  if (path !== ':memory:' && existsSync(path)) {
    const store = new SqliteStore(sqlite);
    let why: string | undefined;
    try {
      why = await staleness(store, clusterID, opts.log, snapshot);
    } catch (e) {
      store.close();
      throw e;
    }
    if (why === undefined) return store;
    logger.warn({ path, why }, 'the local copy does not match the shared state in redis: building it again');
    store.close();
    removeFiles(path);
  }
  let restored = snapshot;
  if (snapshot !== undefined && path !== ':memory:')
    restored = await restoreSnapshot(path, redis, keys, snapshot, logger);
  const store = new SqliteStore(sqlite);
  store.transaction(() => {
    store.setMeta(CLUSTER_ID_KEY, clusterID);
    store.setMeta(MARK_KEY, JSON.stringify({ n: restored?.base ?? 0, c: restored?.commit ?? '' }));
  });
  return store;
}
