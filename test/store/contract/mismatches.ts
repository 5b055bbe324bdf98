/** The store contract for MismatchStore: every backend must pass it (run by ../store-contract.ts). */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, MIN, mismatch } from './fixtures.js';

export function mismatchStoreContract(factory: StoreFactory): void {
  describe('MismatchStore', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('mismatches', () => {
      it('round-trips every field', () => {
        const m = mismatch({
          shadow: true,
          platformID: null,
          platform: '',
          evidence: [{ at: 1, what: 'note', detail: 'x' }],
        });
        const id = store.insertMismatch(m);
        expect(store.getMismatch(id)).toEqual({ ...m, id });
        expect(store.getMismatch(id + 100)).toBeUndefined();
      });

      it('updates only the fields given, booleans, nulls and evidence included', () => {
        const id = store.insertMismatch(mismatch());
        const evidence = [...mismatch().evidence, { at: T0 + 9, what: 'receipt' as const, ref: 1, detail: 'late' }];
        store.updateMismatch(id, {
          kind: 'late_webhook',
          lateByMs: 12_000,
          lateAt: T0 + 9,
          evidence,
          shadow: true,
          occurredAfter: null,
          updatedAt: T0 + 9,
        });
        expect(store.getMismatch(id)).toEqual({
          ...mismatch(),
          id,
          kind: 'late_webhook',
          lateByMs: 12_000,
          lateAt: T0 + 9,
          evidence,
          shadow: true,
          occurredAfter: null,
          updatedAt: T0 + 9,
        });
        store.updateMismatch(id, {});
        expect(store.getMismatch(id)!.kind).toBe('late_webhook');
      });

      describe('listMismatches', () => {
        let ids: number[];
        beforeEach(() => {
          ids = [
            store.insertMismatch(mismatch({ detectedAt: T0 })),
            store.insertMismatch(mismatch({ kind: 'missed_online', userID: 'u2', detectedAt: T0 + MIN })),
            store.insertMismatch(
              mismatch({ kind: 'transient', status: 'resolved', platformID: 2, detectedAt: T0 + 2 * MIN }),
            ),
            store.insertMismatch(
              mismatch({ kind: 'suspect_poll', platformID: null, status: 'acknowledged', detectedAt: T0 + 3 * MIN }),
            ),
          ];
        });

        it('lists newest first, up to the limit', () => {
          expect(store.listMismatches({ limit: 10 }).map((m) => m.id)).toEqual([...ids].reverse());
          expect(store.listMismatches({ limit: 2 }).map((m) => m.id)).toEqual([ids[3], ids[2]]);
        });

        it('pages with beforeID', () => {
          const page2 = store.listMismatches({ limit: 2, beforeID: ids[2] });
          expect(page2.map((m) => m.id)).toEqual([ids[1], ids[0]]);
          expect(store.listMismatches({ limit: 2, beforeID: ids[0] })).toEqual([]);
        });

        it('filters by kind, status, user, platform and detection time', () => {
          const idsOf = (f: Parameters<Store['listMismatches']>[0]): number[] =>
            store.listMismatches(f).map((m) => m.id);
          expect(idsOf({ limit: 10, kinds: ['missed_online', 'transient'] })).toEqual([ids[2], ids[1]]);
          expect(idsOf({ limit: 10, statuses: ['open'] })).toEqual([ids[1], ids[0]]);
          expect(idsOf({ limit: 10, userID: 'u2' })).toEqual([ids[1]]);
          expect(idsOf({ limit: 10, platformID: 2 })).toEqual([ids[2]]);
          expect(idsOf({ limit: 10, since: T0 + MIN, until: T0 + 3 * MIN })).toEqual([ids[2], ids[1]]);
          expect(idsOf({ limit: 10, kinds: [], statuses: [] })).toHaveLength(4);
          expect(idsOf({ limit: 10, kinds: ['late_webhook'] })).toEqual([]);
        });
      });

      it('counts mismatches since a time by kind and platform', () => {
        store.insertMismatch(mismatch({ detectedAt: T0 - 1 }));
        store.insertMismatch(mismatch());
        store.insertMismatch(mismatch({ userID: 'u2' }));
        store.insertMismatch(mismatch({ kind: 'suspect_poll', platformID: null }));
        const counts = store.mismatchCounts(T0);
        expect(counts).toHaveLength(2);
        expect(counts).toEqual(
          expect.arrayContaining([
            { kind: 'missed_offline', platformID: 5, count: 2 },
            { kind: 'suspect_poll', platformID: null, count: 1 },
          ]),
        );
      });

      it('lists late-webhook delays of mismatches that became late since a time', () => {
        store.insertMismatch(mismatch({ kind: 'late_webhook', lateByMs: 4000, lateAt: T0 - 1 }));
        store.insertMismatch(mismatch({ kind: 'late_webhook', lateByMs: 9000, lateAt: T0 + 5 }));
        store.insertMismatch(mismatch({ kind: 'missed_online', lateAt: null }));
        expect(store.lateDelays(T0)).toEqual([{ platformID: 5, lateByMs: 9000 }]);
      });

      it('ranks users by mismatches and lists one user’s mismatches oldest first', () => {
        store.insertMismatch(mismatch({ userID: 'b' }));
        store.insertMismatch(mismatch({ userID: 'a', detectedAt: T0 + 2 }));
        store.insertMismatch(mismatch({ userID: 'c' }));
        store.insertMismatch(mismatch({ userID: 'c' }));
        store.insertMismatch(mismatch({ userID: 'a', detectedAt: T0 + 1 }));
        store.insertMismatch(mismatch({ userID: 'd', detectedAt: T0 - 1 }));
        expect(store.topMismatchUsers(T0, 2)).toEqual([
          { userID: 'a', count: 2 },
          { userID: 'c', count: 2 },
        ]);
        expect(store.mismatchesForUser('a', T0, 10).map((m) => m.detectedAt)).toEqual([T0 + 1, T0 + 2]);
      });
    });
  });
}
