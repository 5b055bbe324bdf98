/**
 * `openim-presence migrate --from <sqlite file> --to <redis url>`: moves a single-node deployment onto the Redis
 * backend. The SQLite store (state, events with their seqs, mismatches, subscriber cursors, incidents: the whole file)
 * is brought to the current schema, copied as one consistent image, and written into Redis as the snapshot the shared
 * log starts from (`snapshot`, `snapshot:<i>`, see src/cluster/cluster-keys.ts), with a new cluster id and an empty
 * log. Every replica started on that Redis with a new store.path restores its local copy from the snapshot
 * (src/cluster/local-copy.ts) and goes on from the same head seq: subscribers resume where they were.
 *
 * Refused (exit 1, nothing written): a source that is missing or not a store of this daemon, a source that is already
 * a replica's copy, and a key prefix that already holds state in Redis (unless `--force`, which first deletes every
 * key under the prefix). Bad arguments exit 2. The password never comes from the command line: `--password-file` or
 * the environment variable the configuration reads (OPR_STORE__REDIS__PASSWORD).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { ClusterKeys } from '../cluster/cluster-keys.js';
import { clusterKeys } from '../cluster/cluster-keys.js';
import { readSnapshotInfo } from '../cluster/local-copy.js';
import type { RedisSettings } from '../cluster/redis-connection.js';
import { checkDurability, connectRedis, openRedis, safeRedisUrl } from '../cluster/redis-connection.js';
import { CLUSTER_ID_KEY } from '../cluster/replicated-store.js';
import { envVarName } from '../config/config-reference.js';
import { fileReadReason } from '../config/file-read-reason.js';
import { configSchema } from '../config/schema.js';
import { isOprError } from '../errors.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { CliError, EXIT_FAILED, exitTwoOnUsageErrors, printable, runAction, usageError } from './http-client.js';

/** The largest value written to one snapshot chunk key (`<prefix>snapshot:<i>`). */
export const SNAPSHOT_CHUNK_BYTES = 64 * 1024 * 1024;

/** The environment variable the configuration reads store.redis.password from. */
export const REDIS_PASSWORD_ENV = envVarName('store.redis.password');

export interface MigrateOptions {
  from: string;
  to: string;
  keyPrefix?: string;
  passwordFile?: string;
  force?: boolean;
}

