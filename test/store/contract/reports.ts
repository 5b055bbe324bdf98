/** The store contract for ReportQueries: every backend must pass it (run by ../store-contract.ts). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory, StoreHarness } from '../store-contract.js';
import { T0, MIN, receipt, event, mismatch } from './fixtures.js';

export function reportQueriesContract(factory: StoreFactory): void {
  describe('ReportQueries', () => {
    let h: StoreHarness;
    let store: Store;

    beforeEach(() => {
      h = factory();
      store = h.store;
    });
    afterEach(() => {
      store.close();
      h.cleanup();
    });

    describe('webhook transitions and their receipts', () => {
      it('counts a webhook transition at the webhook time, so a held offline never counts without its receipt', () => {
        // The offline webhook came just before the window; its held offline took effect 3 s later, inside it.
        store.insertReceipt(
          receipt({ command: 'callbackAfterUserOfflineCommand', seq: T0 - 1000, receivedAt: T0 - 900 }),
        );
        store.appendEvent(
          event({ type: 'presence.offline', userOnline: false, occurredAt: T0 - 1000, recordedAt: T0 + 2100 }),
        );
        expect(store.receiptCounts(T0)).toEqual([]);
        expect(store.eventCounts(T0)).toEqual([]);
        // A window that starts before the webhook holds both.
        expect(store.receiptCounts(T0 - 1000)).toEqual([
          { command: 'callbackAfterUserOfflineCommand', platformID: 5, count: 1 },
        ]);
        expect(store.eventCounts(T0 - 1000)).toEqual([
          { type: 'presence.offline', source: 'webhook', platformID: 5, count: 1 },
        ]);
      });

      it('counts a correction when it was recorded', () => {
        store.appendEvent(
          event({
            type: 'presence.offline',
            source: 'poll',
            userOnline: false,
            occurredAt: null,
            occurredAfter: T0 - 60_000,
            occurredBefore: T0 - 5000,
            recordedAt: T0 + 1,
          }),
        );
        expect(store.eventCounts(T0)).toEqual([{ type: 'presence.offline', source: 'poll', platformID: 5, count: 1 }]);
      });
    });

    describe('chart buckets', () => {
      it('counts events, receipts and mismatches per bucket of [since, until)', () => {
        const bucket = 10 * MIN;
        store.appendEvent(event({ recordedAt: T0 }));
        store.appendEvent(event({ recordedAt: T0 + bucket - 1 }));
        store.appendEvent(event({ recordedAt: T0 + bucket, source: 'poll' }));
        store.appendEvent(event({ recordedAt: T0 + 3 * bucket }));
        store.insertReceipt(receipt({ seq: 1, receivedAt: T0 + bucket + 1 }));
        store.insertReceipt(receipt({ seq: 2, receivedAt: T0 - 1 }));
        store.insertMismatch(mismatch({ detectedAt: T0 + 2 * bucket }));
        expect(store.eventBuckets(T0, T0 + 3 * bucket, bucket)).toEqual(
          expect.arrayContaining([
            { bucket: 0, source: 'webhook', count: 2 },
            { bucket: 1, source: 'poll', count: 1 },
          ]),
        );
        expect(store.eventBuckets(T0, T0 + 3 * bucket, bucket)).toHaveLength(2);
        expect(store.receiptBuckets(T0, T0 + 3 * bucket, bucket)).toEqual([{ bucket: 1, count: 1 }]);
        expect(store.mismatchBuckets(T0, T0 + 3 * bucket, bucket)).toEqual([
          { bucket: 2, kind: 'missed_offline', count: 1 },
        ]);
      });
    });
  });
}
