import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDurability, safeRedisUrl } from '../../src/cluster/redis-connection.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';

let server: TestRedisServer;
let redis: Redis;

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    server = await startRedisServer({ appendfsync: 'always' });
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  describe('the durability check', () => {
    it('passes when the server fsyncs every write, whatever is asked', async () => {
      await redis.config('SET', 'appendfsync', 'always');
      expect(await checkDurability(redis, 'always')).toMatchObject({ actual: 'always', ok: true });
      expect(await checkDurability(redis, 'everysec')).toMatchObject({ actual: 'always', ok: true });
    });

    it('fails `always` against everysec, and says what to set', async () => {
      await redis.config('SET', 'appendfsync', 'everysec');
      const c = await checkDurability(redis, 'always');
      expect(c).toMatchObject({ actual: 'everysec', ok: false });
      expect(c.message).toContain('appendfsync always');
      expect(await checkDurability(redis, 'everysec')).toMatchObject({ ok: true });
      await redis.config('SET', 'appendfsync', 'always');
    });

    it('fails when the server may evict keys', async () => {
      await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
      try {
        const c = await checkDurability(redis, 'always');
        expect(c.ok).toBe(false);
        expect(c.message).toContain('noeviction');
      } finally {
        await redis.config('SET', 'maxmemory-policy', 'noeviction');
      }
    });

    // Last: turning the AOF back on would start a rewrite that the server's shutdown then waits for.
    it('fails without an AOF', async () => {
      await redis.config('SET', 'appendonly', 'no');
      expect(await checkDurability(redis, 'everysec')).toMatchObject({ actual: 'none', ok: false });
    });
  });

  describe('safeRedisUrl', () => {
    it('hides a password and keeps the rest', () => {
      expect(safeRedisUrl('redis://user:s3cret@host:6380/2')).toBe('redis://user:***@host:6380/2');
      expect(safeRedisUrl('rediss://host/0')).toBe('rediss://host/0');
    });
  });
});
