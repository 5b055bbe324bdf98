/** The store contract for ReceiptLog: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, MIN, receipt } from './fixtures.js';

export function receiptLogContract(factory: StoreFactory): void {
  describe('ReceiptLog', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('receipts', () => {
      it('stores a receipt with its body exactly as received and returns increasing ids', () => {
        const body = '{"callbackCommand":"callbackAfterUserOnlineCommand","userID":"a\\u003cb","seq":1}\n';
        const a = store.insertReceipt(receipt({ body }));
        const b = store.insertReceipt(receipt({ seq: T0, receivedAt: T0 + 1 }));
        expect(a).not.toBeNull();
        expect(b).toBeGreaterThan(a!);
        const [first] = store.receiptsForUser('u1', 0, 10);
        expect(first).toMatchObject({
          id: a,
          body,
          command: 'callbackAfterUserOnlineCommand',
          userID: 'u1',
          platformID: 5,
          seq: T0 - 300,
          operationID: 'p_4242_1',
          effect: '',
        });
        expect(store.countReceipts()).toBe(2);
      });

      it('refuses a replay with the same dedupe key: returns null and stores nothing', () => {
        expect(store.insertReceipt(receipt())).not.toBeNull();
        expect(store.insertReceipt(receipt({ receivedAt: T0 + 5000 }))).toBeNull();
        expect(store.countReceipts()).toBe(1);
      });

      it('accepts the same body again under another dedupe key', () => {
        store.insertReceipt(receipt());
        expect(store.insertReceipt(receipt({ dedupeKey: 'other' }))).not.toBeNull();
      });

      it('records the effect the reconciler gave a receipt', () => {
        const id = store.insertReceipt(receipt())!;
        store.setReceiptEffect(id, 'held');
        store.setReceiptEffect(id, 'offline');
        expect(store.receiptsForUser('u1', 0, 10)[0]!.effect).toBe('offline');
      });

      it('lists one user’s receipts since a time, oldest first, up to the limit', () => {
        for (let i = 0; i < 5; i++) store.insertReceipt(receipt({ seq: T0 + i, receivedAt: T0 + i * MIN }));
        store.insertReceipt(receipt({ userID: 'u2', seq: 1 }));
        const list = store.receiptsForUser('u1', T0 + MIN, 3);
        expect(list.map((r) => r.receivedAt)).toEqual([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
        expect(store.receiptsForUser('nobody', 0, 10)).toEqual([]);
      });

      it('counts receipts since a time by command and platform', () => {
        store.insertReceipt(receipt({ seq: 1, receivedAt: T0 - MIN }));
        store.insertReceipt(receipt({ seq: 2 }));
        store.insertReceipt(receipt({ seq: 3 }));
        store.insertReceipt(receipt({ seq: 4, command: 'callbackAfterUserOfflineCommand' }));
        store.insertReceipt(receipt({ seq: 5, platformID: 2 }));
        const counts = store.receiptCounts(T0);
        expect(counts).toHaveLength(3);
        expect(counts).toEqual(
          expect.arrayContaining([
            { command: 'callbackAfterUserOnlineCommand', platformID: 5, count: 2 },
            { command: 'callbackAfterUserOfflineCommand', platformID: 5, count: 1 },
            { command: 'callbackAfterUserOnlineCommand', platformID: 2, count: 1 },
          ]),
        );
      });
    });
  });
}
