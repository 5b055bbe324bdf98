import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { eventually } from '../helpers/sim-pair.js';

describe('webhook health counts', () => {
  let d: Daemon & { cleanupDir: () => void };

  beforeAll(async () => {
    d = await startTestDaemon({ reconcile: { settleMs: 300 } });
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  describe('when a window starts between an offline webhook and the end of its settle hold', () => {
    it('counts neither the webhook nor its transition, never "1 by webhook, 0 received"', async () => {
      const t = Date.now();
      await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'held', 5, t - 5000));
      await postWebhook(d, 'callbackAfterUserOfflineCommand', webhookBody('callbackAfterUserOfflineCommand', 'held', 5, t));
      await eventually(() => d.store.eventsForUser('held', 0, 10).length === 2, 5000);
      const offline = d.store.eventsForUser('held', 0, 10)[1]!;
      const receipt = d.store.receiptsForUser('held', 0, 10).find((r) => r.command === 'callbackAfterUserOfflineCommand')!;
      expect(offline.type).toBe('presence.offline');
      expect(offline.source).toBe('webhook');
      // The hold: the event was recorded after the settle window, well after its receipt.
      expect(offline.recordedAt - receipt.receivedAt).toBeGreaterThanOrEqual(300);

      const inside = d.health.webhookCounts(receipt.receivedAt + 1).find((c) => c.command === 'offline' && c.platformID === 5);
      expect(inside === undefined || (inside.byWebhook === 0 && inside.receipts === 0)).toBe(true);
      // A window from the webhook's own time (its seq, a little before it was received) holds both.
      expect(offline.occurredAt).toBe(t);
      const whole = d.health.webhookCounts(t).find((c) => c.command === 'offline' && c.platformID === 5);
      expect(whole).toMatchObject({ byWebhook: 1, receipts: 1 });
    });
  });

  it('never counts more webhook transitions than webhooks received, whatever the window start', () => {
    const receipts = d.store.receiptsForUser('held', 0, 10);
    const events = d.store.eventsForUser('held', 0, 10);
    const starts = [...receipts.map((r) => r.receivedAt), ...events.map((e) => e.recordedAt)].flatMap((t) => [t - 1, t, t + 1]);
    const contradictions = starts.flatMap((since) =>
      d.health
        .webhookCounts(since)
        .filter((c) => c.byWebhook > c.receipts)
        .map((c) => `since ${since}: ${c.command} ${c.byWebhook} by webhook, ${c.receipts} received`),
    );
    expect(contradictions).toEqual([]);
  });
});
