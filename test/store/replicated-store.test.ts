/**
 * The store of a replica on the Redis backend (src/cluster/replicated-store.ts) meets the whole store contract, with
 * a real redis-server holding the shared log. After every contract test, a follower's copy built from nothing by
 * replaying that log (src/cluster/log-follower.ts) must hold exactly the rows the writer's copy holds: every write a
 * test made is in the log, and replays to the same ids and seqs.
 */
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterKeys } from '../../src/cluster/cluster-keys.js';
import { LogFollower } from '../../src/cluster/log-follower.js';
import { RedisLog } from '../../src/cluster/redis-log.js';
import { ReplicatedStore } from '../../src/cluster/replicated-store.js';
import { OprError } from '../../src/errors.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { StoreHarness } from './store-contract.js';
import { event, runStoreContract } from './store-contract.js';

let server: TestRedisServer;
let redis: Redis;
let n = 0;

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url, { lazyConnect: false });
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  /** Derived per copy (rebuilt by each replica from the base tables), and the replication marks: not compared. */
  const DERIVED = new Set([
    'event_count_minutes',
    'event_minutes',
    'mismatch_hours',
    'mismatch_minutes',
    'mismatch_users',
    'receipt_minutes',
    'rollup_marks',
    'meta',
  ]);

  function rows(file: string): Record<string, string[]> {
    const db = new Database(file, { readonly: true });
    try {
      const out: Record<string, string[]> = {};
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .pluck()
        .all() as string[];
      for (const t of tables) {
        if (DERIVED.has(t)) continue;
        out[t] = db
          .prepare(`SELECT * FROM "${t}"`)
          .all()
          .map((r) => JSON.stringify(r))
          .sort();
      }
      return out;
    } finally {
      db.close();
    }
  }

  /** A writer's copy whose log goes to Redis under a prefix of its own. */
  function writer(dir: string): { replicated: ReplicatedStore; file: string; prefix: string } {
    const prefix = `c${++n}:`;
    const keys = clusterKeys(prefix);
    const file = join(dir, 'writer.db');
    const leaseValue = `1|writer|`;
    // Sent before any append on the same connection, so Redis has it first.
    void redis.set(keys.lease, leaseValue);
    const replicated = new ReplicatedStore(new SqliteStore({ path: file }), new RedisLog(redis, keys), {
      onFatal: (e) => {
        throw e;
      },
    });
    replicated.lead(leaseValue, '1');
    return { replicated, file, prefix };
  }

  /** A follower's copy at `file`, built from nothing by replaying the log under `prefix`. */
  async function replay(prefix: string, file: string): Promise<{ copy: SqliteStore; follower: LogFollower }> {
    const copy = new SqliteStore({ path: file });
    const follower = new LogFollower({
      store: copy,
      log: new RedisLog(redis, clusterKeys(prefix)),
      blocking: redis,
      onApplied: () => undefined,
      onFatal: (e) => {
        throw e;
      },
      logger: pino({ level: 'silent' }),
    });
    await follower.catchUp();
    return { copy, follower };
  }

  function replicatedStore(): StoreHarness {
    const dir = tempDir('opr-replicated-');
    const w = writer(dir.path);
    const h: StoreHarness = {
      store: w.replicated.store,
      file: w.file,
      cleanup: async () => {
        try {
          await w.replicated.flushed();
          const copyFile = join(dir.path, 'follower.db');
          (await replay(w.prefix, copyFile)).copy.close();
          expect(rows(copyFile), 'the follower replaying the log holds what the writer holds').toEqual(rows(w.file));
        } finally {
          dir.cleanup();
        }
      },
    };
    return h;
  }

  runStoreContract('replicated (SQLite copy, log in Redis)', replicatedStore);

  describe('a replica that does not hold the writer lease', () => {
    it('refuses every write and leaves its copy unchanged', () => {
      const dir = tempDir('opr-follower-');
      const inner = new SqliteStore({ path: join(dir.path, 'f.db') });
      const follower = new ReplicatedStore(inner, new RedisLog(redis, clusterKeys('unused:')), {
        onFatal: () => undefined,
      });
      try {
        expect(() => follower.store.appendEvent(event())).toThrow(OprError);
        expect(() => follower.store.trackUsers(['u1'], 'config', 1)).toThrow(/writer lease/);
        expect(inner.headSeq()).toBe(0);
        expect(inner.countTrackedUsers()).toBe(0);
        // Reads work, and the first start is answered without being written.
        expect(follower.store.firstStartedAt(123)).toBe(123);
        expect(inner.getMeta('first_started_at')).toBeUndefined();
      } finally {
        inner.close();
        dir.cleanup();
      }
    });

    it('catches up on entries larger than one step (thousands of writes each) and ends identical to the writer', async () => {
      const dir = tempDir('opr-big-');
      const w = writer(dir.path);
      try {
        for (let t = 0; t < 3; t++) {
          w.replicated.store.transaction(() => {
            for (let i = 0; i < 1500; i++)
              w.replicated.store.appendEvent(event({ userID: `u${t}-${i}`, recordedAt: 1000 + i }));
          });
        }
        await w.replicated.flushed();
        w.replicated.store.close();
        const copyFile = join(dir.path, 'follower.db');
        const { copy, follower } = await replay(w.prefix, copyFile);
        expect(follower.applied).toBe(3);
        expect(copy.committedSeq()).toBe(4500);
        copy.close();
        expect(rows(copyFile)).toEqual(rows(w.file));
      } finally {
        dir.cleanup();
      }
    });
  });
});
