/**
 * A replica's local copy (src/cluster/local-copy.ts) is kept only when it belongs to the cluster in Redis and stands
 * at an entry the shared log holds with the same commit id; anything else is deleted and built again, except a
 * single-node store, which is refused and left as it was.
 */
import { Redis } from 'ioredis';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterKeys } from '../../src/cluster/cluster-keys.js';
import { openLocalCopy } from '../../src/cluster/local-copy.js';
import { RedisLog } from '../../src/cluster/redis-log.js';
import { CLUSTER_ID_KEY, MARK_KEY, readMark } from '../../src/cluster/replicated-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { event } from '../store/contract/fixtures.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/temp-dir.js';

let server: TestRedisServer;
let redis: Redis;
let dir: ReturnType<typeof tempDir> | undefined;
let n = 0;

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });
  afterEach(() => dir?.cleanup());

  const logger = pino({ level: 'silent' });

  /** A fresh prefix whose log holds `entries` entries (commit ids `t:1`, `t:2`, …) under a held lease. */
  async function cluster(entries: number): Promise<{ prefix: string; log: RedisLog; path: string }> {
    const prefix = `lc${++n}:`;
    const keys = clusterKeys(prefix);
    const log = new RedisLog(redis, keys);
    await redis.set(keys.lease, 'L');
    if (entries > 0) {
      await log.append(
        'L',
        0,
        Array.from({ length: entries }, (_, i) => ({ n: i + 1, c: `t:${i + 1}`, json: '{"c":"","ops":[]}' })),
        undefined,
      );
    }
    dir = tempDir('opr-local-copy-');
    return { prefix, log, path: join(dir.path, 'copy.db') };
  }

  async function open(c: { prefix: string; log: RedisLog; path: string }): Promise<SqliteStore> {
    return openLocalCopy({ sqlite: { path: c.path }, redis, keys: clusterKeys(c.prefix), log: c.log, logger });
  }

  /** Closes the copy after putting one event in it (to tell a kept copy from a rebuilt one) and a mark. */
  function leave(store: SqliteStore, mark?: { n: number; c: string }, clusterID?: string): void {
    store.transaction(() => {
      store.appendEvent(event());
      if (mark) store.setMeta(MARK_KEY, JSON.stringify(mark));
      if (clusterID) store.setMeta(CLUSTER_ID_KEY, clusterID);
    });
    store.close();
  }

  describe('a local copy', () => {
    it('is created empty for a new file, with the cluster id and standing before the first entry', async () => {
      const c = await cluster(0);
      const store = await open(c);
      try {
        expect(store.getMeta(CLUSTER_ID_KEY)).toBe(await redis.get(`${c.prefix}cluster`));
        expect(readMark(store)).toEqual({ n: 0, c: '' });
        expect(store.committedSeq()).toBe(0);
      } finally {
        store.close();
      }
    });

    it('is kept when it stands at an entry the log holds with the same commit id', async () => {
      const c = await cluster(3);
      leave(await open(c), { n: 2, c: 't:2' });
      const again = await open(c);
      try {
        expect(readMark(again)).toEqual({ n: 2, c: 't:2' });
        expect(again.committedSeq(), 'its rows are still there').toBe(1);
      } finally {
        again.close();
      }
    });

    for (const [why, mark, otherCluster] of [
      ['stands ahead of the log (its writer died before appending)', { n: 5, c: 't:5' }, false],
      [
        'holds another commit at its entry (written by a writer whose lease was taken over)',
        { n: 2, c: 'other:2' },
        false,
      ],
      ['belongs to another cluster', { n: 2, c: 't:2' }, true],
    ] as const) {
      it(`is deleted and built again when it ${why}`, async () => {
        const c = await cluster(3);
        leave(await open(c), mark, otherCluster ? 'another-cluster' : undefined);
        const again = await open(c);
        try {
          expect(readMark(again)).toEqual({ n: 0, c: '' });
          expect(again.committedSeq(), 'nothing of the old copy is left').toBe(0);
          expect(again.getMeta(CLUSTER_ID_KEY)).toBe(await redis.get(`${c.prefix}cluster`));
        } finally {
          again.close();
        }
      });
    }

    it('is refused, and left as it was, when the file holds a single-node store', async () => {
      const c = await cluster(1);
      const single = new SqliteStore({ path: c.path });
      single.transaction(() => single.appendEvent(event()));
      single.close();
      await expect(open(c)).rejects.toMatchObject({
        code: 'OPR_ERR_CONFIG_INVALID',
        message: expect.stringContaining('migrate') as unknown,
      });
      expect(existsSync(c.path)).toBe(true);
      const reopened = new SqliteStore({ path: c.path });
      try {
        expect(reopened.committedSeq()).toBe(1);
        expect(reopened.getMeta(CLUSTER_ID_KEY)).toBeUndefined();
      } finally {
        reopened.close();
      }
    });
  });
});
