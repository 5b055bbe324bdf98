/** The store contract for Transactions: one transaction commits every write or none: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { receipt, event, mismatch, keyState } from './fixtures.js';

export function transactionsContract(factory: StoreFactory): void {
  describe('Transactions: one transaction commits every write or none', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('transaction()', () => {
      it('returns what the function returns and commits its writes', () => {
        const id = store.transaction(() => store.insertReceipt(receipt()));
        expect(id).toBeTypeOf('number');
        expect(store.countReceipts()).toBe(1);
      });

      it('rolls back every write when the function throws', () => {
        expect(() =>
          store.transaction(() => {
            store.insertReceipt(receipt());
            store.appendEvent(event());
            store.upsertKey(keyState());
            store.insertMismatch(mismatch());
            throw new Error('boom');
          }),
        ).toThrow('boom');
        expect(store.countReceipts()).toBe(0);
        expect(store.readEvents(0, 10)).toEqual([]);
        expect(store.loadKeys()).toEqual([]);
        expect(store.listMismatches({ limit: 10 })).toEqual([]);
      });

      it('does not consume a seq in a rolled-back transaction: the log stays gap-free', async () => {
        store.appendEvent(event());
        expect(() =>
          store.transaction(() => {
            store.appendEvent(event({ userVersion: 2 }));
            throw new Error('boom');
          }),
        ).toThrow('boom');
        await store.durable();
        expect(store.headSeq()).toBe(1);
        expect(store.appendEvent(event({ userVersion: 2 }))).toBe(2);
      });
    });
  });
}
