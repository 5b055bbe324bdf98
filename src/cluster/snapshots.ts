/**
 * Snapshots of the shared state (Redis backend): the writer copies its SQLite copy with SQLite's online backup, waits
 * until Redis holds every entry the image contains (it may hold commits not yet appended), stores the image in
 * chunks under a new generation, and then, in one Lua script that checks it still holds the lease, makes it the
 * snapshot, deletes the previous generation's chunks and trims the log up to the image's entry. A replica built from
 * nothing restores the image and replays the entries after it (local-copy.ts).
 */
import { readFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SqliteStore } from '../store/sqlite-store.js';
import type { ClusterKeys } from './cluster-keys.js';
import { readSnapshotInfo } from './local-copy.js';
import type { ReplicatedStore, ReplicationMark } from './replicated-store.js';
import { MARK_KEY } from './replicated-store.js';

const CHUNK_BYTES = 16 * 1024 * 1024;

const PUBLISH_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the writer lease is not ours') end
local old = redis.call('HMGET', KEYS[2], 'gen', 'chunks')
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'base', ARGV[2], 'commit', ARGV[3], 'chunks', ARGV[4], 'bytes', ARGV[5], 'gen', ARGV[6])
if old[2] and old[1] ~= ARGV[6] then
  for i = 0, tonumber(old[2]) - 1 do
    if old[1] and old[1] ~= '' then redis.call('DEL', ARGV[7] .. old[1] .. ':' .. i) else redis.call('DEL', ARGV[7] .. i) end
  end
end
redis.call('XTRIM', KEYS[3], 'MINID', (tonumber(ARGV[2]) + 1) .. '-0')
return 1
`;

export interface SnapshotResult {
  base: number;
  bytes: number;
  chunks: number;
  ms: number;
}

/** Takes one snapshot now (the writer only). Throws when the lease is lost or Redis fails; nothing half-published. */
export async function takeSnapshot(deps: {
  local: SqliteStore;
  replicated: ReplicatedStore;
  redis: Redis;
  keys: ClusterKeys;
  leaseValue: string;
  prefix: string;
}): Promise<SnapshotResult> {
  const started = performance.now();
  const file = `${deps.local.location}.snapshot`;
  rmSync(file, { force: true });
  try {
    await deps.local.backupTo(file);
    const db = new Database(file, { readonly: true });
    let mark: ReplicationMark;
    try {
      mark = JSON.parse(
        db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(MARK_KEY) as string,
      ) as ReplicationMark;
    } finally {
      db.close();
    }
    // The image may hold commits Redis does not have yet: publish it only once it does.
    await deps.replicated.flushed();
    if (deps.replicated.appendedPosition < mark.n)
      throw new Error(`the log did not reach entry ${mark.n} (appending failed)`);
    const image = readFileSync(file);
    const gen = mark.c.replace(/[^A-Za-z0-9._-]/g, '-');
    const chunks = Math.max(1, Math.ceil(image.length / CHUNK_BYTES));
    for (let i = 0; i < chunks; i++)
      await deps.redis.set(deps.keys.snapshotChunk(i, gen), image.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    try {
      await deps.redis.eval(
        PUBLISH_SCRIPT,
        3,
        deps.keys.lease,
        deps.keys.snapshot,
        deps.keys.log,
        deps.leaseValue,
        mark.n,
        mark.c,
        chunks,
        image.length,
        gen,
        `${deps.prefix}snapshot:`,
      );
    } catch (e) {
      await deps.redis
        .del(...Array.from({ length: chunks }, (_, i) => deps.keys.snapshotChunk(i, gen)))
        .catch(() => undefined);
      throw e;
    }
    return { base: mark.n, bytes: image.length, chunks, ms: performance.now() - started };
  } finally {
    rmSync(file, { force: true });
  }
}

/** The log may grow this much past an image before the next, at least (see `Snapshotter`). */
const MIN_LOG_BYTES = 64 * 1024 * 1024;

/**
 * Takes a snapshot whenever the log holds `every` entries past the last image, or once this writer has appended as
 * many bytes as the image has (at least MIN_LOG_BYTES): an entry is a whole batch, so under load few entries can
 * hold many webhooks, and Redis then holds at most about twice the image. Checked every `checkMs`.
 */
export class Snapshotter {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** `appendedBytes` when the last image was taken by this writer. */
  private bytesAtImage = 0;

  constructor(
    private readonly deps: Parameters<typeof takeSnapshot>[0] & {
      every: number;
      checkMs: number;
      log: Logger;
      minLogBytes?: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.deps.checkMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes a snapshot if one is due; resolves when done (or skipped). */
  async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const info = await readSnapshotInfo(this.deps.redis, this.deps.keys);
      const entries = this.deps.replicated.appendedPosition - (info?.base ?? 0);
      const bytes = this.deps.replicated.appendedBytes - this.bytesAtImage;
      if (
        entries === 0 ||
        (entries < this.deps.every && bytes < Math.max(this.deps.minLogBytes ?? MIN_LOG_BYTES, info?.bytes ?? 0))
      )
        return;
      const appended = this.deps.replicated.appendedBytes;
      const r = await takeSnapshot(this.deps);
      this.bytesAtImage = appended;
      this.deps.log.info(
        { base: r.base, bytes: r.bytes, chunks: r.chunks, ms: Math.round(r.ms) },
        'snapshot stored in redis; the log is trimmed up to it',
      );
    } catch (e) {
      this.deps.log.warn(
        { err: { message: (e as Error).message } },
        'snapshot failed; the log is kept whole until the next one',
      );
    } finally {
      this.running = false;
    }
  }
}
