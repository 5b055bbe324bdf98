/** The store contract for TrackedUsers: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0 } from './fixtures.js';

export function trackedUsersContract(factory: StoreFactory): void {
  describe('TrackedUsers', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('tracked users', () => {
      it('adds users once, counts them and pages them in userID order', () => {
        expect(store.trackUsers(['c', 'a', 'b'], 'config', T0)).toBe(3);
        expect(store.trackUsers(['a', 'd'], 'webhook', T0 + 1)).toBe(1);
        expect(store.trackUsers([], 'discovery', T0)).toBe(0);
        expect(store.countTrackedUsers()).toBe(4);
        expect(store.countTrackedAmong([])).toBe(0);
        expect(store.countTrackedAmong(['imAdmin', 'd', 'a', 'zz'])).toBe(2);
        expect(store.trackedUsersAfter('', 2)).toEqual(['a', 'b']);
        expect(store.trackedUsersAfter('b', 2)).toEqual(['c', 'd']);
        expect(store.trackedUsersAfter('d', 2)).toEqual([]);
      });

      it('counts a user first seen through its version counter, and not one added by a rolled-back transaction', () => {
        expect(store.countTrackedUsers()).toBe(0);
        store.trackUsers(['a'], 'config', T0);
        store.setUserVersion('b', 1, true, 1000);
        store.setUserVersion('a', 2, false, 1000);
        expect(store.countTrackedUsers()).toBe(2);
        expect(() =>
          store.transaction(() => {
            store.trackUsers(['c', 'd'], 'discovery', T0);
            store.setUserVersion('e', 1, true, 1000);
            expect(store.countTrackedUsers()).toBe(5);
            throw new Error('boom');
          }),
        ).toThrow('boom');
        expect(store.countTrackedUsers()).toBe(2);
        expect(store.trackUsers(['c', 'b'], 'discovery', T0)).toBe(1);
        expect(store.countTrackedUsers()).toBe(3);
        expect(store.userPresence('a')).toEqual({ online: false, version: 2 });
      });
    });
  });
}
