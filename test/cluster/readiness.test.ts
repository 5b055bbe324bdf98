/**
 * /readyz and /v1/health of a replica on the Redis backend, against a real redis-server: ready once elected, not
 * ready when Redis persists less than store.redis.durability asks, and not ready (webhooks answered 503, nothing
 * half-written) while Redis is down, then ready again once it is back, without losing an acknowledged webhook.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { webhookErrorBody } from '../../src/openim/webhook-schemas.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { readAllEvents } from '../reliability/helpers.js';
import type { RedisServerOptions, TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

type TestDaemon = Daemon & { cleanupDir: () => void };
type Redis = NonNullable<NonNullable<Parameters<typeof startTestDaemon>[0]>['store']>['redis'];

const ONLINE = 'callbackAfterUserOnlineCommand';

let prefixN = 0;
const daemons: TestDaemon[] = [];
const servers: TestRedisServer[] = [];

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  afterEach(async () => {
    for (const d of daemons.splice(0)) {
      await d.close();
      d.cleanupDir();
    }
    for (const s of servers.splice(0)) await s.stop();
  });

  async function redisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
    const s = await startRedisServer(options);
    servers.push(s);
    return s;
  }

  async function replica(url: string, redis: Redis = {}): Promise<TestDaemon> {
    const d = await startTestDaemon({
      store: {
        backend: 'redis',
        redis: { url, keyPrefix: `r${++prefixN}:`, leaseTtlMs: 1000, replicaName: 'a', ...redis },
      },
    });
    daemons.push(d);
    return d;
  }

  async function readyz(d: Daemon): Promise<{ status: number; body: { status: string; reason: string } }> {
    const res = await fetch(`${d.apiUrl}/readyz`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.json()) as { status: string; reason: string } };
  }

  interface ClusterJson {
    replica: string;
    role: 'writer' | 'follower';
    writer?: { replica: string };
    redis: { url: string; connected: boolean; durability: { wanted: string; actual: string; ok: boolean } };
  }

  async function clusterHealth(d: Daemon): Promise<ClusterJson> {
    const res = await fetch(`${d.apiUrl}/v1/health`, { signal: AbortSignal.timeout(5000) });
    return ((await res.json()) as { cluster: ClusterJson }).cluster;
  }

  /** A webhook post that cannot hang the test: a timeout counts as status 0. */
  async function post(d: Daemon, userID: string, seq: number): Promise<{ status: number; body: string }> {
    const body = webhookBody(ONLINE, userID, 1, seq);
    try {
      const res = await fetch(`${d.webhookUrl}/${ONLINE}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body,
        signal: AbortSignal.timeout(15_000),
      });
      return { status: res.status, body: await res.text() };
    } catch (e) {
      return { status: 0, body: (e as Error).message };
    }
  }

  describe('readiness of a replica on the redis backend', () => {
    it('is ready, and the writer, once elected', async () => {
      const redis = await redisServer();
      const d = await replica(redis.url);
      await until('/readyz 200', async () => (await readyz(d)).status === 200);
      const cluster = await until('role writer in /v1/health', async () => {
        const c = await clusterHealth(d);
        return c.role === 'writer' ? c : undefined;
      });
      expect(cluster.replica).toBe('a');
      expect(cluster.redis.connected).toBe(true);
      expect(cluster.redis.durability).toMatchObject({ wanted: 'always', actual: 'always', ok: true });
      await until('the writer seen as holder', async () => (await clusterHealth(d)).writer?.replica === 'a');
      expect((await readyz(d)).body).toEqual({ status: 'ready', reason: 'ok' });
      const r = await postWebhook(d, ONLINE, webhookBody(ONLINE, 'ready-u1', 1, 1));
      expect(r.status).toBe(200);
      await until('the event', async () => (await readAllEvents(d.apiUrl)).some((e) => e.userID === 'ready-u1'));
    });

    it('is not ready when redis persists less than store.redis.durability asks, and says so', async () => {
      const redis = await redisServer({ appendfsync: 'everysec' });
      const d = await replica(redis.url, { durability: 'always' });
      // It still runs (and is elected): only readiness says Redis is weaker than asked.
      await until('role writer', async () => (await clusterHealth(d)).role === 'writer');
      const r = await readyz(d);
      expect(r.status).toBe(503);
      expect(r.body.status).toBe('not ready');
      expect(r.body.reason).toContain('everysec');
      expect(r.body.reason).toContain('store.redis.durability always');
      expect((await clusterHealth(d)).redis.durability).toMatchObject({
        wanted: 'always',
        actual: 'everysec',
        ok: false,
      });

      // Asking for everysec of the same server is ready.
      const lax = await replica(redis.url, { durability: 'everysec' });
      await until('/readyz 200 with durability everysec', async () => (await readyz(lax)).status === 200);
    });

    /**
     * Posts 10 webhooks (each answered 200), then kills Redis in the middle of a burst (4 concurrent posters, once 5 of
     * the burst are acknowledged); checks that each burst webhook is answered 200 or 503 (never anything else, never a
     * hang), that /readyz turns 503 naming redis and that a webhook posted meanwhile gets 503 with OpenIM's error body.
     * Returns the users acknowledged.
     */
    async function outage(d: Daemon, redis: TestRedisServer): Promise<string[]> {
      await until(
        '/readyz 200 as the writer',
        async () => (await readyz(d)).status === 200 && (await clusterHealth(d)).role === 'writer',
      );
      const acked: string[] = [];
      for (let i = 1; i <= 10; i++) {
        const r = await post(d, `before-${i}`, i);
        expect(r.status).toBe(200);
        acked.push(`before-${i}`);
      }
      const answers: { user: string; status: number; body: string }[] = [];
      let next = 0;
      let killed = false;
      const poster = async (): Promise<void> => {
        while (!killed && next < 1000) {
          const n = ++next;
          const r = await post(d, `burst-${n}`, 100 + n);
          answers.push({ user: `burst-${n}`, ...r });
        }
      };
      const burst = Promise.all([poster(), poster(), poster(), poster()]);
      await until('5 of the burst acknowledged', () => answers.filter((a) => a.status === 200).length >= 5);
      await redis.kill();
      killed = true;
      await burst;
      for (const a of answers) expect([200, 503], `${a.user}: ${a.body}`).toContain(a.status);
      for (const a of answers) if (a.status === 200) acked.push(a.user);

      const down = await until('/readyz 503 during the outage', async () => {
        const r = await readyz(d);
        return r.status === 503 ? r : undefined;
      });
      expect(down.body.status).toBe('not ready');
      expect(down.body.reason).toMatch(/redis unavailable/);
      const refused = await post(d, 'during-1', 500);
      expect(refused.status).toBe(503);
      const shape = JSON.parse(refused.body) as Record<string, unknown>;
      expect(Object.keys(shape).sort()).toEqual(['actionCode', 'errCode', 'errDlt', 'errMsg', 'nextCode']);
      expect(shape).toMatchObject({ actionCode: 0, errCode: 1001, errDlt: '', nextCode: 0 });
      expect(refused.body).toBe(webhookErrorBody('store unavailable, try later'));
      return acked;
    }

    /** Once Redis is back: ready, a new webhook is taken, and every acknowledged one is in /v1/events. */
    async function recovered(d: Daemon, acked: string[]): Promise<void> {
      await until('/readyz 200 after redis is back', async () => (await readyz(d)).status === 200, 10_000);
      await until('a webhook accepted after redis is back', async () => (await post(d, 'after-1', 600)).status === 200);
      const seen = await until('every acknowledged webhook and the new one in /v1/events', async () => {
        const users = new Set((await readAllEvents(d.apiUrl)).map((e) => e.userID));
        return [...acked, 'after-1'].every((u) => users.has(u)) ? users : undefined;
      });
      for (const u of acked) expect(seen.has(u)).toBe(true);
      // The one refused during the outage was not half-written.
      expect(seen.has('during-1')).toBe(false);
    }

    /*
     * A writer rides out an outage shorter than its lease. A longer one costs it the lease (another replica may have
     * taken over meanwhile, and fencing would refuse its appends): it stops and exits, to be restarted as a follower.
     */
    it('reports a redis outage shorter than the lease TTL, answers webhooks 503 meanwhile, and recovers in-process without losing an acknowledged webhook', async () => {
      const redis = await redisServer();
      const d = await replica(redis.url, { leaseTtlMs: 10_000 });
      const acked = await outage(d, redis);
      await redis.restart();
      await recovered(d, acked);
      expect((await clusterHealth(d)).role).toBe('writer');
    });

    it('loses nothing acknowledged when an outage outlasts the lease (leaseTtlMs 1000) and the writer has to be restarted', async () => {
      const redis = await redisServer();
      // The default onFatal exits the process: record that instead, the replica being closed all the same.
      const exits: unknown[] = [];
      const exitSpy = vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
        exits.push(code);
        return undefined as never;
      });
      try {
        const keyPrefix = `r${++prefixN}:`;
        const d = await replica(redis.url, { keyPrefix });
        const acked = await outage(d, redis);
        // Down for longer than the lease: the writer gives up (today: it closes and exits, to be restarted).
        await until('the writer gives the lease up', () => exits.length > 0 || undefined, 15_000);
        expect(exits).toEqual([1]);
        await redis.restart();
        // What a supervisor does: start the replica again (it rebuilds or keeps its copy and is elected).
        const serving = await replica(redis.url, { keyPrefix });
        await recovered(serving, acked);
      } finally {
        exitSpy.mockRestore();
      }
    });
  });
});
