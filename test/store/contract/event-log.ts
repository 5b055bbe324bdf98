/** The store contract for EventLog: every backend must pass it (run by ../store-contract.ts). */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, MIN, event } from './fixtures.js';

export function eventLogContract(factory: StoreFactory): void {
  describe('EventLog', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('the event log', () => {
      it('assigns seq 1, 2, 3 … in append order and reports the head', async () => {
        expect(store.headSeq()).toBe(0);
        expect(store.prunedThroughSeq()).toBe(0);
        const seqs = [1, 2, 3].map((v) => store.appendEvent(event({ userVersion: v })));
        expect(seqs).toEqual([1, 2, 3]);
        expect(store.committedSeq()).toBe(3);
        await store.durable();
        expect(store.headSeq()).toBe(3);
      });

      it('shows readers only what is durable: headSeq and reads stop at the durable head, committedSeq does not', async () => {
        store.transaction(() => store.appendEvent(event()));
        expect(store.committedSeq()).toBe(1);
        expect(store.headSeq()).toBeLessThanOrEqual(1);
        expect(store.readEvents(0, 10)).toHaveLength(store.headSeq());
        expect(store.scanEvents(0, 10, {}).events).toHaveLength(store.headSeq());
        await store.durable();
        expect(store.headSeq()).toBe(1);
        expect(store.readEvents(0, 10)).toHaveLength(1);
      });

      it('runs whenDurable callbacks in the order they were registered', async () => {
        const order: number[] = [];
        store.transaction(() => store.appendEvent(event()));
        store.whenDurable(
          () => order.push(1),
          () => order.push(-1),
        );
        store.transaction(() => store.appendEvent(event({ userVersion: 2 })));
        store.whenDurable(
          () => order.push(2),
          () => order.push(-2),
        );
        store.whenDurable(
          () => order.push(3),
          () => order.push(-3),
        );
        await store.durable();
        expect(order).toEqual([1, 2, 3]);
      });

      it('round-trips every field, for webhook events and for corrections', async () => {
        const a = event();
        const b = event({
          type: 'presence.offline',
          platformID: 11,
          platform: 'HarmonyOS',
          userOnline: false,
          userVersion: 2,
          source: 'poll',
          occurredAt: null,
          occurredAfter: T0 - 60_000,
          occurredBefore: T0 - 5000,
          recordedAt: T0 + 1,
          mismatchID: 12,
        });
        store.appendEvent(a);
        store.appendEvent(b);
        await store.durable();
        expect(store.readEvents(0, 10)).toEqual([
          { ...a, seq: 1 },
          { ...b, seq: 2 },
        ]);
      });

      it('reads pages after a seq, in seq order, up to the limit', async () => {
        for (let i = 1; i <= 5; i++) store.appendEvent(event({ userVersion: i }));
        await store.durable();
        expect(store.readEvents(2, 2).map((e) => e.seq)).toEqual([3, 4]);
        expect(store.readEvents(5, 10)).toEqual([]);
      });

      describe('scanEvents', () => {
        beforeEach(async () => {
          // seq: 1 u1 online, 2 u2 online, 3 u1 offline, 4 u3 online, 5 u2 offline
          store.appendEvent(event({ userID: 'u1' }));
          store.appendEvent(event({ userID: 'u2' }));
          store.appendEvent(event({ userID: 'u1', type: 'presence.offline', userOnline: false, userVersion: 2 }));
          store.appendEvent(event({ userID: 'u3' }));
          store.appendEvent(event({ userID: 'u2', type: 'presence.offline', userOnline: false, userVersion: 2 }));
          await store.durable();
        });

        it('without a filter reads like readEvents, scannedTo at the last event returned', () => {
          expect(store.scanEvents(1, 2, {})).toEqual({ events: store.readEvents(1, 2), scannedTo: 3 });
          expect(store.scanEvents(0, 10, { users: [], types: [] }).events).toHaveLength(5);
        });

        it('keeps scannedTo where it started when there is nothing after it', () => {
          expect(store.scanEvents(5, 10, {})).toEqual({ events: [], scannedTo: 5 });
          expect(store.scanEvents(5, 10, { users: ['u1'] })).toEqual({ events: [], scannedTo: 5 });
        });

        it('filters by user and by type', () => {
          expect(store.scanEvents(0, 10, { users: ['u1', 'u3'] }).events.map((e) => e.seq)).toEqual([1, 3, 4]);
          expect(store.scanEvents(0, 10, { types: ['presence.offline'] }).events.map((e) => e.seq)).toEqual([3, 5]);
          expect(
            store.scanEvents(0, 10, { users: ['u2'], types: ['presence.online'] }).events.map((e) => e.seq),
          ).toEqual([2]);
        });

        it('reports how far it scanned when nothing matched, so a caller resumes from there', () => {
          expect(store.scanEvents(0, 10, { users: ['nobody'] })).toEqual({ events: [], scannedTo: 5 });
        });

        it('stops at the limit with scannedTo at the last event returned', () => {
          expect(store.scanEvents(0, 1, { types: ['presence.offline'] })).toMatchObject({
            events: [{ seq: 3 }],
            scannedTo: 3,
          });
          expect(store.scanEvents(3, 1, { types: ['presence.offline'] })).toMatchObject({
            events: [{ seq: 5 }],
            scannedTo: 5,
          });
        });
      });

      it('lists one user’s events since a time and all events in [since, until)', () => {
        store.appendEvent(event({ recordedAt: T0 }));
        store.appendEvent(event({ userID: 'u2', recordedAt: T0 + MIN }));
        store.appendEvent(
          event({ type: 'presence.offline', userOnline: false, userVersion: 2, recordedAt: T0 + 2 * MIN }),
        );
        expect(store.eventsForUser('u1', T0 + 1, 10).map((e) => e.seq)).toEqual([3]);
        expect(store.eventsForUser('u1', 0, 1).map((e) => e.seq)).toEqual([1]);
        expect(store.eventsBetween(T0, T0 + 2 * MIN, 10).map((e) => e.seq)).toEqual([1, 2]);
        expect(store.eventsBetween(T0 + MIN, T0 + 3 * MIN, 1).map((e) => e.seq)).toEqual([2]);
      });

      it('counts events since a time by type, source and platform', () => {
        store.appendEvent(event({ occurredAt: T0 - 2, recordedAt: T0 - 1 }));
        store.appendEvent(event({ occurredAt: T0 }));
        store.appendEvent(event({ userID: 'u2', occurredAt: T0 + 5 }));
        store.appendEvent(
          event({
            type: 'presence.offline',
            source: 'poll',
            userOnline: false,
            occurredAt: null,
            occurredAfter: T0 - MIN,
            occurredBefore: T0 - 10,
          }),
        );
        const counts = store.eventCounts(T0);
        expect(counts).toHaveLength(2);
        expect(counts).toEqual(
          expect.arrayContaining([
            { type: 'presence.online', source: 'webhook', platformID: 5, count: 2 },
            { type: 'presence.offline', source: 'poll', platformID: 5, count: 1 },
          ]),
        );
      });
    });
  });
}
