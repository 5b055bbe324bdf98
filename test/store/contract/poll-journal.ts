/** The store contract for PollJournal: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, pollRun } from './fixtures.js';

export function pollJournalContract(factory: StoreFactory): void {
  describe('PollJournal', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('poll runs and observations', () => {
      it('records runs, updates them, and lists the newest first, optionally by kind', () => {
        const a = store.insertPollRun(pollRun());
        const b = store.insertPollRun(pollRun({ kind: 'confirm', startedAt: T0 + 1 }));
        const c = store.insertPollRun(pollRun({ startedAt: T0 + 2, overBudget: true }));
        store.updatePollRun(a, {
          endedAt: T0 + 500,
          usersPolled: 40,
          requests: 1,
          errors: 1,
          note: 'HTTP 502',
          overBudget: true,
        });
        store.updatePollRun(a, {});
        expect(store.recentPollRuns(10).map((r) => r.id)).toEqual([c, b, a]);
        expect(store.recentPollRuns(10, 'cycle').map((r) => r.id)).toEqual([c, a]);
        expect(store.recentPollRuns(1)).toHaveLength(1);
        expect(store.recentPollRuns(10).find((r) => r.id === a)).toEqual({
          ...pollRun(),
          id: a,
          endedAt: T0 + 500,
          usersPolled: 40,
          requests: 1,
          errors: 1,
          note: 'HTTP 502',
          overBudget: true,
        });
      });

      it('sums runs since a time per kind', () => {
        store.insertPollRun(pollRun({ startedAt: T0 - 1, usersPolled: 1000 }));
        store.insertPollRun(pollRun({ usersPolled: 10, requests: 1, errors: 1, corrections: 2 }));
        store.insertPollRun(
          pollRun({ startedAt: T0 + 9, usersPolled: 20, requests: 2, overBudget: true, disagreements: 3 }),
        );
        store.insertPollRun(
          pollRun({ kind: 'confirm', startedAt: T0 + 4, usersPolled: 1, requests: 1, confirmations: 1 }),
        );
        const summary = store.pollRunSummary(T0);
        expect(summary.find((s) => s.kind === 'cycle')).toEqual({
          kind: 'cycle',
          runs: 2,
          runsWithErrors: 1,
          errors: 1,
          usersPolled: 30,
          requests: 3,
          disagreements: 3,
          confirmations: 0,
          corrections: 2,
          overBudget: 1,
          lastStartedAt: T0 + 9,
        });
        expect(summary.find((s) => s.kind === 'confirm')).toMatchObject({
          runs: 1,
          confirmations: 1,
          lastStartedAt: T0 + 4,
        });
        expect(summary).toHaveLength(2);
      });

      it('keeps observations per user, with null platforms for a failed poll', () => {
        store.insertPollObservation({
          userID: 'u1',
          at: T0,
          runID: 1,
          platforms: { '5': 2, '1': 1 },
          purpose: 'disagreement',
        });
        store.insertPollObservation({ userID: 'u1', at: T0 + 1, runID: 2, platforms: null, purpose: 'confirm' });
        store.insertPollObservation({ userID: 'u2', at: T0, runID: 1, platforms: {}, purpose: 'agree' });
        expect(store.observationsForUser('u1', 0, 10)).toEqual([
          { userID: 'u1', at: T0, runID: 1, platforms: { '5': 2, '1': 1 }, purpose: 'disagreement' },
          { userID: 'u1', at: T0 + 1, runID: 2, platforms: null, purpose: 'confirm' },
        ]);
        expect(store.observationsForUser('u1', T0 + 1, 10)).toHaveLength(1);
        expect(store.observationsForUser('u1', 0, 1)).toHaveLength(1);
      });
    });
  });
}
