/** The store contract for PresenceStateStore: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, keyState } from './fixtures.js';

export function presenceStateContract(factory: StoreFactory): void {
  describe('PresenceStateStore', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('presence keys', () => {
      it('round-trips every field of a key state, held offlines and corrections included', () => {
        const states = [
          keyState(),
          keyState({
            platformID: 2,
            pendingOffline: { dueAt: T0 + 3000, receivedAt: T0, seq: T0 - 10, receiptID: 9 },
            lastVerifiedAt: T0 - 1,
          }),
          keyState({
            platformID: 1,
            pendingOffline: { dueAt: T0 + 65_000, receivedAt: T0, seq: T0 - 10, receiptID: 10, ambiguous: true },
          }),
          keyState({
            userID: 'u2',
            online: false,
            lastWebhookAt: null,
            lastOnlineWebhookAt: null,
            lastOnlineSeq: null,
            correction: { to: false, at: T0, occurredBefore: T0 - 5000, mismatchID: 4 },
          }),
        ];
        for (const s of states) store.upsertKey(s);
        const loaded = store.loadKeys();
        expect(loaded).toHaveLength(states.length);
        expect(loaded).toEqual(expect.arrayContaining(states));
      });

      it('replaces a key on upsert', () => {
        store.upsertKey(keyState({ pendingOffline: { dueAt: 1, receivedAt: 1, seq: 1, receiptID: 1 } }));
        const next = keyState({ online: false, changedAt: T0 + 5, pendingOffline: null, lastVerifiedAt: T0 + 5 });
        store.upsertKey(next);
        expect(store.loadKeys()).toEqual([next]);
      });

      it('pages presence rows in (userID, platformID) order, optionally online only', () => {
        store.upsertKey(keyState({ userID: 'b', platformID: 2 }));
        store.upsertKey(keyState({ userID: 'a', platformID: 5, online: false }));
        store.upsertKey(
          keyState({ userID: 'a', platformID: 1, pendingOffline: { dueAt: 1, receivedAt: 1, seq: 1, receiptID: 1 } }),
        );
        store.upsertKey(keyState({ userID: 'b', platformID: 1 }));
        const all = store.presencePage(null, 10, false);
        expect(all.map((r) => `${r.userID}/${r.platformID}`)).toEqual(['a/1', 'a/5', 'b/1', 'b/2']);
        expect(all[0]).toEqual({
          userID: 'a',
          platformID: 1,
          online: true,
          changedAt: T0,
          lastVerifiedAt: null,
          pendingOffline: true,
        });
        expect(all[1]!.pendingOffline).toBe(false);
        const page1 = store.presencePage(null, 2, false);
        const page2 = store.presencePage(page1.at(-1)!, 2, false);
        expect([...page1, ...page2]).toEqual(all);
        expect(store.presencePage(all.at(-1)!, 2, false)).toEqual([]);
        expect(store.presencePage(null, 10, true).map((r) => `${r.userID}/${r.platformID}`)).toEqual([
          'a/1',
          'b/1',
          'b/2',
        ]);
        expect(
          store.presencePage({ userID: 'a', platformID: 5 }, 10, true).map((r) => `${r.userID}/${r.platformID}`),
        ).toEqual(['b/1', 'b/2']);
      });

      it('lists one user’s rows by platform', () => {
        store.upsertKey(keyState({ platformID: 5 }));
        store.upsertKey(keyState({ platformID: 2, online: false }));
        store.upsertKey(keyState({ userID: 'u2' }));
        expect(store.presenceOfUser('u1').map((r) => [r.platformID, r.online])).toEqual([
          [2, false],
          [5, true],
        ]);
        expect(store.presenceOfUser('nobody')).toEqual([]);
      });

      it('records the first start once: now for an empty store, 0 for one that holds data; peeking records nothing', () => {
        expect(store.peekFirstStartedAt(T0)).toBe(T0);
        expect(store.peekFirstStartedAt(T0 + 5)).toBe(T0 + 5);
        expect(store.firstStartedAt(T0 + 10)).toBe(T0 + 10);
        expect(store.firstStartedAt(T0 + 20)).toBe(T0 + 10);
        expect(store.peekFirstStartedAt(T0 + 30)).toBe(T0 + 10);
      });

      it('answers 0 for the first start of a store that already holds data, peeking or recording', () => {
        store.upsertKey(keyState());
        expect(store.peekFirstStartedAt(T0)).toBe(0);
        expect(store.firstStartedAt(T0)).toBe(0);
        expect(store.peekFirstStartedAt(T0 + 1)).toBe(0);
      });

      it('keeps per-user versions, loading only users that have one', () => {
        store.setUserVersion('u1', 1, true, 1000);
        store.setUserVersion('u1', 2, false, 1000);
        store.setUserVersion('u2', 7, true, 1000);
        store.trackUsers(['u3'], 'config', T0);
        expect(store.loadUserVersions()).toEqual(
          new Map([
            ['u1', 2],
            ['u2', 7],
          ]),
        );
      });
    });
  });
}
