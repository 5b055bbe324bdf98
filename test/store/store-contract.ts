/**
 * The contract every Store backend must meet (docs/architecture.md, durability). A backend's test file calls
 * `runStoreContract(name, factory)`; the factory gives a fresh, empty store per test.
 */
import { statSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyState, NewMismatch, NewPresenceEvent } from '../../src/domain.js';
import type { NewIncident } from '../../src/incidents/incident.js';
import type { NewReceipt, PollRun, Store, SubscriberCursor } from '../../src/store/store.js';

export interface StoreHarness {
  store: Store;
  /** The file behind the store, when there is one (its permissions are checked). */
  file?: string;
  /** Closes the store and opens the same data again (backends that persist). */
  reopen?: () => Store;
  /** Removes whatever the harness created. The store is closed before. */
  cleanup: () => void;
}

export type StoreFactory = () => StoreHarness;

const T0 = 1_732_530_000_000;
const MIN = 60_000;

export function receipt(over: Partial<NewReceipt> = {}): NewReceipt {
  const r = {
    receivedAt: T0,
    command: 'callbackAfterUserOnlineCommand',
    userID: 'u1',
    platformID: 5,
    seq: T0 - 300,
    operationID: 'p_4242_1',
    body: '',
    remoteAddress: '127.0.0.1',
    ...over,
  };
  const dedupeKey = over.dedupeKey ?? `${r.command}|${r.userID}|${r.platformID}|${r.seq}|${r.operationID}`;
  const body =
    over.body ??
    JSON.stringify({ callbackCommand: r.command, operationID: r.operationID, platformID: r.platformID, platform: 'Web', userID: r.userID, seq: r.seq }) + '\n';
  return { ...r, dedupeKey, body };
}

export function event(over: Partial<NewPresenceEvent> = {}): NewPresenceEvent {
  return {
    type: 'presence.online',
    userID: 'u1',
    platformID: 5,
    platform: 'Web',
    userOnline: true,
    userVersion: 1,
    source: 'webhook',
    occurredAt: T0 - 300,
    occurredAfter: null,
    occurredBefore: null,
    recordedAt: T0,
    mismatchID: null,
    ...over,
  };
}

export function mismatch(over: Partial<NewMismatch> = {}): NewMismatch {
  return {
    kind: 'missed_offline',
    userID: 'u1',
    platformID: 5,
    platform: 'Web',
    detectedAt: T0,
    occurredAfter: T0 - 30_000,
    occurredBefore: T0 - 5000,
    eventSeq: null,
    lateByMs: null,
    lateAt: null,
    status: 'open',
    shadow: false,
    evidence: [{ at: T0 - 5000, what: 'poll', ref: 3, detail: 'live status read offline' }],
    note: '',
    updatedAt: T0,
    ...over,
  };
}

function keyState(over: Partial<KeyState> = {}): KeyState {
  return {
    userID: 'u1',
    platformID: 5,
    online: true,
    changedAt: T0,
    lastWebhookAt: T0,
    lastOnlineWebhookAt: T0,
    lastOnlineSeq: T0 - 300,
    lastVerifiedAt: null,
    pendingOffline: null,
    correction: null,
    ...over,
  };
}

function pollRun(over: Partial<Omit<PollRun, 'id'>> = {}): Omit<PollRun, 'id'> {
  return {
    kind: 'cycle',
    startedAt: T0,
    endedAt: null,
    usersPolled: 0,
    requests: 0,
    errors: 0,
    disagreements: 0,
    confirmations: 0,
    corrections: 0,
    overBudget: false,
    note: '',
    ...over,
  };
}

function cursor(over: Partial<SubscriberCursor> = {}): SubscriberCursor {
  return { name: 'billing', cursor: 0, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: T0, ...over };
}