export interface MigrateDeps {
  /** Chunk size (default SNAPSHOT_CHUNK_BYTES; smaller in tests). */
  chunkBytes?: number;
  /** The environment the password variable is read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** What the source holds, counted in the same read transaction as its image. */
export interface SourceCounts {
  /** The head seq of the event log: the replicas go on from it. */
  headSeq: number;
  /** Events retained in the store (retention may have removed older ones). */
  events: number;
  /** The oldest retained seq, or null when no event is retained. */
  oldestSeq: number | null;
  mismatches: number;
  incidents: number;
  subscriberCursors: number;
}

export interface MigrateSummary extends SourceCounts {
  from: string;
  /** The Redis URL without its password. */
  to: string;
  keyPrefix: string;
  bytes: number;
  chunks: number;
  commit: string;
  clusterID: string;
  /** What `--force` deleted (keys under the prefix). */
  deletedKeys: number;
  /** Set when Redis persists less than store.redis.durability's default (always) asks. */
  durabilityWarning: string | undefined;
}

/** The image of the source, with its counts. */
interface SourceImage extends SourceCounts {
  image: Buffer;
}

function refuse(message: string): CliError {
  return new CliError(message, EXIT_FAILED);
}

/** An OprError from the store or the Redis connection, as one line with its code. */
function fromOprError(err: unknown): CliError {
  if (isOprError(err)) return refuse(`${err.message} (${err.code})`);
  if (err instanceof CliError) return err;
  return refuse(err instanceof Error ? err.message : String(err));
}

/** The Redis settings of the arguments, checked by the configuration's own rules (usage error otherwise). */
function redisSettings(opts: MigrateOptions, password: string | undefined): RedisSettings {
  let url: URL;
  try {
    url = new URL(opts.to);
  } catch {
    throw usageError(`--to must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0, got ${JSON.stringify(opts.to).slice(0, 80)}`);
  }
  if (url.password !== '') {
    throw usageError(`--to must not contain a password (the command line is visible to other users): use --password-file or ${REDIS_PASSWORD_ENV}`);
  }
  const parsed = configSchema.safeParse({
    store: {
      backend: 'redis',
      redis: {
        url: opts.to,
        keyPrefix: opts.keyPrefix ?? 'opr:',
        // A 64 MiB chunk may take longer than the daemon's default command timeout.
        commandTimeoutMs: 60_000,
        ...(password !== undefined ? { password } : {}),
      },
    },
  });
  if (!parsed.success) {
    const flag = (path: PropertyKey[]): string => (path.includes('keyPrefix') ? '--key-prefix' : path.includes('url') ? '--to' : path.join('.'));
    throw usageError(parsed.error.issues.map((i) => `${flag(i.path)} ${i.message}`).join('; '));
  }
  return parsed.data.store.redis;
}

/** The password: `--password-file` (trimmed), else the environment variable, else none. */
function readPassword(opts: MigrateOptions, env: NodeJS.ProcessEnv): string | undefined {
  if (opts.passwordFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.passwordFile, 'utf8');
    } catch (e) {
      throw usageError(`--password-file ${opts.passwordFile}: ${fileReadReason(e)}`);
    }
    const password = text.trim();
    if (password === '') throw usageError(`--password-file ${opts.passwordFile}: the file is empty; it must hold the Redis password`);
    return password;
  }
  const fromEnv = env[REDIS_PASSWORD_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** A connection that reads only (the checks and the image never write to the source). */
function openReadOnly(path: string): Database.Database {
  const db = new Database(path, { fileMustExist: true });
  db.pragma('query_only = ON');
  return db;
}

/**
 * Checks that `path` is a single-node store of this daemon, without writing to it: an SQLite file with the daemon's
 * schema, and not a replica's copy (whose `meta` holds the id of its cluster).
 */
function checkSource(path: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (e) {
    throw refuse(`--from ${path}: ${fileReadReason(e)}; give the store.path of the single-node daemon`);
  }
  if (!isFile) throw refuse(`--from ${path} is not a file; give the store.path of the single-node daemon`);
  const notAStore = (why: string): CliError => refuse(`--from ${path} is not a store of this daemon (${why}); give the store.path of the single-node daemon`);
  let db: Database.Database;
  try {
    db = openReadOnly(path);
  } catch (e) {
    throw refuse(`--from ${path}: cannot open it: ${(e as Error).message}`);
  }
  try {
    let version: number;
    let tables: Set<string>;
    try {
      version = db.pragma('user_version', { simple: true }) as number;
      tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    } catch (e) {
      throw notAStore((e as Error).message);
    }
    if (version < 1 || !tables.has('meta') || !tables.has('events')) throw notAStore(version < 1 ? 'no schema version' : 'no meta or events table');
    const cluster = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(CLUSTER_ID_KEY) as string | undefined;
    if (cluster !== undefined) {
      throw refuse(
        `--from ${path} is a replica's local copy of the shared state of cluster ${cluster}, not a single-node store: ` +
          'its state is already in Redis. Give the store.path of a single-node daemon (store.backend sqlite)',
      );
    }
  } finally {
    db.close();
  }
}

/** Brings the source to the current schema (the store's own migrations), then takes one consistent image of it. */
function takeImage(path: string): SourceImage {
  try {
    new SqliteStore({ path }).close();
  } catch (e) {
    throw fromOprError(e);
  }
  const db = openReadOnly(path);
  try {
    return db.transaction((): SourceImage => {
      const count = (table: string): number => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
      const events = db.prepare('SELECT count(*) AS n, min(seq) AS oldest FROM events').get() as { n: number; oldest: number | null };
      return {
        image: db.serialize(),
        headSeq: db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck().get() as number,
        events: events.n,
        oldestSeq: events.oldest,
        mismatches: count('mismatches'),
        incidents: count('incidents'),
        subscriberCursors: count('subscribers'),
      };
    })();
  } finally {
    db.close();
  }
}

/** What already stands under the prefix (a cluster id, a log, a snapshot), or undefined when nothing does. */
async function existingState(redis: Redis, keys: ClusterKeys): Promise<string | undefined> {
  const found: string[] = [];
  const cluster = await redis.get(keys.cluster);
  if (cluster !== null) found.push(`cluster id ${cluster}`);
  const head = Number((await redis.get(keys.head)) ?? 0);
  if (head > 0) found.push(`a shared log at entry ${head}`);
  const snapshot = await readSnapshotInfo(redis, keys);
  if (snapshot !== undefined) found.push(`a snapshot (${snapshot.commit}, ${snapshot.bytes} bytes)`);
  return found.length === 0 ? undefined : found.join(', ');
}

/** Deletes every key under the prefix (SCAN + UNLINK); returns how many. */
async function deleteUnderPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) deleted += await redis.unlink(...found);
  } while (cursor !== '0');
  return deleted;
}

