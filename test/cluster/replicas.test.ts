import { Redis } from 'ioredis';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { Simulator } from '../../src/simulator/index.js';
import { startSimulator } from '../../src/simulator/index.js';
import { postOnline, startTestDaemon } from '../helpers/daemon-fixture.js';
import { readAllEvents } from '../reliability/helpers.js';
import { FAST_RECONCILE } from '../helpers/sim-pair.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

let redis: TestRedisServer;
let prefixN = 0;
const running: TestDaemon[] = [];

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) {
      await d.close();
      d.cleanupDir();
    }
  });

  async function replica(prefix: string, name: string, sim?: Simulator, pushUrl?: string): Promise<TestDaemon> {
    const d = await startTestDaemon({
      ...(pushUrl ? { subscribers: [{ name: 'billing', url: pushUrl }] } : {}),
      store: { backend: 'redis', redis: { url: redis.url, keyPrefix: prefix, leaseTtlMs: 1000, replicaName: name } },
      ...(sim
        ? {
            openim: { apiUrl: sim.apiUrl, secret: sim.secret, retries: 1, timeoutMs: 2000 },
            poll: { enabled: true, intervalSeconds: 1, coverageSeconds: 1 },
            reconcile: FAST_RECONCILE,
          }
        : {}),
    });
    running.push(d);
    return d;
  }

  describe('replicas sharing one redis', () => {
    it('serve the same stream, with the same seqs, whichever replica took the webhooks', async () => {
      const prefix = `t${++prefixN}:`;
      const a = await replica(prefix, 'a');
      const b = await replica(prefix, 'b');
      await until('a writer', () => a.cluster!.status().role === 'writer' || b.cluster!.status().role === 'writer');
      for (let i = 1; i <= 20; i++) {
        const target = i % 2 === 0 ? a : b;
        const r = await postOnline(target, `u${i}`, i);
        expect(r.status).toBe(200);
      }
      const onA = await until('20 events on a', async () =>
        (await readAllEvents(a.apiUrl)).length === 20 ? readAllEvents(a.apiUrl) : undefined,
      );
      const onB = await until('20 events on b', async () =>
        (await readAllEvents(b.apiUrl)).length === 20 ? readAllEvents(b.apiUrl) : undefined,
      );
      expect(onA.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(onB).toEqual(onA);
    });

    it("forward an operator's acknowledgement from a follower to the writer, and refuse a second hop", async () => {
      const sim = await startSimulator({ users: 5, workload: false, loss: 1 });
      try {
        const prefix = `t${++prefixN}:`;
        const a = await replica(prefix, 'a', sim);
        await until('a writer', () => a.cluster!.status().role === 'writer');
        const b = await replica(prefix, 'b', sim);
        // The first polls learn the empty state; a connection whose webhook is lost is then a missed online.
        await new Promise((r) => setTimeout(r, 1500));
        sim.connect('u1', 1);
        const mismatch = await until(
          'a missed_online on the follower',
          async () => {
            const res = await fetch(`${b.apiUrl}/v1/mismatches`);
            const list = ((await res.json()) as { mismatches: { id: number; kind: string; status: string }[] })
              .mismatches;
            return list.find((m) => m.kind === 'missed_online');
          },
          20_000,
        );
        expect(mismatch.status).toBe('open');
        const ack = await fetch(`${b.apiUrl}/v1/mismatches/${mismatch.id}/ack`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ note: 'seen' }),
        });
        expect(ack.status).toBe(200);
        expect(((await ack.json()) as { status: string }).status).toBe('acknowledged');
        for (const d of [a, b]) {
          await until(`the acknowledgement on ${d === a ? 'a' : 'b'}`, async () => {
            const m = (await (await fetch(`${d.apiUrl}/v1/mismatches/${mismatch.id}`)).json()) as { status: string };
            return m.status === 'acknowledged' || undefined;
          });
        }
        // A request already forwarded once is not forwarded again (no loop between replicas that disagree on the writer).
        const hop = await fetch(`${b.apiUrl}/v1/mismatches/${mismatch.id}/resolve`, {
          method: 'POST',
          headers: { 'x-opr-forwarded-by': 'c' },
        });
        expect(hop.status).toBe(503);
        expect(((await hop.json()) as { error: { code: string } }).error.code).toBe('OPR_ERR_NOT_LEADER');
      } finally {
        await sim.close();
      }
    });

    it("answer GET /v1/subscribers on a follower with the writer's live delivery state", async () => {
      let received = 0;
      const receiver = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          received++;
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      const pushUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      try {
        const prefix = `t${++prefixN}:`;
        const a = await replica(prefix, 'a', undefined, pushUrl);
        await until('a writer', () => a.cluster!.status().role === 'writer');
        const b = await replica(prefix, 'b', undefined, pushUrl);
        for (let i = 1; i <= 5; i++) {
          expect((await postOnline(b, `p${i}`, i)).status).toBe(200);
        }
        const onB = await until('the follower to report the subscriber at the head', async () => {
          const list = (
            (await (await fetch(`${b.apiUrl}/v1/subscribers`)).json()) as {
              subscribers: { name: string; cursor: number; head: number }[];
            }
          ).subscribers;
          const s = list.find((x) => x.name === 'billing');
          return s && s.cursor === 5 ? s : undefined;
        });
        expect(onB.head).toBe(5);
        expect(received).toBeGreaterThan(0);
      } finally {
        await new Promise((r) => receiver.close(r));
      }
    });

    it('refuse a store.path that holds a single-node store, pointing at migrate, and leave the file as it was', async () => {
      const single = await startTestDaemon({});
      expect((await postOnline(single, 'x1', 1)).status).toBe(200);
      await single.close();
      const path = single.store.location;
      try {
        await expect(
          startTestDaemon({
            store: {
              backend: 'redis',
              path,
              redis: { url: redis.url, keyPrefix: `t${++prefixN}:`, leaseTtlMs: 1000, replicaName: 'a' },
            },
          }),
        ).rejects.toThrow(/single-node store.*migrate/);
        const again = await startTestDaemon({ store: { path } });
        expect(again.store.headSeq()).toBe(1);
        await again.close();
        again.cleanupDir();
      } finally {
        single.cleanupDir();
      }
    });

    it('refuse webhooks with 503 while the inbox holds webhook.queueLimit the writer has not ingested, and lose none acknowledged', async () => {
      const prefix = `t${++prefixN}:`;
      const admin = new Redis(redis.url);
      try {
        // A writer that never ingests: its lease is held, nobody consumes the inbox.
        await admin.set(`${prefix}lease`, '1|gone|', 'PX', 60_000);
        const d = await startTestDaemon({
          webhook: { queueLimit: 5 },
          store: { backend: 'redis', redis: { url: redis.url, keyPrefix: prefix, leaseTtlMs: 1000, replicaName: 'a' } },
        });
        running.push(d);
        const acked: string[] = [];
        let refused = 0;
        for (let i = 1; i <= 40 && refused === 0; i++) {
          const r = await postOnline(d, `q${i}`, i);
          if (r.status === 200) acked.push(`q${i}`);
          else {
            expect(r.status).toBe(503);
            expect(r.body).toContain('overloaded');
            refused++;
          }
          await new Promise((res) => setTimeout(res, 30));
        }
        expect(refused).toBe(1);
        expect(acked.length).toBeGreaterThanOrEqual(5);
        // The writer is back (its lease freed): everything acknowledged is ingested, and webhooks are taken again.
        await admin.del(`${prefix}lease`);
        const ev = await until('the acknowledged webhooks in the stream', async () => {
          const list = await readAllEvents(d.apiUrl);
          return list.length === acked.length ? list : undefined;
        });
        expect(ev.map((e) => e.userID).sort()).toEqual([...acked].sort());
        await until('webhooks accepted again', async () => {
          const r = await postOnline(d, 'after', 999);
          return r.status === 200 || undefined;
        });
      } finally {
        admin.disconnect();
      }
    });
  });
});