export function runStoreContract(name: string, factory: StoreFactory): void {
  describe(`the ${name} store`, () => {
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

    describe('receipts', () => {
      it('stores a receipt with its body exactly as received and returns increasing ids', () => {
        const body = '{"callbackCommand":"callbackAfterUserOnlineCommand","userID":"a\\u003cb","seq":1}\n';
        const a = store.insertReceipt(receipt({ body }));
        const b = store.insertReceipt(receipt({ seq: T0, receivedAt: T0 + 1 }));
        expect(a).not.toBeNull();
        expect(b).toBeGreaterThan(a!);
        const [first] = store.receiptsForUser('u1', 0, 10);
        expect(first).toMatchObject({ id: a, body, command: 'callbackAfterUserOnlineCommand', userID: 'u1', platformID: 5, seq: T0 - 300, operationID: 'p_4242_1', effect: '' });
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

    describe('presence keys', () => {
      it('round-trips every field of a key state, held offlines and corrections included', () => {
        const states = [
          keyState(),
          keyState({ platformID: 2, pendingOffline: { dueAt: T0 + 3000, receivedAt: T0, seq: T0 - 10, receiptID: 9 }, lastVerifiedAt: T0 - 1 }),
          keyState({ platformID: 1, pendingOffline: { dueAt: T0 + 65_000, receivedAt: T0, seq: T0 - 10, receiptID: 10, ambiguous: true } }),
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
        store.upsertKey(keyState({ userID: 'a', platformID: 1, pendingOffline: { dueAt: 1, receivedAt: 1, seq: 1, receiptID: 1 } }));
        store.upsertKey(keyState({ userID: 'b', platformID: 1 }));
        const all = store.presencePage(null, 10, false);
        expect(all.map((r) => `${r.userID}/${r.platformID}`)).toEqual(['a/1', 'a/5', 'b/1', 'b/2']);
        expect(all[0]).toEqual({ userID: 'a', platformID: 1, online: true, changedAt: T0, lastVerifiedAt: null, pendingOffline: true });
        expect(all[1]!.pendingOffline).toBe(false);
        const page1 = store.presencePage(null, 2, false);
        const page2 = store.presencePage(page1.at(-1)!, 2, false);
        expect([...page1, ...page2]).toEqual(all);
        expect(store.presencePage(all.at(-1)!, 2, false)).toEqual([]);
        expect(store.presencePage(null, 10, true).map((r) => `${r.userID}/${r.platformID}`)).toEqual(['a/1', 'b/1', 'b/2']);
        expect(store.presencePage({ userID: 'a', platformID: 5 }, 10, true).map((r) => `${r.userID}/${r.platformID}`)).toEqual(['b/1', 'b/2']);
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

      it('keeps per-user versions, loading only users that have one', () => {
        store.setUserVersion('u1', 1, true);
        store.setUserVersion('u1', 2, false);
        store.setUserVersion('u2', 7, true);
        store.trackUsers(['u3'], 'config', T0);
        expect(store.loadUserVersions()).toEqual(new Map([
          ['u1', 2],
          ['u2', 7],
        ]));
      });
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
        store.whenDurable(() => order.push(1), () => order.push(-1));
        store.transaction(() => store.appendEvent(event({ userVersion: 2 })));
        store.whenDurable(() => order.push(2), () => order.push(-2));
        store.whenDurable(() => order.push(3), () => order.push(-3));
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
          expect(store.scanEvents(0, 10, { users: ['u2'], types: ['presence.online'] }).events.map((e) => e.seq)).toEqual([2]);
        });

        it('reports how far it scanned when nothing matched, so a caller resumes from there', () => {
          expect(store.scanEvents(0, 10, { users: ['nobody'] })).toEqual({ events: [], scannedTo: 5 });
        });

        it('stops at the limit with scannedTo at the last event returned', () => {
          expect(store.scanEvents(0, 1, { types: ['presence.offline'] })).toMatchObject({ events: [{ seq: 3 }], scannedTo: 3 });
          expect(store.scanEvents(3, 1, { types: ['presence.offline'] })).toMatchObject({ events: [{ seq: 5 }], scannedTo: 5 });
        });
      });

      it('lists one user’s events since a time and all events in [since, until)', () => {
        store.appendEvent(event({ recordedAt: T0 }));
        store.appendEvent(event({ userID: 'u2', recordedAt: T0 + MIN }));
        store.appendEvent(event({ type: 'presence.offline', userOnline: false, userVersion: 2, recordedAt: T0 + 2 * MIN }));
        expect(store.eventsForUser('u1', T0 + 1, 10).map((e) => e.seq)).toEqual([3]);
        expect(store.eventsForUser('u1', 0, 1).map((e) => e.seq)).toEqual([1]);
        expect(store.eventsBetween(T0, T0 + 2 * MIN, 10).map((e) => e.seq)).toEqual([1, 2]);
        expect(store.eventsBetween(T0 + MIN, T0 + 3 * MIN, 1).map((e) => e.seq)).toEqual([2]);
      });

      it('counts events since a time by type, source and platform', () => {
        store.appendEvent(event({ occurredAt: T0 - 2, recordedAt: T0 - 1 }));
        store.appendEvent(event({ occurredAt: T0 }));
        store.appendEvent(event({ userID: 'u2', occurredAt: T0 + 5 }));
        store.appendEvent(event({ type: 'presence.offline', source: 'poll', userOnline: false, occurredAt: null, occurredAfter: T0 - MIN, occurredBefore: T0 - 10 }));
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

    describe('webhook transitions and their receipts', () => {
      it('counts a webhook transition at the webhook time, so a held offline never counts without its receipt', () => {
        // The offline webhook came just before the window; its held offline took effect 3 s later, inside it.
        store.insertReceipt(receipt({ command: 'callbackAfterUserOfflineCommand', seq: T0 - 1000, receivedAt: T0 - 900 }));
        store.appendEvent(event({ type: 'presence.offline', userOnline: false, occurredAt: T0 - 1000, recordedAt: T0 + 2100 }));
        expect(store.receiptCounts(T0)).toEqual([]);
        expect(store.eventCounts(T0)).toEqual([]);
        // A window that starts before the webhook holds both.
        expect(store.receiptCounts(T0 - 1000)).toEqual([{ command: 'callbackAfterUserOfflineCommand', platformID: 5, count: 1 }]);
        expect(store.eventCounts(T0 - 1000)).toEqual([{ type: 'presence.offline', source: 'webhook', platformID: 5, count: 1 }]);
      });

      it('counts a correction when it was recorded', () => {
        store.appendEvent(event({ type: 'presence.offline', source: 'poll', userOnline: false, occurredAt: null, occurredAfter: T0 - 60_000, occurredBefore: T0 - 5000, recordedAt: T0 + 1 }));
        expect(store.eventCounts(T0)).toEqual([{ type: 'presence.offline', source: 'poll', platformID: 5, count: 1 }]);
      });
    });

    describe('mismatches', () => {
      it('round-trips every field', () => {
        const m = mismatch({ shadow: true, platformID: null, platform: '', evidence: [{ at: 1, what: 'note', detail: 'x' }] });
        const id = store.insertMismatch(m);
        expect(store.getMismatch(id)).toEqual({ ...m, id });
        expect(store.getMismatch(id + 100)).toBeUndefined();
      });

      it('updates only the fields given, booleans, nulls and evidence included', () => {
        const id = store.insertMismatch(mismatch());
        const evidence = [...mismatch().evidence, { at: T0 + 9, what: 'receipt' as const, ref: 1, detail: 'late' }];
        store.updateMismatch(id, { kind: 'late_webhook', lateByMs: 12_000, lateAt: T0 + 9, evidence, shadow: true, occurredAfter: null, updatedAt: T0 + 9 });
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
            store.insertMismatch(mismatch({ kind: 'transient', status: 'resolved', platformID: 2, detectedAt: T0 + 2 * MIN })),
            store.insertMismatch(mismatch({ kind: 'suspect_poll', platformID: null, status: 'acknowledged', detectedAt: T0 + 3 * MIN })),
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
          const idsOf = (f: Parameters<Store['listMismatches']>[0]): number[] => store.listMismatches(f).map((m) => m.id);
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
        expect(store.mismatchBuckets(T0, T0 + 3 * bucket, bucket)).toEqual([{ bucket: 2, kind: 'missed_offline', count: 1 }]);
      });
    });

    describe('poll runs and observations', () => {
      it('records runs, updates them, and lists the newest first, optionally by kind', () => {
        const a = store.insertPollRun(pollRun());
        const b = store.insertPollRun(pollRun({ kind: 'confirm', startedAt: T0 + 1 }));
        const c = store.insertPollRun(pollRun({ startedAt: T0 + 2, overBudget: true }));
        store.updatePollRun(a, { endedAt: T0 + 500, usersPolled: 40, requests: 1, errors: 1, note: 'HTTP 502', overBudget: true });
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
        store.insertPollRun(pollRun({ startedAt: T0 + 9, usersPolled: 20, requests: 2, overBudget: true, disagreements: 3 }));
        store.insertPollRun(pollRun({ kind: 'confirm', startedAt: T0 + 4, usersPolled: 1, requests: 1, confirmations: 1 }));
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
        expect(summary.find((s) => s.kind === 'confirm')).toMatchObject({ runs: 1, confirmations: 1, lastStartedAt: T0 + 4 });
        expect(summary).toHaveLength(2);
      });

      it('keeps observations per user, with null platforms for a failed poll', () => {
        store.insertPollObservation({ userID: 'u1', at: T0, runID: 1, platforms: { '5': 2, '1': 1 }, purpose: 'disagreement' });
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
    });

    describe('subscriber cursors', () => {
      it('stores, replaces and lists cursors by name', () => {
        expect(store.getSubscriberCursor('billing')).toBeUndefined();
        store.putSubscriberCursor(cursor());
        store.putSubscriberCursor(cursor({ name: 'audit', cursor: 9 }));
        const moved = cursor({ cursor: 42, state: 'retrying', attempts: 3, nextAttemptAt: T0 + 8000, lastError: 'HTTP 503', updatedAt: T0 + 1 });
        store.putSubscriberCursor(moved);
        expect(store.getSubscriberCursor('billing')).toEqual(moved);
        expect(store.listSubscriberCursors().map((c) => c.name)).toEqual(['audit', 'billing']);
      });
    });

    describe('incidents', () => {
      function incident(over: Partial<NewIncident> = {}): NewIncident {
        return {
          cause: 'webhook_loss',
          kind: 'missed_offline',
          platformID: 5,
          platform: 'Web',
          firstAt: T0,
          lastAt: T0,
          mismatches: 0,
          status: 'open',
          closedReason: null,
          closedAt: null,
          acknowledgedAt: null,
          note: '',
          updatedAt: T0,
          ...over,
        };
      }

      it('inserts, reads, updates and lists incidents newest first, by status and time', () => {
        const a = store.insertIncident(incident());
        const b = store.insertIncident(incident({ cause: 'mass_disagreement', kind: 'suspect_poll', platformID: null, platform: '', firstAt: T0 + MIN, lastAt: T0 + MIN }));
        expect(store.getIncident(a)).toEqual({ id: a, ...incident() });
        store.updateIncident(a, { status: 'closed', closedReason: 'verified', closedAt: T0 + 2 * MIN, updatedAt: T0 + 2 * MIN });
        expect(store.getIncident(a)).toMatchObject({ status: 'closed', closedReason: 'verified', closedAt: T0 + 2 * MIN });
        expect(store.getIncident(999)).toBeUndefined();
        expect(store.listIncidents({ limit: 10 }).map((i) => i.id)).toEqual([b, a]);
        expect(store.listIncidents({ statuses: ['open'], limit: 10 }).map((i) => i.id)).toEqual([b]);
        expect(store.listIncidents({ since: T0 + 1, limit: 10 }).map((i) => i.id)).toEqual([b]);
        expect(store.listIncidents({ beforeID: b, limit: 10 }).map((i) => i.id)).toEqual([a]);
        expect(store.incidentStatusCounts().sort((x, y) => x.status.localeCompare(y.status))).toEqual([
          { status: 'closed', count: 1 },
          { status: 'open', count: 1 },
        ]);
      });

      it('assigns mismatches once, counts them, moves lastAt, and lists them by incident', () => {
        const id = store.insertIncident(incident());
        const m1 = store.insertMismatch(mismatch({ userID: 'u1', detectedAt: T0 }));
        const m2 = store.insertMismatch(mismatch({ userID: 'u2', detectedAt: T0 + 3 * MIN }));
        const m3 = store.insertMismatch(mismatch({ userID: 'u2', kind: 'late_webhook', detectedAt: T0 + MIN }));
        expect(store.assignMismatches(id, [m1, m2, m3], T0 + 4 * MIN)).toBe(3);
        // Already assigned: not counted twice, not moved to another incident.
        const other = store.insertIncident(incident());
        expect(store.assignMismatches(other, [m1], T0 + 5 * MIN)).toBe(0);
        expect(store.getIncident(id)).toMatchObject({ mismatches: 3, lastAt: T0 + 3 * MIN, updatedAt: T0 + 4 * MIN });
        expect(store.getIncident(other)).toMatchObject({ mismatches: 0, lastAt: T0 });
        expect(store.listMismatches({ incidentID: id, limit: 10 }).map((m) => m.id)).toEqual([m3, m2, m1]);
        expect(store.listMismatches({ incidentID: other, limit: 10 })).toEqual([]);
        const loose = store.insertMismatch(mismatch({ userID: 'u3' }));
        expect(store.listMismatches({ incidentID: null, limit: 10 }).map((m) => m.id)).toEqual([loose]);
        expect(store.incidentKindCounts([id, other])).toEqual([
          { incidentID: id, kind: 'late_webhook', count: 1, users: 1 },
          { incidentID: id, kind: 'missed_offline', count: 2, users: 2 },
        ]);
        expect(store.incidentKeys(id).sort((a, b) => a.userID.localeCompare(b.userID))).toEqual([
          { userID: 'u1', platformID: 5, detectedAt: T0 },
          { userID: 'u2', platformID: 5, detectedAt: T0 + 3 * MIN },
        ]);
      });

      it('changes the status of an incident’s mismatches and counts open ones', () => {
        const id = store.insertIncident(incident());
        const open = store.insertMismatch(mismatch());
        const resolved = store.insertMismatch(mismatch({ status: 'resolved', note: 'seen' }));
        const outside = store.insertMismatch(mismatch());
        store.assignMismatches(id, [open, resolved], T0);
        expect(store.countMismatches('open', T0)).toBe(2);
        expect(store.setIncidentMismatchStatus(id, ['open'], 'acknowledged', 'incident acknowledged', T0 + MIN)).toBe(1);
        expect(store.getMismatch(open)).toMatchObject({ status: 'acknowledged', note: 'incident acknowledged', updatedAt: T0 + MIN });
        expect(store.getMismatch(resolved)).toMatchObject({ status: 'resolved', note: 'seen' });
        expect(store.getMismatch(outside)).toMatchObject({ status: 'open' });
        expect(store.countMismatches('open', T0)).toBe(1);
        expect(store.countMismatches('open', T0 + 1)).toBe(0);
      });

      it('expires unreviewed mismatches and incidents, and prunes closed incidents', () => {
        const old = T0 - 20 * 86_400_000;
        const stale = store.insertIncident(incident({ firstAt: old, lastAt: old }));
        const fresh = store.insertIncident(incident());
        const closedLongAgo = store.insertIncident(incident({ status: 'closed', closedReason: 'verified', closedAt: old }));
        const oldOpen = store.insertMismatch(mismatch({ detectedAt: old }));
        const oldAcked = store.insertMismatch(mismatch({ detectedAt: old, status: 'acknowledged' }));
        const newOpen = store.insertMismatch(mismatch({ detectedAt: T0 }));
        expect(store.expireUnreviewed(T0 - 86_400_000, T0, 'expired')).toEqual({ mismatches: 2, incidents: 1 });
        expect(store.getMismatch(oldOpen)).toMatchObject({ status: 'resolved', note: 'expired' });
        expect(store.getMismatch(oldAcked)).toMatchObject({ status: 'resolved' });
        expect(store.getMismatch(newOpen)).toMatchObject({ status: 'open' });
        expect(store.getIncident(stale)).toMatchObject({ status: 'closed', closedReason: 'expired', closedAt: T0 });
        expect(store.getIncident(fresh)).toMatchObject({ status: 'open' });
        expect(store.pruneIncidents(T0 - 86_400_000)).toBe(1);
        expect(store.getIncident(closedLongAgo)).toBeUndefined();
        expect(store.getIncident(stale)).toBeDefined();
      });
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
        expect(store.prune(T0 - 86_400_000)).toEqual({ receipts: 1, events: 2, mismatches: 2, pollRuns: 1, observations: 1 });
        expect(store.readEvents(0, 10).map((e) => e.seq)).toEqual([3]);
        expect(store.countReceipts()).toBe(1);
        expect(store.listMismatches({ limit: 10 }).map((m) => m.status).sort()).toEqual(['open', 'resolved']);
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

    describe('the backing file', () => {
      it('is readable and writable by its owner only (mode 0600)', () => {
        if (h.file === undefined) return;
        store.appendEvent(event());
        expect(statSync(h.file).mode & 0o777).toBe(0o600);
      });
    });

    it('can be closed twice', () => {
      store.close();
      expect(() => store.close()).not.toThrow();
    });
  });
}
