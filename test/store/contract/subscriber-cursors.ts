/** The store contract for SubscriberCursors: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, cursor } from './fixtures.js';

export function subscriberCursorsContract(factory: StoreFactory): void {
  describe('SubscriberCursors', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('subscriber cursors', () => {
      it('stores, replaces and lists cursors by name', () => {
        expect(store.getSubscriberCursor('billing')).toBeUndefined();
        store.putSubscriberCursor(cursor());
        store.putSubscriberCursor(cursor({ name: 'audit', cursor: 9 }));
        const moved = cursor({
          cursor: 42,
          state: 'retrying',
          attempts: 3,
          nextAttemptAt: T0 + 8000,
          lastError: 'HTTP 503',
          updatedAt: T0 + 1,
        });
        store.putSubscriberCursor(moved);
        expect(store.getSubscriberCursor('billing')).toEqual(moved);
        expect(store.listSubscriberCursors().map((c) => c.name)).toEqual(['audit', 'billing']);
      });
    });
  });
}