/** Runs the migration; every refusal is a CliError (exit 1) and usage problems exit 2. */
export async function migrateStore(opts: MigrateOptions, deps: MigrateDeps = {}): Promise<MigrateSummary> {
  const env = deps.env ?? process.env;
  const chunkBytes = deps.chunkBytes ?? SNAPSHOT_CHUNK_BYTES;
  const settings = redisSettings(opts, readPassword(opts, env));
  const to = safeRedisUrl(settings.url);
  const prefix = settings.keyPrefix;
  const keys = clusterKeys(prefix);

  checkSource(opts.from);

  const redis = connectRedis(settings, pino({ level: 'silent' }), { name: 'openim-presence-migrate' });
  try {
    try {
      await openRedis(redis, settings);
    } catch (e) {
      throw fromOprError(e);
    }
    const durability = await checkDurability(redis, 'always');
    const before = await existingState(redis, keys);
    if (before !== undefined && opts.force !== true) {
      throw refuse(
        `redis at ${to} already holds state under the key prefix ${JSON.stringify(prefix)}: ${before}. Nothing was written. ` +
          'Use another --key-prefix, or --force to delete everything under this prefix and replace it (replicas using it must be stopped)',
      );
    }

    const { image, ...counts } = takeImage(opts.from);

    const deletedKeys = opts.force === true ? await deleteUnderPrefix(redis, prefix) : 0;
    // From here, a replica (or another migrate) writing under the prefix makes the final EXEC fail.
    await redis.watch(keys.cluster, keys.head, keys.snapshot, keys.lease);
    const meanwhile = await existingState(redis, keys);
    if (meanwhile !== undefined) {
      await redis.unwatch();
      throw refuse(`something wrote under the key prefix ${JSON.stringify(prefix)} while migrating (${meanwhile}); nothing was written. Stop the replicas using it and run migrate again`);
    }
    const chunks = Math.max(1, Math.ceil(image.length / chunkBytes));
    const commit = `snapshot:${randomUUID()}`;
    const clusterID = randomUUID();
    let committed = false;
    try {
      for (let i = 0; i < chunks; i++) await redis.set(keys.snapshotChunk(i), image.subarray(i * chunkBytes, (i + 1) * chunkBytes));
      // The hash last, with the cluster id and the log head, at once: a replica never sees half a snapshot.
      const result = await redis
        .multi()
        .hset(keys.snapshot, { base: 0, commit, chunks, bytes: image.length })
        .set(keys.cluster, clusterID)
        .set(keys.head, 0)
        .exec();
      if (result === null) {
        throw refuse(`something wrote under the key prefix ${JSON.stringify(prefix)} while migrating; nothing was written. Stop the replicas using it and run migrate again`);
      }
      const failed = result.find(([err]) => err !== null);
      if (failed) throw refuse(`redis refused the snapshot: ${failed[0]!.message}`);
      committed = true;
    } finally {
      if (!committed) {
        await redis.unwatch().catch(() => undefined);
        await redis.unlink(...Array.from({ length: chunks }, (_, i) => keys.snapshotChunk(i))).catch(() => undefined);
      }
    }
    return {
      from: opts.from,
      to,
      keyPrefix: prefix,
      ...counts,
      bytes: image.length,
      chunks,
      commit,
      clusterID,
      deletedKeys,
      durabilityWarning: durability.ok && durability.actual !== 'unknown' ? undefined : durability.message,
    };
  } finally {
    redis.disconnect();
  }
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The summary printed after a migration: what moved, and what to do next. */
export function migrateSummaryText(s: MigrateSummary): string {
  const retained = s.events === 0 ? 'none retained' : `${s.events} retained, seqs ${s.oldestSeq}-${s.headSeq}`;
  const lines = [
    `migrated ${s.from} into ${s.to} (key prefix ${s.keyPrefix})`,
    ...(s.deletedKeys > 0 ? [`  replaced:           ${s.deletedKeys} key(s) deleted under the prefix (--force)`] : []),
    `  events:             head seq ${s.headSeq} (${retained})`,
    `  mismatches:         ${s.mismatches}`,
    `  incidents:          ${s.incidents}`,
    `  subscriber cursors: ${s.subscriberCursors}`,
    `  snapshot:           ${s.bytes} bytes (${mib(s.bytes)}) in ${s.chunks} chunk(s), ${s.commit}`,
    `  cluster id:         ${s.clusterID}`,
    '',
    'Next: start the replicas with store.backend redis, store.redis.url ' +
      `${s.to}, store.redis.keyPrefix ${s.keyPrefix} and a new store.path each (a file that does not exist yet: the first start restores it from the snapshot). ` +
      'The event stream goes on after the same head seq, so subscribers resume where they were. ' +
      `Keep ${s.from} as a backup and do not start the single-node daemon on it again: what it would write does not reach the replicas.`,
  ];
  return `${lines.map(printable).join('\n')}\n`;
}

export function registerMigrateCommand(program: Command): void {
  const cmd = program
    .command('migrate')
    .description(
      'Move a single-node SQLite store (state, events with the same seqs, mismatches, subscriber cursors) into Redis for store.backend redis; stop the daemon first',
    )
    .requiredOption('--from <file>', 'the SQLite store of the single-node daemon (its store.path)')
    .requiredOption('--to <url>', 'the Redis server (redis:// or rediss://, a database number as the path; no password in it)')
    .option('--key-prefix <prefix>', 'prefix of every key, as store.redis.keyPrefix', 'opr:')
    .option('--password-file <file>', `file holding the Redis password (default: the ${REDIS_PASSWORD_ENV} environment variable)`)
    .option('--force', 'replace the state already under the key prefix (deletes every key under it first)');
  exitTwoOnUsageErrors(cmd);
  cmd.action(
    runAction(async (opts: MigrateOptions) => {
      const summary = await migrateStore(opts);
      if (summary.durabilityWarning !== undefined) process.stderr.write(`warning: ${printable(summary.durabilityWarning)}\n`);
      process.stdout.write(migrateSummaryText(summary));
    }),
  );
}
