import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { SubscriberJson, SubscriberList } from '../../src/api/subscriber-routes.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { EventBus } from '../../src/engine/event-bus.js';
import { ConfigError } from '../../src/errors.js';
import { PushDispatcher } from '../../src/push/push-dispatcher.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { firstBreak, produce, sleep, userIDs, waitUntil } from '../api/stream-fixtures.js';
import type { Receiver } from './receiver.js';
import { SECRET, startPushDaemon, startReceiver } from './receiver.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

/** `d`, whose cleanup also removes the directory of the daemon it took over the database from. */
function alsoCleaning(d: TestDaemon, previous: { cleanupDir: () => void }): TestDaemon {
  const own = d.cleanupDir;
  d.cleanupDir = () => {
    own();
    previous.cleanupDir();
  };
  return d;
}

async function subscriber(d: Daemon, name: string): Promise<SubscriberJson> {
  const list = (await (await fetch(`${d.apiUrl}/v1/subscribers`)).json()) as SubscriberList;
  const s = list.subscribers.find((x) => x.name === name);
  if (!s) throw new Error(`no subscriber ${name}`);
  return s;
}

async function post(d: Daemon, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const init: RequestInit = { method: 'POST' };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${d.apiUrl}${path}`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('push delivery to configured subscribers', () => {
  let d: TestDaemon | undefined;
  let r: Receiver | undefined;
  afterEach(async () => {
    await d?.close();
    d?.cleanupDir();
    await r?.close();
    d = undefined;
    r = undefined;
  });

  it('POSTs batches in seq order, signed per Standard Webhooks, and persists the cursor', async () => {
    r = await startReceiver();
    d = await startPushDaemon([{ name: 'billing', url: r.url, secret: SECRET, batchSize: 3 }]);
    await produce(d, 10);
    const rec = r;
    await waitUntil(() => rec.seqs().length === 10, 'ten events');
    expect(r.deliveries.map((x) => x.events.map((e) => e.seq))).toEqual([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]);
    const wh = new Webhook(SECRET);
    for (const x of r.deliveries) {
      expect(x.headers['content-type']).toBe('application/json');
      const verified = wh.verify(x.body, x.headers as Record<string, string>) as { events: { seq: number }[] };
      expect(verified.events.map((e) => e.seq)).toEqual(x.events.map((e) => e.seq));
    }
    expect(r.deliveries.map((x) => x.headers['webhook-id'])).toEqual(['msg_billing_1_3', 'msg_billing_4_6', 'msg_billing_7_9', 'msg_billing_10_10']);
    // The body carries the events exactly as the JSON pages do.
    const page = (await (await fetch(`${d.apiUrl}/v1/events?after=0`)).json()) as { events: unknown[] };
    expect(r.deliveries.flatMap((x) => x.events)).toEqual(page.events);
    const daemon = d;
    await waitUntil(() => daemon.store.getSubscriberCursor('billing')?.cursor === 10, 'the persisted cursor');
    expect(await subscriber(d, 'billing')).toMatchObject({ state: 'active', cursor: 10, head: 10, lag: 0, attempts: 0, lastError: '', signed: true, deliveredEvents: 10 });
  });

  it('starts a new subscriber at the head and delivers only what matches its users and types', async () => {
    r = await startReceiver();
    const daemonless = await startPushDaemon([]);
    await produce(daemonless, 4, userIDs(4));
    const path = `${daemonless.dir}/presence.db`;
    await daemonless.close();
    d = alsoCleaning(await startPushDaemon([{ name: 'ops', url: r.url, secret: SECRET, users: ['u1', 'u2'], types: ['presence.offline'] }], undefined, path), daemonless);
    expect(await subscriber(d, 'ops')).toMatchObject({ cursor: 4, lag: 0 });
    await produce(d, 8, userIDs(4)); // #5-#8 offline, #9-#12 online
    const rec = r;
    await waitUntil(() => rec.seqs().length === 2, 'the matching events');
    await sleep(100);
    expect(r.deliveries.flatMap((x) => x.events).map((e) => [e.seq, e.userID, e.type])).toEqual([
      [6, 'u1', 'presence.offline'],
      [7, 'u2', 'presence.offline'],
    ]);
  });

  describe('when the receiver fails first', () => {
    it('retries the same batch with exponential backoff, then delivers and resets', async () => {
      r = await startReceiver((n) => (n < 3 ? 503 : 200));
      d = await startPushDaemon([{ name: 'billing', url: r.url, secret: SECRET }], { baseDelayMs: 60, maxDelayMs: 10_000, random: () => 0.999 });
      await produce(d, 2);
      const rec = r;
      await waitUntil(() => rec.deliveries.length === 4, 'four attempts');
      const ids = new Set(r.deliveries.map((x) => x.headers['webhook-id']));
      expect(ids).toEqual(new Set(['msg_billing_1_2']));
      const gaps = r.deliveries.slice(1).map((x, i) => x.at - r!.deliveries[i]!.at);
      // 60, 120, 240 ms (less rounding and timer slack).
      expect(gaps[0]).toBeGreaterThanOrEqual(50);
      expect(gaps[1]).toBeGreaterThanOrEqual(110);
      expect(gaps[2]).toBeGreaterThanOrEqual(230);
      for (const x of r.deliveries) expect(() => new Webhook(SECRET).verify(x.body, x.headers as Record<string, string>)).not.toThrow();
      const daemon = d;
      await waitUntil(() => daemon.store.getSubscriberCursor('billing')?.cursor === 2, 'the cursor');
      expect(await subscriber(d, 'billing')).toMatchObject({ state: 'active', attempts: 0, lastError: '' });
    });

    it('shows the retrying state, the attempts and the last error meanwhile', async () => {
      r = await startReceiver(() => 500);
      d = await startPushDaemon([{ name: 'billing', url: r.url, secret: SECRET, maxAttempts: 10 }], { baseDelayMs: 5000, maxDelayMs: 5000 });
      await produce(d, 3);
      const rec = r;
      await waitUntil(() => rec.deliveries.length === 1, 'the first attempt');
      const daemon = d;
      await waitUntil(() => daemon.store.getSubscriberCursor('billing')?.state === 'retrying', 'the retrying state');
      const s = await subscriber(d, 'billing');
      expect(s).toMatchObject({ state: 'retrying', cursor: 0, lag: 3, attempts: 1, lastError: 'HTTP 500' });
      expect(Date.parse(s.nextAttemptAt!)).toBeGreaterThan(Date.now());
    });

    it('records a timeout when the receiver does not answer in timeoutMs', async () => {
      r = await startReceiver((n) => (n === 0 ? 'hang' : 200));
      d = await startPushDaemon([{ name: 'slow', url: r.url, secret: SECRET, timeoutMs: 150 }], { baseDelayMs: 50, maxDelayMs: 50 });
      await produce(d, 1);
      const rec = r;
      await waitUntil(() => rec.deliveries.length === 2, 'the retry');
      const daemon = d;
      await waitUntil(() => daemon.store.getSubscriberCursor('slow')?.cursor === 1, 'the delivery');
      expect(r.deliveries[0]!.headers['webhook-id']).toBe(r.deliveries[1]!.headers['webhook-id']);
    });
  });

  describe('after maxAttempts failures in a row', () => {
    it('dead-letters the subscriber, sends nothing more, and an operator retry resumes delivery in order', async () => {
      r = await startReceiver(() => 500);
      d = await startPushDaemon([{ name: 'billing', url: r.url, secret: SECRET, maxAttempts: 2, batchSize: 5 }]);
      await produce(d, 8);
      const daemon = d;
      await waitUntil(() => daemon.store.getSubscriberCursor('billing')?.state === 'dead', 'the dead-letter state');
      expect(await subscriber(d, 'billing')).toMatchObject({ state: 'dead', cursor: 0, lag: 8, attempts: 2, lastError: 'HTTP 500 (2 attempts)', nextAttemptAt: null });
      await produce(d, 2);
      await sleep(300);
      expect(r.deliveries).toHaveLength(2);

      r.respond = () => 200;
      const retried = await post(d, '/v1/subscribers/billing/retry');
      expect(retried.status).toBe(200);
      const rec = r;
      await waitUntil(() => rec.deliveries.length === 4, 'the delivery after the retry');
      expect(r.deliveries.slice(2).map((x) => x.events.map((e) => e.seq))).toEqual([
        [1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10],
      ]);
      await waitUntil(() => daemon.store.getSubscriberCursor('billing')?.cursor === 10, 'the cursor');
      expect(await subscriber(d, 'billing')).toMatchObject({ state: 'active', attempts: 0, lastError: '' });
    });
  });

  describe('replay', () => {
    it('delivers every event from a seq on again, with new webhook ids', async () => {
      r = await startReceiver();
      d = await startPushDaemon([{ name: 'billing', url: r.url, secret: SECRET, batchSize: 4 }]);
      await produce(d, 10);
      const rec = r;
      await waitUntil(() => rec.seqs().length === 10, 'the first delivery');
      const replayed = await post(d, '/v1/subscribers/billing/replay', { fromSeq: 7 });
      expect(replayed.status).toBe(200);
      expect(replayed.body).toMatchObject({ name: 'billing', cursor: 6, state: 'active' });
      await waitUntil(() => rec.seqs().length === 14, 'the replay');
      expect(r.seqs().slice(10)).toEqual([7, 8, 9, 10]);
      expect(r.deliveries.at(-1)!.headers['webhook-id']).toMatch(/^msg_billing_7_10_r\d+$/);
      expect(firstBreak(r.seqs().slice(0, 10), 1)).toBe(-1);
    });

    it('refuses a seq removed by retention (410), beyond the head (400), a bad body (400) and an unknown name (404)', async () => {
      r = await startReceiver();
      d = await startPushDaemon([{ name: 'billing', url: r.url, secret: SECRET }]);
      await produce(d, 10);
      d.store.prune(Date.now() + 60_000);
      await produce(d, 2);
      expect((await post(d, '/v1/subscribers/billing/replay', { fromSeq: 5 })).status).toBe(410);
      expect((await post(d, '/v1/subscribers/billing/replay', { fromSeq: 11 })).status).toBe(200);
      expect((await post(d, '/v1/subscribers/billing/replay', { fromSeq: 14 })).status).toBe(400);
      expect((await post(d, '/v1/subscribers/billing/replay', { from: 3 })).status).toBe(400);
      expect((await post(d, '/v1/subscribers/nobody/replay', { fromSeq: 1 })).status).toBe(404);
      expect((await post(d, '/v1/subscribers/nobody/retry')).status).toBe(404);
    });
  });

  it('dead-letters a subscriber whose cursor retention has passed, saying from where to replay', async () => {
    r = await startReceiver(() => 500);
    const subscribers = [{ name: 'billing', url: r.url, secret: SECRET, maxAttempts: 1 }];
    const first = await startPushDaemon(subscribers);
    await produce(first, 3);
    await waitUntil(() => first.store.getSubscriberCursor('billing')?.state === 'dead', 'the dead-letter state');
    first.store.prune(Date.now() + 60_000);
    await first.close();
    // The batch it held died with the daemon; what is stored no longer reaches back to the cursor.
    d = alsoCleaning(await startPushDaemon(subscribers, undefined, `${first.dir}/presence.db`), first);
    r.respond = () => 200;
    await post(d, '/v1/subscribers/billing/retry');
    const daemon = d;
    await waitUntil(() => (daemon.store.getSubscriberCursor('billing')?.lastError ?? '').includes('retention'), 'the retention error');
    const s = await subscriber(d, 'billing');
    expect(s.state).toBe('dead');
    expect(s.lastError).toContain('replay from 4');
    expect((await post(d, '/v1/subscribers/billing/replay', { fromSeq: 4 })).status).toBe(200);
    await produce(d, 1);
    const rec = r;
    await waitUntil(() => rec.seqs().includes(4), 'delivery after the replay');
  });

  it('sends unsigned requests for a subscriber without a secret', async () => {
    r = await startReceiver();
    d = await startPushDaemon([{ name: 'open', url: r.url }]);
    await produce(d, 1);
    const rec = r;
    await waitUntil(() => rec.deliveries.length === 1, 'the delivery');
    expect(r.deliveries[0]!.headers['webhook-signature']).toBeUndefined();
    expect(r.deliveries[0]!.headers['webhook-id']).toBe('msg_open_1_1');
    expect(await subscriber(d, 'open')).toMatchObject({ signed: false });
  });

  it('sends credentials in the URL as Basic auth, and never shows the password', async () => {
    r = await startReceiver();
    const withCredentials = r.url.replace('http://', 'http://push%20user:p%40ss-Word-91@');
    d = await startPushDaemon([{ name: 'basic', url: withCredentials }]);
    await produce(d, 2);
    const rec = r;
    await waitUntil(() => rec.seqs().length === 2, 'both events');
    expect(r.deliveries[0]!.headers.authorization).toBe(`Basic ${Buffer.from('push user:p@ss-Word-91').toString('base64')}`);
    const shown = JSON.stringify(await subscriber(d, 'basic'));
    expect(shown).not.toContain('p%40ss');
    expect(shown).not.toContain('p@ss');
    expect(await subscriber(d, 'basic')).toMatchObject({ url: r.url, state: 'active', lastError: '' });
  });

  it('keeps the password of the URL out of the last error when delivery fails', async () => {
    d = await startPushDaemon([{ name: 'gone', url: 'http://someone:hunter2-secret@127.0.0.1:9/x', maxAttempts: 50 }]);
    await produce(d, 1);
    let s = await subscriber(d, 'gone');
    for (let i = 0; i < 100 && s.lastError === ''; i++) {
      await sleep(50);
      s = await subscriber(d, 'gone');
    }
    expect(s.lastError).toMatch(/^network error/);
    expect(JSON.stringify(s)).not.toContain('hunter2');
  });
});

describe('PushDispatcher', () => {
  it('refuses an invalid signing secret with a ConfigError naming the subscriber', () => {
    const store = new SqliteStore({ path: ':memory:' });
    try {
      const make = (): PushDispatcher =>
        new PushDispatcher({
          subscribers: [{ name: 'billing', url: 'http://127.0.0.1:1/x', secret: 'whsec_???', users: [], types: [], batchSize: 10, maxAttempts: 3, timeoutMs: 1000 }],
          store,
          bus: new EventBus(),
          log: pino({ level: 'silent' }),
        });
      expect(make).toThrow(ConfigError);
      expect(make).toThrow(/subscribers\.0\.secret/);
    } finally {
      store.close();
    }
  });

  it('can be closed twice, and before it started', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const p = new PushDispatcher({ subscribers: [], store, bus: new EventBus(), log: pino({ level: 'silent' }) });
    await p.close();
    await p.close();
    store.close();
  });
});
