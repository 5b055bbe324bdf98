import { EventSource } from 'eventsource';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { PresenceEventJson } from '../../src/domain.js';
import type { Subscription } from '../../src/index.js';
import { subscribe } from '../../src/index.js';
import type { Receiver } from '../push/receiver.js';
import { SECRET, startPushDaemon, startReceiver } from '../push/receiver.js';
import { firstBreak, freePort, produce, userIDs, waitUntil } from './stream-fixtures.js';

type TestDaemon = Daemon & { dir: string; cleanupDir: () => void };

describe('when the daemon restarts mid-stream on the same database', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('every subscriber, SSE and push, resumes with no loss (and SSE with no duplicate)', async () => {
    // A receiver that takes 25 ms per batch, so push is mid-stream when the daemon stops.
    const receiver: Receiver = await startReceiver(() => new Promise((resolve) => setTimeout(() => resolve(200), 25)));
    cleanup.push(() => receiver.close());
    const port = await freePort();
    const subscribers = [{ name: 'billing', url: receiver.url, secret: SECRET, batchSize: 7 }];
    const tuning = { baseDelayMs: 20, maxDelayMs: 200, idleCheckMs: 200 };
    const first: TestDaemon = await startPushDaemon(subscribers, tuning, undefined, port);
    cleanup.push(() => first.cleanupDir());
    const path = `${first.dir}/presence.db`;
    let current: Daemon = first;
    cleanup.push(() => current.close());

    const viaClient: PresenceEventJson[] = [];
    const sub: Subscription = subscribe({ url: first.apiUrl, after: 0, initialRetryMs: 20, maxRetryMs: 200, onEvent: (e) => viaClient.push(e) });
    cleanup.push(() => sub.close());
    const viaEventSource: number[] = [];
    const es = new EventSource(`${first.apiUrl}/v1/events?after=0`);
    cleanup.push(() => es.close());
    es.addEventListener('message', (m) => viaEventSource.push((JSON.parse(m.data as string) as PresenceEventJson).seq));

    const users = userIDs(30);
    for (let i = 0; i < 10; i++) await produce(first, 10, users);
    // Stop while the subscribers are still behind or just caught up.
    await waitUntil(() => viaClient.length > 0 && viaEventSource.length > 0 && receiver.deliveries.length > 0, 'the first events');
    await first.close();
    expect(new Set(receiver.seqs()).size).toBeLessThan(100);

    const second: TestDaemon = await startPushDaemon(subscribers, tuning, path, port);
    cleanup.push(() => second.cleanupDir());
    current = second;
    expect(second.apiUrl).toBe(first.apiUrl);
    expect(second.store.headSeq()).toBe(100);
    for (let i = 0; i < 5; i++) await produce(second, 10, users);

    await waitUntil(
      () => viaClient.length >= 150 && viaEventSource.length >= 150 && new Set(receiver.seqs()).size >= 150,
      'every subscriber to reach #150',
      30_000,
    );
    expect(firstBreak(viaClient.map((e) => e.seq), 1)).toBe(-1);
    expect(viaClient).toHaveLength(150);
    expect(firstBreak(viaEventSource, 1)).toBe(-1);
    expect(viaEventSource).toHaveLength(150);
    // Push is at least once: in order, nothing missing; a batch in flight at the restart may come twice.
    const firstSeen = [...new Set(receiver.seqs())];
    expect(firstBreak(firstSeen, 1)).toBe(-1);
    for (const x of receiver.deliveries) expect(() => new Webhook(SECRET).verify(x.body, x.headers as Record<string, string>)).not.toThrow();
    await waitUntil(() => second.store.getSubscriberCursor('billing')?.cursor === 150, 'the persisted push cursor');
  });
});
