import { describe, expect, it } from 'vitest';
import { adminToken, authed, bodies, receiver, simulator, until, untilSimTime } from './helpers.js';

const ONLINE = 'callbackAfterUserOnlineCommand';
const OFFLINE = 'callbackAfterUserOfflineCommand';

describe('the presence webhook sender', () => {
  describe('when connections open in one flush interval', () => {
    it('sends each shard’s states as one batch sharing one operationID p_<pid>_<n>, with connID "" and the gateway clock as seq', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 1, users: 50, speed: 20, webhookUrl: `${rx.url}/callbackExample` });
      const before = sim.now();
      for (let i = 1; i <= 40; i++) sim.connect(`u${i}`, 5);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received).toHaveLength(40);
      const received = bodies(rx.received);
      const byOperation = new Map<string, Record<string, unknown>[]>();
      for (const w of received) byOperation.set(w.operationID as string, [...(byOperation.get(w.operationID as string) ?? []), w]);
      // The presence loop has 4 shards, each flushed as one batch: at most 4 operationIDs for 40 users.
      expect(byOperation.size).toBeGreaterThanOrEqual(1);
      expect(byOperation.size).toBeLessThanOrEqual(4);
      const pid = /^p_(\d+)_\d+$/.exec(received[0]!.operationID as string)![1]!;
      expect([...byOperation.keys()].sort()).toEqual(Array.from({ length: byOperation.size }, (_, i) => `p_${pid}_${i + 1}`));
      for (const events of byOperation.values()) expect(new Set(events.map((w) => w.userID)).size).toBe(events.length);
      expect(new Set(received.map((w) => w.seq)).size).toBe(1);
      expect(received[0]!.seq as number).toBeGreaterThanOrEqual(before);
      expect(received[0]!.seq as number).toBeLessThanOrEqual(sim.now());
      expect(new Set(rx.received.map((w) => w.url))).toEqual(new Set([`/callbackExample/${ONLINE}`]));
      expect(new Set(received.map((w) => w.connID))).toEqual(new Set(['']));
    });

    it('writes the exact bytes and headers Go writes', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 1, speed: 20, adminUserID: 'a<b>&c', webhookUrl: rx.url });
      sim.connect('a<b>&c', 10);
      await sim.quiesce({ timeoutMs: 5000 });
      const w = rx.received[0]!;
      const j = bodies([w])[0]!;
      expect(w.body).toBe(
        `{"callbackCommand":"${ONLINE}","operationID":"${j.operationID as string}","platformID":10,"platform":"Admin",` +
          `"userID":"a\\u003cb\\u003e\\u0026c","seq":${j.seq as number},"isAppBackground":false,"connID":""}\n`,
      );
      const port = new URL(rx.url).port;
      expect(w.rawHeaders).toEqual([
        'Host',
        `127.0.0.1:${port}`,
        'User-Agent',
        'Go-http-client/1.1',
        'Content-Length',
        String(Buffer.byteLength(w.body)),
        'Content-Type',
        'application/json; charset=utf-8',
        'Operationid',
        j.operationID as string,
        'Accept-Encoding',
        'gzip',
        'Connection',
        'keep-alive',
      ]);
      expect(w.url).toBe(`/${ONLINE}`);
    });

    it('gives the offline body no isAppBackground field and names unknown platforms ""', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 1, speed: 20, webhookUrl: rx.url });
      sim.connect('u1', 42);
      await sim.quiesce({ timeoutMs: 5000 });
      sim.disconnect('u1', 42);
      await sim.quiesce({ timeoutMs: 5000 });
      const off = rx.received.find((w) => w.url.endsWith(OFFLINE))!;
      const j = bodies([off])[0]!;
      expect(off.body).toBe(
        `{"callbackCommand":"${OFFLINE}","operationID":"${j.operationID as string}","platformID":42,"platform":"","userID":"u1","seq":${j.seq as number},"connID":""}\n`,
      );
    });

    it('posts to <url>//<command> when the url ends in a slash', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, speed: 20, webhookUrl: `${rx.url}/cb/` });
      sim.connect('u1', 1);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received[0]!.url).toBe(`/cb//${ONLINE}`);
    });
  });

  describe('when one of two connections on the same platform closes', () => {
    it('builds online(5) then offline(5) with the same seq and operationID', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 1, speed: 20, webhookUrl: rx.url, webhookLogSize: 100 });
      sim.connect('u1', 5);
      sim.connect('u1', 5);
      await sim.quiesce({ timeoutMs: 5000 });
      const built = sim.webhookLog().length;
      expect(sim.disconnect('u1', 5)).toBe(true);
      await sim.quiesce({ timeoutMs: 5000 });
      const pair = bodies(sim.webhookLog().slice(built));
      expect(pair.map((w) => [w.callbackCommand, w.platformID])).toEqual([
        [ONLINE, 5],
        [OFFLINE, 5],
      ]);
      expect(pair[0]!.seq).toBe(pair[1]!.seq);
      expect(pair[0]!.operationID).toBe(pair[1]!.operationID);
      // The live view still shows the remaining connection.
      const token = await adminToken(sim);
      const live = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1'] });
      expect((live.json?.data as { status: number }[])[0]!.status).toBe(1);
      expect(rx.received).toHaveLength(sim.counters().webhooks.delivered);
    });

    it('re-announces every remaining connection of the user on that gateway at each change', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 1, speed: 20, webhookUrl: rx.url, webhookLogSize: 100 });
      sim.connect('u1', 2);
      await sim.quiesce({ timeoutMs: 5000 });
      const built = sim.webhookLog().length;
      sim.connect('u1', 5);
      await sim.quiesce({ timeoutMs: 5000 });
      const entries = bodies(sim.webhookLog().slice(built));
      expect(entries.map((w) => w.platformID)).toEqual([2, 5]);
      expect(entries.every((w) => w.callbackCommand === ONLINE)).toBe(true);
    });
  });

  describe('when a tab closes on one gateway while another gateway holds the same platform', () => {
    it('self-heals: the other gateway re-announces online about a second later', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 2, speed: 20, webhookUrl: rx.url, webhookLogSize: 100 });
      sim.connect('u1', 5, 0);
      sim.connect('u1', 5, 1);
      await sim.quiesce({ timeoutMs: 5000 });
      const built = sim.webhookLog().length;
      const heals = sim.counters().states.selfHeals;
      sim.disconnect('u1', 5, 1);
      await sim.quiesce({ timeoutMs: 5000 });
      const after = sim.webhookLog().slice(built);
      expect(after.map((w) => [w.gateway, w.command])).toEqual([
        [1, OFFLINE],
        [0, ONLINE],
      ]);
      const [off, on] = bodies(after);
      expect((on!.seq as number) - (off!.seq as number)).toBeGreaterThan(0);
      expect((on!.seq as number) - (off!.seq as number)).toBeLessThanOrEqual(1000);
      expect(sim.counters().states.selfHeals).toBe(heals + 1);
    });
  });

  describe('renewal', () => {
    it('re-announces each connected user every 10–20 simulated minutes with no change', async () => {
      const rx = await receiver();
      // At this speed the default 5 s webhook timeout would be 4 real ms: give the receiver room.
      const sim = await simulator({ workload: false, gateways: 1, speed: 1200, webhookUrl: rx.url, webhookTimeoutMs: 3_600_000 });
      sim.connect('u1', 2);
      sim.connect('u2', 1);
      sim.connect('u2', 5);
      const start = sim.now();
      await untilSimTime(sim, start + 41 * 60_000, 15_000);
      sim.disconnectAll('u1');
      await sim.quiesce({ timeoutMs: 5000 });
      const received = bodies(rx.received);
      for (const [user, platform] of [
        ['u1', 2],
        ['u2', 1],
        ['u2', 5],
      ] as const) {
        const seqs = received
          .filter((w) => w.userID === user && w.platformID === platform && w.callbackCommand === ONLINE)
          .map((w) => w.seq as number)
          .sort((a, b) => a - b);
        // Connect, then renewals: never more than 20 minutes of silence, never two within 10 minutes (but for the
        // re-announcement of u2's first platform when its second connected).
        expect(seqs.length).toBeGreaterThanOrEqual(3);
        const gaps = seqs.slice(1).map((s, i) => s - seqs[i]!);
        expect(Math.max(...gaps)).toBeLessThanOrEqual(20 * 60_000 + 1000);
        expect(gaps.filter((g) => g >= 10 * 60_000).length).toBeGreaterThanOrEqual(2);
      }
      expect(sim.counters().states.renewals).toBeGreaterThanOrEqual(4);
      expect(received.filter((w) => w.callbackCommand === OFFLINE).map((w) => w.userID)).toEqual(['u1']);
    });
  });

  describe('when the receiver answers slowly', () => {
    it('fills the 100-slot queue, makes pushes wait 3 simulated seconds, then drops them', async () => {
      const rx = await receiver();
      rx.hold();
      const sim = await simulator({
        workload: false,
        gateways: 1,
        users: 200,
        speed: 100,
        webhookUrl: rx.url,
        webhookTimeoutMs: 3_600_000,
      });
      for (let i = 1; i <= 110; i++) sim.connect(`u${i}`, 1);
      // 2 in flight (held) + 100 queued; the other 8 each wait 3 s for a slot that never frees.
      await rx.waitFor(2);
      const flushedAt = bodies(rx.received)[0]!.seq as number;
      await until(() => sim.counters().webhooks.dropped.queueFull > 0, 10_000, 'the first drop');
      // No push gives up before it has waited 3 simulated seconds.
      expect(sim.now() - flushedAt).toBeGreaterThanOrEqual(3000);
      await until(() => sim.counters().webhooks.dropped.queueFull === 8, 10_000, 'eight drops');
      expect(sim.counters().webhooks.pending).toBe(102);
      rx.release();
      await sim.quiesce({ timeoutMs: 10_000 });
      const c = sim.counters().webhooks;
      expect(c.dropped.queueFull).toBe(8);
      expect(c.queueWaits).toBe(8);
      expect(c.delivered).toBe(102);
      expect(rx.received).toHaveLength(102);
      expect(c.pending).toBe(0);
    });

    it('counts a non-2xx answer as a receiver error, and never retries', async () => {
      const rx = await receiver();
      rx.setStatus(500);
      const sim = await simulator({ workload: false, speed: 20, webhookUrl: rx.url });
      sim.connect('u1', 1);
      sim.connect('u2', 1);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received).toHaveLength(2);
      expect(sim.counters().webhooks).toMatchObject({ sent: 2, delivered: 0, dropped: { receiverError: 2 } });
    });

    it('counts a receiver that does not answer within the webhook timeout as a receiver error', async () => {
      const rx = await receiver();
      rx.hold();
      const sim = await simulator({ workload: false, speed: 100, webhookUrl: rx.url });
      sim.connect('u1', 1);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(sim.counters().webhooks.dropped.receiverError).toBe(1);
      rx.release();
    });
  });

  describe('fault knobs on webhooks', () => {
    it('loses every webhook with loss 1 and counts them', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, speed: 20, webhookUrl: rx.url, loss: 1 });
      sim.connect('u1', 1);
      sim.connect('u2', 2);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received).toHaveLength(0);
      expect(sim.counters().webhooks.dropped.loss).toBe(2);
    });

    it('sends every webhook twice with duplication 1', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, speed: 20, webhookUrl: rx.url, duplication: 1 });
      sim.connect('u1', 1);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received).toHaveLength(2);
      expect(rx.received[0]!.body).toBe(rx.received[1]!.body);
      expect(sim.counters().webhooks).toMatchObject({ generated: 1, duplicated: 1, delivered: 2 });
    });

    it('delays and reorders webhooks, and quiesce waits for them', async () => {
      const rx = await receiver();
      const sim = await simulator({
        workload: false,
        gateways: 1,
        users: 50,
        speed: 100,
        webhookUrl: rx.url,
        webhookTimeoutMs: 600_000,
        delayMs: 2000,
        reorderMs: 5000,
      });
      for (let i = 1; i <= 40; i++) sim.connect(`u${i}`, 1);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received).toHaveLength(40);
      const users = bodies(rx.received).map((w) => Number((w.userID as string).slice(1)));
      expect(users).not.toEqual([...users].sort((a, b) => a - b));
    });

    it('sends no presence webhooks in 3.8.1 mode, while the Redis view still follows', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, speed: 20, webhookUrl: rx.url, version: '3.8.1' });
      sim.connect('u1', 1);
      await sim.quiesce({ timeoutMs: 5000 });
      sim.disconnect('u1', 1);
      sim.connect('u2', 5);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received).toHaveLength(0);
      expect(sim.counters().webhooks.dropped.version).toBe(3);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_status', { userID: 'imAdmin', userIDs: ['u1', 'u2'] });
      expect(r.text).toContain('{"userID":"u2","status":1,"platformIDs":[5]}');
      expect(r.text).toContain('{"userID":"u1","status":0,"platformIDs":null}');
    });

    it('sends nothing without a webhook URL and counts the webhooks as disabled', async () => {
      const sim = await simulator({ workload: false, speed: 20 });
      sim.connect('u1', 1);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(sim.counters().webhooks.dropped.disabled).toBe(1);
    });

    it('shifts seq by the gateway clock skew', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 2, speed: 20, webhookUrl: rx.url, clockSkewMs: [0, -60_000], webhookLogSize: 10 });
      sim.connect('u1', 1, 1);
      const t = sim.now();
      await sim.quiesce({ timeoutMs: 5000 });
      const seq = bodies(rx.received)[0]!.seq as number;
      expect(seq).toBeLessThan(t - 58_000);
    });
  });
});
