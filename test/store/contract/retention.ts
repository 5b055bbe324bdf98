/** The store contract for Retention: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory, StoreHarness } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, receipt, event, mismatch, pollRun } from './fixtures.js';

export function retentionContract(factory: StoreFactory): void {
  describe('Retention', () => {
    let h: StoreHarness;
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      h = fresh;
      store = fresh.store;
    });

    describe('retention', () => {
      const old = T0 - 10 * 86_400_000;

      async function fill(): Promise<void> {
        store.appendEvent(event({ recordedAt: old }));
        store.appendEvent(event({ recordedAt: old + 1 }));
        store.appendEvent(event({ recordedAt: T0 }));
        store.insertReceipt(receipt({ seq: 1, receivedAt: old }));
        store.insertReceipt(receipt({ seq: 2, receivedAt: T0 }));
        store.insertMismatch(mismatch({ detectedAt: old, status: 'resolved' }));
        store.insertMismatch(mismatch({ detectedAt: old, status: 'acknowledged' }));
        store.insertMismatch(mismatch({ detectedAt: old, status: 'open' }));
        store.insertMismatch(mismatch({ detectedAt: T0, status: 'resolved' }));
        store.insertPollRun(pollRun({ startedAt: old }));
        store.insertPollRun(pollRun({ startedAt: T0 }));
        store.insertPollObservation({ userID: 'u1', at: old, runID: 1, platforms: null, purpose: 'agree' });
        store.insertPollObservation({ userID: 'u1', at: T0, runID: 2, platforms: null, purpose: 'agree' });
        await store.durable();
      }

      it('removes rows older than the horizon, keeping open mismatches, and says how many', async () => {
        await fill();
        expect(store.prune(T0 - 86_400_000)).toEqual({
          receipts: 1,
          events: 2,
          mismatches: 2,
          pollRuns: 1,
          observations: 1,
        });
        expect(store.readEvents(0, 10).map((e) => e.seq)).toEqual([3]);
        expect(store.countReceipts()).toBe(1);
        expect(
          store
            .listMismatches({ limit: 10 })
            .map((m) => m.status)
            .sort(),
        ).toEqual(['open', 'resolved']);
        expect(store.recentPollRuns(10)).toHaveLength(1);
        expect(store.observationsForUser('u1', 0, 10)).toHaveLength(1);
      });

      it('records the highest pruned seq and never lowers it', async () => {
        await fill();
        store.prune(T0 - 86_400_000);
        expect(store.prunedThroughSeq()).toBe(2);
        expect(store.headSeq()).toBe(3);
        expect(store.prune(old - 1)).toMatchObject({ events: 0 });
        expect(store.prunedThroughSeq()).toBe(2);
      });

      it('never reuses a seq after pruning everything and appending again', async () => {
        await fill();
        expect(store.prune(T0 + 1)).toMatchObject({ events: 3 });
        expect(store.readEvents(0, 10)).toEqual([]);
        expect(store.prunedThroughSeq()).toBe(3);
        expect(store.headSeq()).toBe(3);
        expect(store.appendEvent(event({ recordedAt: T0 + 2 }))).toBe(4);
        await store.durable();
        expect(store.readEvents(0, 10).map((e) => e.seq)).toEqual([4]);
      });

      it('prunes in steps of at most the rows asked per table, oldest first, saying whether more are left, to the same end as one prune', async () => {
        await fill();
        for (let i = 0; i < 4; i++) {
          store.appendEvent(event({ recordedAt: old + 2 + i }));
          store.insertReceipt(receipt({ seq: 10 + i, receivedAt: old + i }));
          store.insertMismatch(mismatch({ detectedAt: old + i, status: 'resolved' }));
        }
        await store.durable();
        // Old rows: events 1, 2, 4-7 (the log is pruned as a prefix, so event 3, recorded later, goes with them);
        // receipts 1 and 10-13; reviewed mismatches 2 + 4; one poll run, one observation.
        const first = store.pruneStep(T0 - 86_400_000, 2);
        expect(first).toEqual({ events: 2, receipts: 2, mismatches: 2, pollRuns: 1, observations: 1, more: true });
        expect(store.prunedThroughSeq()).toBe(2);
        expect(store.readEvents(0, 1)[0]?.seq).toBe(3);
        const rest = [store.pruneStep(T0 - 86_400_000, 2), store.pruneStep(T0 - 86_400_000, 2), store.pruneStep(T0 - 86_400_000, 2)];
        expect(rest.map((r) => r.more)).toEqual([true, true, false]);
        expect(rest.reduce((n, r) => n + r.events, 0)).toBe(5);
        expect(rest.reduce((n, r) => n + r.receipts, 0)).toBe(3);
        expect(rest.reduce((n, r) => n + r.mismatches, 0)).toBe(4);
        expect(store.readEvents(0, 10)).toEqual([]);
        expect(store.prunedThroughSeq()).toBe(7);
        expect(store.countReceipts()).toBe(1);
        expect(store.listMismatches({ limit: 10 }).map((m) => m.status).sort()).toEqual(['open', 'resolved']);
        expect(store.pruneStep(T0 - 86_400_000, 2)).toEqual({ events: 0, receipts: 0, mismatches: 0, pollRuns: 0, observations: 0, more: false });
      });

      it('keeps that guarantee across a reopen', async () => {
        if (!h.reopen) return;
        await fill();
        store.prune(T0 + 1);
        store = h.reopen();
        expect(store.headSeq()).toBe(3);
        expect(store.prunedThroughSeq()).toBe(3);
        expect(store.appendEvent(event({ recordedAt: T0 + 2 }))).toBe(4);
      });
    });
  });
}
