/**
 * Snapshots on the Redis backend: the writer stores an image of its copy every store.redis.snapshotEveryEntries log
 * entries and trims the log up to it; a replica started afterwards with a new store.path is built from the image and
 * the entries after it, and serves the same stream; a snapshot is never published by a replica that lost the lease.
 */
import { Redis } from 'ioredis';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterKeys } from '../../src/cluster/cluster-keys.js';
import { readSnapshotInfo } from '../../src/cluster/local-copy.js';
import { RedisLog } from '../../src/cluster/redis-log.js';
import { ReplicatedStore } from '../../src/cluster/replicated-store.js';
import { Snapshotter } from '../../src/cluster/snapshots.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { event } from '../store/contract/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postOnline, startTestDaemon } from '../helpers/daemon-fixture.js';
import { readAllEvents } from '../reliability/helpers.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

let server: TestRedisServer;
let redis: Redis;
const running: TestDaemon[] = [];

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) {
      await d.close();
      d.cleanupDir();
    }
  });

  async function replica(prefix: string, name: string, leaseTtlMs = 1000): Promise<TestDaemon> {
    const d = await startTestDaemon({
      store: {
        backend: 'redis',
        redis: { url: server.url, keyPrefix: prefix, leaseTtlMs, replicaName: name, snapshotEveryEntries: 100 },
      },
    });
    running.push(d);
    return d;
  }

  describe('snapshots', () => {
    it('trim the log, and a new replica is built from the image plus the entries after it', async () => {
      const prefix = 'snap1:';
      const keys = clusterKeys(prefix);
      const a = await replica(prefix, 'a');
      await until('a writer', () => Promise.resolve(a.cluster!.status().role === 'writer'));
      // One entry per webhook when they arrive one at a time.
      for (let i = 1; i <= 150; i++) {
        expect((await postOnline(a, `u${i}`, i)).status).toBe(200);
      }
      await until('150 events', async () => (await readAllEvents(a.apiUrl)).length === 150);
      const before = await redis.xlen(keys.log);
      await a.cluster!.snapshotIfDue();
      const snap = await readSnapshotInfo(redis, keys);
      expect(snap, 'a snapshot was taken').toBeDefined();
      expect(snap!.base).toBeGreaterThanOrEqual(100);
      expect(await redis.xlen(keys.log), 'the log is trimmed up to the snapshot').toBe(before - snap!.base);

      // More entries after the snapshot, then a replica that never saw the log before the image.
      for (let i = 151; i <= 170; i++) {
        expect((await postOnline(a, `u${i}`, i)).status).toBe(200);
      }
      const b = await replica(prefix, 'b');
      const onB = await until('170 events on b', async () => {
        const ev = await readAllEvents(b.apiUrl);
        return ev.length === 170 ? ev : undefined;
      });
      expect(onB).toEqual(await readAllEvents(a.apiUrl));

      // A second snapshot replaces the first: its chunks are gone.
      for (let i = 171; i <= 300; i++) {
        expect((await postOnline(b, `u${i}`, i)).status).toBe(200);
      }
      await until('300 events on a', async () => (await readAllEvents(a.apiUrl)).length === 300);
      await a.cluster!.snapshotIfDue();
      const second = await readSnapshotInfo(redis, keys);
      expect(second!.base).toBeGreaterThan(snap!.base);
      expect(await redis.exists(keys.snapshotChunk(0, snap!.gen))).toBe(0);
      expect(await redis.exists(keys.snapshotChunk(0, second!.gen))).toBe(1);
    });

    it('is not published once another replica holds the lease', async () => {
      const prefix = 'snap2:';
      const keys = clusterKeys(prefix);
      // A long lease: its renewal (every 20 s) does not come round while the test swaps the lease's value.
      const a = await replica(prefix, 'a', 60_000);
      await until('a writer', () => Promise.resolve(a.cluster!.status().role === 'writer'));
      for (let i = 1; i <= 120; i++) {
        expect((await postOnline(a, `u${i}`, i)).status).toBe(200);
      }
      await until('120 events', async () => (await readAllEvents(a.apiUrl)).length === 120);
      // Another replica's lease (as after a takeover): the image must not become the snapshot, the log stays whole.
      const held = await redis.get(keys.lease);
      await redis.set(keys.lease, '999|intruder|', 'PX', 60_000);
      const before = await redis.xlen(keys.log);
      await a.cluster!.snapshotIfDue();
      expect(await readSnapshotInfo(redis, keys)).toBeUndefined();
      expect(await redis.xlen(keys.log)).toBe(before);
      expect((await redis.keys(`${prefix}snapshot*`)).length, 'no chunk left behind').toBe(0);
      if (held !== null) await redis.set(keys.lease, held, 'PX', 60_000);
    });
  });

  describe('the snapshot trigger', () => {
    it('takes an image once the log grew by as many bytes as the last image, however few entries that is', async () => {
      const dir = tempDir('opr-snap-bytes-');
      const prefix = 'snap3:';
      const keys = clusterKeys(prefix);
      await redis.set(keys.lease, 'L');
      const local = new SqliteStore({ path: join(dir.path, 'w.db') });
      const replicated = new ReplicatedStore(local, new RedisLog(redis, keys), {
        onFatal: (e) => {
          throw e;
        },
      });
      replicated.lead('L', '1');
      const snapshotter = new Snapshotter({
        local,
        replicated,
        redis,
        keys,
        leaseValue: 'L',
        prefix,
        every: 1_000_000,
        checkMs: 60_000,
        log: pino({ level: 'silent' }),
        minLogBytes: 20_000,
      });
      /** One entry of `n` events (one big batch of the writer's). */
      const entry = async (n: number): Promise<void> => {
        replicated.store.transaction(() => {
          for (let i = 0; i < n; i++) replicated.store.appendEvent(event({ userID: `b${i}` }));
        });
        await replicated.flushed();
      };
      try {
        await entry(10);
        await snapshotter.check();
        expect(await readSnapshotInfo(redis, keys), 'a small log: no image yet').toBeUndefined();
        await entry(200);
        await snapshotter.check();
        const first = await readSnapshotInfo(redis, keys);
        expect(first?.base, 'two entries, but past the byte bound').toBe(2);
        // The next image waits until the log grew by as much as this image.
        await entry(10);
        await snapshotter.check();
        expect((await readSnapshotInfo(redis, keys))?.base).toBe(2);
        for (let i = 0; i < 500 && replicated.appendedBytes < first!.bytes * 2 + 20_000; i++) await entry(200);
        await snapshotter.check();
        expect((await readSnapshotInfo(redis, keys))!.base).toBeGreaterThan(2);
      } finally {
        local.close();
        dir.cleanup();
      }
    });
  });
});
