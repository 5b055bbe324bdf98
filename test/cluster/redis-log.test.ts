/**
 * The shared log against a real redis-server: the append script's fencing by lease value, its compare-and-set on the
 * head, its recognition of a retried batch, the inbox cursor it moves, and the reads (head, range, entry, next).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterKeys } from '../../src/cluster/cluster-keys.js';
import type { ClusterKeys } from '../../src/cluster/cluster-keys.js';
import { RedisLog } from '../../src/cluster/redis-log.js';
import type { StoredEntry } from '../../src/cluster/replicated-store.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const LEASE = '7|r1|http://r1.test:8080';

let server: TestRedisServer;
let redis: Redis;
let blocking: Redis;
let prefixes = 0;

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    server = await startRedisServer();
    redis = server.client();
    blocking = server.client();
  });
  afterAll(async () => {
    await server.stop();
  });

  /** Keys of their own for each test, with the lease held by LEASE. */
  async function freshLog(): Promise<{ keys: ClusterKeys; log: RedisLog }> {
    prefixes += 1;
    const keys = clusterKeys(`rl${prefixes}:`);
    await redis.set(keys.lease, LEASE);
    return { keys, log: new RedisLog(redis, keys) };
  }

  /** Commit `n` of the writer with fencing token 7 (`n` is where the writer expects it to land). */
  function commit(n: number, token = 7): StoredEntry {
    const c = `${token}:${n}`;
    return { n, c, json: JSON.stringify({ c, ops: [{ m: 'appendEvent', a: [n] }] }) };
  }

  /** What the log holds, to compare before and after a refused append. */
  async function state(keys: ClusterKeys, log: RedisLog): Promise<unknown> {
    return {
      head: await log.head(),
      xlen: await redis.xlen(keys.log),
      last: await redis.get(keys.lastCommit),
      cursor: await redis.get(keys.inboxCursor),
    };
  }

  async function blockedClients(): Promise<number> {
    const info = await redis.info('clients');
    return Number(/blocked_clients:(\d+)/.exec(info)?.[1] ?? 0);
  }

  describe('the shared log', () => {
    it('appends a batch at the expected head and reads it back by range, entry and head', async () => {
      const { keys, log } = await freshLog();
      expect(await log.head()).toBe(0);
      const batch = [commit(1), commit(2)];
      expect(await log.append(LEASE, 0, batch, undefined)).toBe(2);

      const all = await log.range(0, 10);
      expect(all).toEqual(batch);
      expect(all.map((e) => e.n)).toEqual([1, 2]);
      expect(JSON.parse(all[1]!.json)).toEqual({ c: '7:2', ops: [{ m: 'appendEvent', a: [2] }] });
      expect(await log.entry(2)).toEqual(batch[1]);
      expect(await log.entry(3)).toBeUndefined();
      expect(await log.head()).toBe(2);
      expect(await redis.get(keys.lastCommit)).toBe('7:2');
      // `range` starts after `afterN` and stops at `count`.
      expect(await log.range(1, 10)).toEqual([batch[1]]);
      expect(await log.range(0, 1)).toEqual([batch[0]]);
      expect(await log.range(2, 10)).toEqual([]);
    });

    it('refuses, with FENCED and changing nothing, an append under another lease value or none', async () => {
      const { keys, log } = await freshLog();
      expect(await log.append(LEASE, 0, [commit(1)], '1-0')).toBe(1);
      const before = await state(keys, log);

      await expect(log.append('8|r2|http://r2.test:8080', 1, [commit(2, 8)], '2-0')).rejects.toThrow(/^FENCED /);
      expect(await state(keys, log)).toEqual(before);

      await redis.del(keys.lease);
      await expect(log.append(LEASE, 1, [commit(2)], '2-0')).rejects.toThrow(/^FENCED the writer lease is free/);
      expect(await state(keys, log)).toEqual(before);
    });

    it('refuses, with CONFLICT and changing nothing, an append at a head the log is not at', async () => {
      const { keys, log } = await freshLog();
      expect(await log.append(LEASE, 0, [commit(1), commit(2)], '1-0')).toBe(2);
      const before = await state(keys, log);

      await expect(log.append(LEASE, 1, [commit(3)], '2-0')).rejects.toThrow(/^CONFLICT the log is at 2, not 1/);
      await expect(log.append(LEASE, 5, [commit(6)], '2-0')).rejects.toThrow(/^CONFLICT the log is at 2, not 5/);
      // Where a retry of the last batch would land, but other commits: not mistaken for that retry.
      await expect(log.append(LEASE, 0, [commit(1, 9), commit(2, 9)], '2-0')).rejects.toThrow(/^CONFLICT /);
      expect(await state(keys, log)).toEqual(before);
    });

    it('answers a resent last batch (its reply lost) with the head, without appending it twice', async () => {
      const { keys, log } = await freshLog();
      const batch = [commit(1), commit(2)];
      expect(await log.append(LEASE, 0, batch, '1-0')).toBe(2);
      expect(await log.append(LEASE, 0, batch, '1-0')).toBe(2);
      expect(await redis.xlen(keys.log)).toBe(2);
      expect(await log.head()).toBe(2);
      expect(await log.range(0, 10)).toEqual(batch);
      // And the log goes on from there.
      expect(await log.append(LEASE, 2, [commit(3)], undefined)).toBe(3);
      expect((await log.range(0, 10)).map((e) => e.c)).toEqual(['7:1', '7:2', '7:3']);
    });

    it('appends only the new entries of a retried batch that grew since its first try went through', async () => {
      const { keys, log } = await freshLog();
      // The first try's answer was lost; meanwhile the writer committed two more, and retries from the same head.
      expect(await log.append(LEASE, 0, [commit(1), commit(2)], '1-0')).toBe(2);
      expect(await log.append(LEASE, 0, [commit(1), commit(2), commit(3), commit(4)], '3-0')).toBe(4);
      expect((await log.range(0, 10)).map((e) => e.c)).toEqual(['7:1', '7:2', '7:3', '7:4']);
      expect(await redis.get(keys.lastCommit)).toBe('7:4');
      expect(await redis.get(keys.inboxCursor)).toBe('3-0');
      // A batch whose first entries are not what the log holds is still a conflict.
      await expect(log.append(LEASE, 2, [commit(3, 9), commit(4, 9), commit(5, 9)], undefined)).rejects.toThrow(/^CONFLICT /);
      expect(await log.head()).toBe(4);
    });

    it('sets the inbox cursor with the batch when given one, and leaves it alone when not', async () => {
      const { keys, log } = await freshLog();
      expect(await log.append(LEASE, 0, [commit(1)], undefined)).toBe(1);
      expect(await redis.exists(keys.inboxCursor)).toBe(0);
      expect(await log.append(LEASE, 1, [commit(2)], '1700000000000-3')).toBe(2);
      expect(await redis.get(keys.inboxCursor)).toBe('1700000000000-3');
      expect(await log.append(LEASE, 2, [commit(3)], undefined)).toBe(3);
      expect(await redis.get(keys.inboxCursor)).toBe('1700000000000-3');
    });

    it('waits in next() for an entry appended meanwhile, and returns only entries after the one given', async () => {
      const { log } = await freshLog();
      expect(await log.append(LEASE, 0, [commit(1)], undefined)).toBe(1);
      const blockedBefore = await blockedClients();
      let settled = false;
      const waiting = log.next(blocking, 1, 10, 10_000).finally(() => {
        settled = true;
      });
      await until('next() to block in Redis', async () => (await blockedClients()) > blockedBefore, 5_000);
      expect(settled).toBe(false);

      expect(await log.append(LEASE, 1, [commit(2), commit(3)], undefined)).toBe(3);
      expect(await waiting).toEqual([commit(2), commit(3)]);
    });

    it('returns [] from next() after blockMs when nothing is appended', async () => {
      const { log } = await freshLog();
      expect(await log.append(LEASE, 0, [commit(1)], undefined)).toBe(1);
      const since = Date.now();
      expect(await log.next(blocking, 1, 10, 300)).toEqual([]);
      expect(Date.now() - since).toBeGreaterThanOrEqual(290);
      // Without waiting when there is something to return.
      expect(await log.next(blocking, 0, 10, 300)).toEqual([commit(1)]);
    });
  });
});
