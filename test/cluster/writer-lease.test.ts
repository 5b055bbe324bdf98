/**
 * The writer lease against a real redis-server: one holder at a time, a fencing token that only grows, renewal past
 * the TTL, takeover once a holder stops renewing (and not before), the loss callback, and release.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterKeys } from '../../src/cluster/cluster-keys.js';
import type { ClusterKeys } from '../../src/cluster/cluster-keys.js';
import { parseLease, WriterLease } from '../../src/cluster/writer-lease.js';
import { OprError } from '../../src/errors.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const WAIT_MS = 5_000;

let server: TestRedisServer;
let redis: Redis;
let prefixes = 0;
const leases: WriterLease[] = [];

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    server = await startRedisServer();
    redis = server.client();
  });
  afterAll(async () => {
    await server.stop();
  });
  afterEach(async () => {
    for (const l of leases.splice(0)) await l.release();
  });

  /** Keys of their own for each test. */
  function freshKeys(): ClusterKeys {
    prefixes += 1;
    return clusterKeys(`wl${prefixes}:`);
  }

  interface Made {
    lease: WriterLease;
    lost: OprError[];
  }

  function makeLease(keys: ClusterKeys, replica: string, ttlMs = 400): Made {
    const lost: OprError[] = [];
    const lease = new WriterLease(
      redis,
      keys,
      { ttlMs, replica, apiUrl: () => `http://${replica}.test:8080`, onLost: (e) => lost.push(e) },
      pino({ level: 'silent' }),
    );
    leases.push(lease);
    return { lease, lost };
  }

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  describe('the writer lease', () => {
    it('is taken by only one of two replicas asking at once', async () => {
      const keys = freshKeys();
      const a = makeLease(keys, 'a');
      const b = makeLease(keys, 'b');
      const got = await Promise.all([a.lease.tryAcquire(), b.lease.tryAcquire()]);
      expect(got.filter(Boolean)).toHaveLength(1);
      const winner = got[0] ? a.lease : b.lease;
      const loser = got[0] ? b.lease : a.lease;
      expect(loser.held).toBeUndefined();
      expect(await redis.get(keys.lease)).toBe(winner.held);
      expect((await a.lease.holder())?.replica).toBe(got[0] ? 'a' : 'b');
    });

    it('holds `<token>|<replica>|<api url>`, with a token that grows at every acquisition', async () => {
      const keys = freshKeys();
      const a = makeLease(keys, 'a');
      const b = makeLease(keys, 'b');
      expect(await a.lease.tryAcquire()).toBe(true);
      const first = parseLease(a.lease.held!);
      expect(first).toEqual({ token: a.lease.token, replica: 'a', apiUrl: 'http://a.test:8080' });
      expect(a.lease.held).toBe(`${first!.token}|a|http://a.test:8080`);
      expect(await a.lease.holder()).toEqual(first);

      await a.lease.release();
      expect(await b.lease.tryAcquire()).toBe(true);
      const second = parseLease(b.lease.held!);
      expect(second).toMatchObject({ replica: 'b', apiUrl: 'http://b.test:8080' });
      expect(Number(second!.token)).toBeGreaterThan(Number(first!.token));

      await b.lease.release();
      expect(await a.lease.tryAcquire()).toBe(true);
      expect(Number(a.lease.token)).toBeGreaterThan(Number(second!.token));
    });

    it('reads an api url that itself contains `|`, and nothing when the lease is free', () => {
      expect(parseLease('7|r1|http://h/x|y')).toEqual({ token: '7', replica: 'r1', apiUrl: 'http://h/x|y' });
      expect(parseLease(null)).toBeUndefined();
    });

    it('is kept past its TTL by renewing, with nobody else able to take it', async () => {
      const keys = freshKeys();
      const ttlMs = 400;
      const a = makeLease(keys, 'a', ttlMs);
      const b = makeLease(keys, 'b', ttlMs);
      expect(await a.lease.tryAcquire()).toBe(true);
      const value = a.lease.held;
      const since = Date.now();
      // Sampled all along for three TTLs: every sample where the key lapsed or changed hands is kept (a throw in
      // `until` would only mean "not yet").
      const wrong: string[] = [];
      let samples = 0;
      await until(
        'the lease to have been held for three TTLs',
        async () => {
          const now = await redis.get(keys.lease);
          if (now !== value) wrong.push(`${Date.now() - since} ms: ${now ?? 'free'}`);
          if (await b.lease.tryAcquire()) wrong.push(`${Date.now() - since} ms: b acquired`);
          samples += 1;
          return Date.now() - since >= 3 * ttlMs;
        },
        WAIT_MS,
      );
      expect(wrong).toEqual([]);
      expect(samples).toBeGreaterThan(3);
      expect(await a.lease.holder()).toMatchObject({ replica: 'a', token: a.lease.token });
      expect(a.lost).toEqual([]);
    });

    it('passes to another replica once its holder stops renewing, and not before', async () => {
      const keys = freshKeys();
      const b = makeLease(keys, 'b');
      // A dead holder: a token from the counter, then a lease nobody renews.
      const deadToken = await redis.incr(keys.fence);
      const dead = `${deadToken}|dead|http://dead.test:8080`;
      const since = Date.now();
      await redis.set(keys.lease, dead, 'PX', 400);
      expect(await b.lease.tryAcquire()).toBe(false);
      expect(b.lease.held).toBeUndefined();
      expect((await b.lease.holder())?.replica).toBe('dead');

      await until('b to take over the lease', () => b.lease.tryAcquire(), WAIT_MS);
      // Redis expires on its own clock; a few ms of slack for the clocks' granularity.
      expect(Date.now() - since).toBeGreaterThanOrEqual(390);
      expect(await b.lease.holder()).toMatchObject({ replica: 'b' });
      expect(Number(b.lease.token)).toBeGreaterThan(deadToken);
    });

    it('calls onLost once, with OPR_ERR_LEASE_LOST, when another value replaces the held one', async () => {
      const keys = freshKeys();
      const ttlMs = 300;
      const a = makeLease(keys, 'a', ttlMs);
      expect(await a.lease.tryAcquire()).toBe(true);
      await redis.set(keys.lease, '999|usurper|http://usurper.test:8080');

      await until('onLost to be called', () => a.lost.length > 0, WAIT_MS);
      const [e] = a.lost;
      expect(e).toBeInstanceOf(OprError);
      expect(e!.code).toBe('OPR_ERR_LEASE_LOST');
      expect(e!.message).toContain('usurper');
      expect(e!.details).toMatchObject({ replica: 'a' });
      // Several renewal periods later, still told only once, and the other value is left in place.
      await sleep(ttlMs * 2);
      expect(a.lost).toHaveLength(1);
      expect(await redis.get(keys.lease)).toBe('999|usurper|http://usurper.test:8080');
    });

    it('is freed at once by release(), so another replica takes it immediately', async () => {
      const keys = freshKeys();
      const a = makeLease(keys, 'a', 5_000);
      const b = makeLease(keys, 'b', 5_000);
      expect(await a.lease.tryAcquire()).toBe(true);
      expect(await b.lease.tryAcquire()).toBe(false);
      await a.lease.release();
      expect(a.lease.held).toBeUndefined();
      expect(await redis.exists(keys.lease)).toBe(0);
      expect(await b.lease.tryAcquire()).toBe(true);
      expect(await b.lease.holder()).toMatchObject({ replica: 'b' });
      expect(a.lost).toEqual([]);
    });

    it('is not deleted by release() from a replica that no longer holds it', async () => {
      const keys = freshKeys();
      const a = makeLease(keys, 'a', 5_000);
      expect(await a.lease.tryAcquire()).toBe(true);
      // Replaced before a's next renewal (every 1.6 s) can notice: release() itself must check who holds it.
      await redis.set(keys.lease, '999|other|http://other.test:8080', 'PX', 5_000);
      await a.lease.release();
      expect(await redis.get(keys.lease)).toBe('999|other|http://other.test:8080');
      expect(a.lost).toEqual([]);
    });
  });
});
