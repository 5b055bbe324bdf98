/** The store contract for ReportQueries: every backend must pass it (run by ../store-contract.ts). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventSource, EventType, MismatchKind, MismatchStatus } from '../../../src/domain.js';
import { MISMATCH_KINDS } from '../../../src/domain.js';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory, StoreHarness } from '../store-contract.js';
import { T0, MIN, receipt, event, mismatch } from './fixtures.js';

/** A small seeded generator (mulberry32), so a failing run can be repeated from its seed. */
function rng(seed: number): {
  int: (n: number) => number;
  pick: <T>(xs: readonly T[]) => T;
  chance: (p: number) => boolean;
} {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}

interface ModelEvent {
  seq: number;
  type: EventType;
  source: EventSource;
  platformID: number;
  occurredAt: number | null;
  recordedAt: number;
  mismatchID: number | null;
}
interface ModelReceipt {
  id: number;
  command: string;
  platformID: number;
  receivedAt: number;
}
interface ModelMismatch {
  id: number;
  userID: string;
  kind: MismatchKind;
  platformID: number | null;
  detectedAt: number;
  status: MismatchStatus;
}

/** What was written, and the answers counting it row by row gives (the definitions in src/store/store.ts). */
class Model {
  events: ModelEvent[] = [];
  receipts: ModelReceipt[] = [];
  mismatches: ModelMismatch[] = [];

  private static group<T>(
    rows: readonly T[],
    key: (r: T) => unknown[],
  ): Map<string, { key: unknown[]; count: number }> {
    const m = new Map<string, { key: unknown[]; count: number }>();
    for (const r of rows) {
      const k = key(r);
      const id = JSON.stringify(k);
      const cur = m.get(id);
      if (cur) cur.count++;
      else m.set(id, { key: k, count: 1 });
    }
    return m;
  }

  eventCounts(since: number): string[] {
    const initialSync = new Set(this.mismatches.filter((m) => m.kind === 'initial_sync').map((m) => m.id));
    const rows = this.events.filter(
      (e) =>
        e.recordedAt >= since &&
        (e.source !== 'webhook' || (e.occurredAt ?? e.recordedAt) >= since) &&
        !(e.source === 'poll' && e.mismatchID !== null && initialSync.has(e.mismatchID)),
    );
    return sorted(
      [...Model.group(rows, (e) => [e.type, e.source, e.platformID]).values()].map((g) =>
        JSON.stringify({ type: g.key[0], source: g.key[1], platformID: g.key[2], count: g.count }),
      ),
    );
  }

  receiptCounts(since: number): string[] {
    const rows = this.receipts.filter((r) => r.receivedAt >= since);
    return sorted(
      [...Model.group(rows, (r) => [r.command, r.platformID]).values()].map((g) =>
        JSON.stringify({ command: g.key[0], platformID: g.key[1], count: g.count }),
      ),
    );
  }

  mismatchCounts(since: number): string[] {
    const rows = this.mismatches.filter((m) => m.detectedAt >= since);
    return sorted(
      [...Model.group(rows, (m) => [m.kind, m.platformID]).values()].map((g) =>
        JSON.stringify({ kind: g.key[0], platformID: g.key[1], count: g.count }),
      ),
    );
  }

  topMismatchUsers(since: number, limit: number): { userID: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const m of this.mismatches) if (m.detectedAt >= since) counts.set(m.userID, (counts.get(m.userID) ?? 0) + 1);
    return [...counts.entries()]
      .map(([userID, count]) => ({ userID, count }))
      .sort((a, b) => b.count - a.count || (a.userID < b.userID ? -1 : a.userID > b.userID ? 1 : 0))
      .slice(0, limit);
  }

  private static buckets<T>(
    rows: readonly T[],
    at: (r: T) => number,
    key: (r: T) => Record<string, unknown>,
    since: number,
    until: number,
    bucketMs: number,
  ): string[] {
    const inRange = rows.filter((r) => at(r) >= since && at(r) < until);
    const groups = Model.group(inRange, (r) => [Math.trunc((at(r) - since) / bucketMs), JSON.stringify(key(r))]);
    return sorted(
      [...groups.values()].map((g) =>
        JSON.stringify({ bucket: g.key[0], ...(JSON.parse(g.key[1] as string) as object), count: g.count }),
      ),
    );
  }

  eventBuckets(since: number, until: number, bucketMs: number): string[] {
    return Model.buckets(
      this.events,
      (e) => e.recordedAt,
      (e) => ({ source: e.source }),
      since,
      until,
      bucketMs,
    );
  }

  receiptBuckets(since: number, until: number, bucketMs: number): string[] {
    return Model.buckets(
      this.receipts,
      (r) => r.receivedAt,
      () => ({}),
      since,
      until,
      bucketMs,
    );
  }

  mismatchBuckets(since: number, until: number, bucketMs: number): string[] {
    return Model.buckets(
      this.mismatches,
      (m) => m.detectedAt,
      (m) => ({ kind: m.kind }),
      since,
      until,
      bucketMs,
    );
  }

  /** Retention as Retention.prune defines it. */
  prune(olderThan: number): void {
    const old = this.events.filter((e) => e.recordedAt < olderThan);
    if (old.length > 0) {
      const maxSeq = Math.max(...old.map((e) => e.seq));
      this.events = this.events.filter((e) => e.seq > maxSeq);
    }
    this.receipts = this.receipts.filter((r) => r.receivedAt >= olderThan);
    this.mismatches = this.mismatches.filter((m) => m.detectedAt >= olderThan || m.status === 'open');
  }
}

function sorted(xs: string[]): string[] {
  return xs.sort();
}

/** The store's answer in the same form as the model's (order left aside). */
const rowsOf = (rows: readonly object[]): string[] => sorted(rows.map((r) => JSON.stringify(r)));

export function reportQueriesContract(factory: StoreFactory): void {
  describe('ReportQueries', () => {
    let h: StoreHarness;
    let store: Store;

    beforeEach(() => {
      h = factory();
      store = h.store;
    });
    afterEach(async () => {
      store.close();
      await h.cleanup();
    });

    describe('webhook transitions and their receipts', () => {
      it('counts a webhook transition at the webhook time, so a held offline never counts without its receipt', () => {
        // The offline webhook came just before the window; its held offline took effect 3 s later, inside it.
        store.insertReceipt(
          receipt({ command: 'callbackAfterUserOfflineCommand', seq: T0 - 1000, receivedAt: T0 - 900 }),
        );
        store.appendEvent(
          event({ type: 'presence.offline', userOnline: false, occurredAt: T0 - 1000, recordedAt: T0 + 2100 }),
        );
        expect(store.receiptCounts(T0)).toEqual([]);
        expect(store.eventCounts(T0)).toEqual([]);
        // A window that starts before the webhook holds both.
        expect(store.receiptCounts(T0 - 1000)).toEqual([
          { command: 'callbackAfterUserOfflineCommand', platformID: 5, count: 1 },
        ]);
        expect(store.eventCounts(T0 - 1000)).toEqual([
          { type: 'presence.offline', source: 'webhook', platformID: 5, count: 1 },
        ]);
      });

      it('counts a correction when it was recorded', () => {
        store.appendEvent(
          event({
            type: 'presence.offline',
            source: 'poll',
            userOnline: false,
            occurredAt: null,
            occurredAfter: T0 - 60_000,
            occurredBefore: T0 - 5000,
            recordedAt: T0 + 1,
          }),
        );
        expect(store.eventCounts(T0)).toEqual([{ type: 'presence.offline', source: 'poll', platformID: 5, count: 1 }]);
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
        expect(store.mismatchBuckets(T0, T0 + 3 * bucket, bucket)).toEqual([
          { bucket: 2, kind: 'missed_offline', count: 1 },
        ]);
      });
    });

    describe('counts over time on random data (per-minute counts, their edges and the rows not yet counted)', () => {
      const PLATFORMS = [1, 2, 5, 9] as const;
      const COMMANDS = ['callbackAfterUserOnlineCommand', 'callbackAfterUserOfflineCommand'] as const;
      /** Bucket sizes: sub-minute, whole minutes, and sizes a minute does not divide. */
      const BUCKETS_MS = [
        1000,
        7000,
        10_000,
        30_000,
        60_000,
        90_000,
        120_000,
        300_000,
        61_000,
        7 * MIN + 1,
        3_600_000,
        86_400_000,
      ];
      const SPAN = 3 * 60 * MIN;

      /** A time in the span, often on or next to a minute boundary. */
      function timeIn(r: ReturnType<typeof rng>, from: number, span: number): number {
        const minute = from + r.int(Math.max(1, Math.floor(span / MIN))) * MIN;
        return minute + r.pick([0, 1, MIN - 1, r.int(MIN), r.int(MIN), r.int(MIN)]);
      }

      /** Who a mismatch is about: a few users often, many rarely. */
      let users = (r: ReturnType<typeof rng>): string => `u${r.int(20)}`;

      function addRows(
        r: ReturnType<typeof rng>,
        m: Model,
        from: number,
        n: { events: number; receipts: number; mismatches: number },
      ): void {
        for (let i = 0; i < n.mismatches; i++) {
          const platformID = r.chance(0.15) ? null : r.pick(PLATFORMS);
          const x = {
            kind: r.pick(MISMATCH_KINDS),
            userID: users(r),
            platformID,
            detectedAt: timeIn(r, from, SPAN),
            status: r.pick(['open', 'acknowledged', 'resolved'] as const),
          };
          const id = store.insertMismatch(mismatch({ ...x, platform: platformID === null ? '' : 'Web' }));
          m.mismatches.push({ id, ...x });
        }
        for (let i = 0; i < n.events; i++) {
          const source = r.chance(0.3) ? 'poll' : 'webhook';
          const recordedAt = timeIn(r, from, SPAN);
          // Webhook events at their webhook's time, up to three minutes earlier (a held offline); sometimes unknown.
          const occurredAt =
            source === 'poll' || r.chance(0.1) ? null : recordedAt - r.pick([0, 0, 1, 999, r.int(3 * MIN), r.int(MIN)]);
          const linked = source === 'poll' && m.mismatches.length > 0 && r.chance(0.5) ? r.pick(m.mismatches).id : null;
          const x = {
            type: r.pick(['presence.online', 'presence.offline'] as const),
            source,
            platformID: r.pick(PLATFORMS),
            occurredAt,
            recordedAt,
            mismatchID: linked,
          } as const;
          const seq = store.appendEvent(event({ ...x, occurredAfter: null, occurredBefore: null }));
          m.events.push({ seq, ...x });
        }
        for (let i = 0; i < n.receipts; i++) {
          const x = { command: r.pick(COMMANDS), platformID: r.pick(PLATFORMS), receivedAt: timeIn(r, from, SPAN) };
          const id = store.insertReceipt(
            receipt({ ...x, seq: m.receipts.length + 1 + r.int(1e9), operationID: `op${i}_${r.int(1e9)}` }),
          );
          if (id !== null) m.receipts.push({ id, ...x });
        }
      }

      /** Changes some mismatches as the engine and the operators do: late, reviewed, moved. */
      function updateSome(r: ReturnType<typeof rng>, m: Model, count: number): void {
        for (let i = 0; i < count && m.mismatches.length > 0; i++) {
          const x = r.pick(m.mismatches);
          const choice = r.int(5);
          if (choice === 0) {
            x.kind = 'late_webhook';
            store.updateMismatch(x.id, { kind: 'late_webhook', lateByMs: 1000, lateAt: x.detectedAt + 1000 });
          } else if (choice === 1) {
            x.status = r.pick(['acknowledged', 'resolved'] as const);
            store.updateMismatch(x.id, { status: x.status });
          } else if (choice === 2) {
            x.detectedAt += r.pick([1, MIN, -MIN, r.int(10 * MIN)]);
            store.updateMismatch(x.id, { detectedAt: x.detectedAt });
          } else if (choice === 3) {
            x.userID = users(r);
            store.updateMismatch(x.id, { userID: x.userID });
          } else {
            x.platformID = r.chance(0.3) ? null : r.pick(PLATFORMS);
            x.kind = r.pick(MISMATCH_KINDS);
            store.updateMismatch(x.id, { platformID: x.platformID, kind: x.kind });
          }
        }
      }

      const CHECKS = [
        'eventCounts',
        'receiptCounts',
        'mismatchCounts',
        'eventBuckets',
        'receiptBuckets',
        'mismatchBuckets',
        'topMismatchUsers',
      ] as const;

      /** Asks one query with random bounds and compares it with the model. */
      function check(
        r: ReturnType<typeof rng>,
        m: Model,
        from: number,
        which: (typeof CHECKS)[number],
        seed: number,
        sinceAt?: number,
      ): void {
        const since =
          sinceAt ?? (r.chance(0.3) ? from + r.int(SPAN / MIN) * MIN : from - 10 * MIN + r.int(SPAN + 20 * MIN));
        const bucketMs = r.chance(0.2) ? 1 + r.int(20 * MIN) : r.pick(BUCKETS_MS);
        const until = since + 1 + r.int(Math.min(SPAN + 20 * MIN, bucketMs * 1440));
        const start = r.chance(0.5) ? Math.floor(since / bucketMs) * bucketMs : since;
        const what = `${which}: seed ${seed}, since ${since}, bucket start ${start}, until ${until}, bucket ${bucketMs} ms`;
        if (which === 'eventCounts') expect(rowsOf(store.eventCounts(since)), what).toEqual(m.eventCounts(since));
        else if (which === 'receiptCounts')
          expect(rowsOf(store.receiptCounts(since)), what).toEqual(m.receiptCounts(since));
        else if (which === 'mismatchCounts')
          expect(rowsOf(store.mismatchCounts(since)), what).toEqual(m.mismatchCounts(since));
        else if (which === 'eventBuckets')
          expect(rowsOf(store.eventBuckets(start, until, bucketMs)), what).toEqual(
            m.eventBuckets(start, until, bucketMs),
          );
        else if (which === 'receiptBuckets')
          expect(rowsOf(store.receiptBuckets(start, until, bucketMs)), what).toEqual(
            m.receiptBuckets(start, until, bucketMs),
          );
        else if (which === 'mismatchBuckets')
          expect(rowsOf(store.mismatchBuckets(start, until, bucketMs)), what).toEqual(
            m.mismatchBuckets(start, until, bucketMs),
          );
        else {
          const limit = 1 + r.int(25);
          expect(store.topMismatchUsers(since, limit), `${what}, top ${limit}`).toEqual(
            m.topMismatchUsers(since, limit),
          );
        }
      }

      function compare(r: ReturnType<typeof rng>, m: Model, from: number, queries: number, seed: number): void {
        for (let q = 0; q < queries; q++) for (const which of CHECKS) check(r, m, from, which, seed);
      }

      const SEEDS = [1, 2, 3, 4, 5, 6];
      for (const seed of SEEDS) {
        it(`answers as counting every row, while rows are added, changed and pruned (seed ${seed})`, () => {
          const r = rng(seed);
          const m = new Model();
          const from = T0 - (T0 % MIN) + r.int(MIN);
          for (let round = 0; round < 6; round++) {
            addRows(r, m, from, { events: 40 + r.int(200), receipts: 20 + r.int(80), mismatches: 10 + r.int(60) });
            compare(r, m, from, 6, seed);
            updateSome(r, m, 5 + r.int(20));
            // Rows written after the last answer: not rolled up yet.
            addRows(r, m, from, { events: r.int(40), receipts: r.int(20), mismatches: r.int(10) });
            compare(r, m, from, 4, seed);
            if (round % 2 === 1) {
              const horizon = timeIn(r, from, SPAN / 2);
              store.prune(horizon);
              m.prune(horizon);
              compare(r, m, from, 4, seed);
            }
          }
        });
      }

      it('ranks the users with the most mismatches as counting every row, over many users and many mismatches', () => {
        const r = rng(7);
        const m = new Model();
        const from = T0 - (T0 % MIN);
        // Skewed: a few users with many mismatches, most with one or two, so rankings by total and by period differ.
        const saved = users;
        users = (g) => (g.chance(0.3) ? `h${g.int(8)}` : `u${g.int(3000)}`);
        try {
          for (let round = 0; round < 4; round++) {
            addRows(r, m, from, { events: 0, receipts: 0, mismatches: 2500 });
            for (let q = 0; q < 15; q++) check(r, m, from, 'topMismatchUsers', 7);
            updateSome(r, m, 40);
            addRows(r, m, from, { events: 0, receipts: 0, mismatches: r.int(50) });
            for (let q = 0; q < 5; q++) check(r, m, from, 'topMismatchUsers', 7);
            const horizon = timeIn(r, from, SPAN / 3);
            store.prune(horizon);
            m.prune(horizon);
            for (let q = 0; q < 5; q++) check(r, m, from, 'topMismatchUsers', 7);
          }
        } finally {
          users = saved;
        }
      });

      it('answers as counting every row when more rows wait than one answer rolls up', () => {
        // 10 000 new rows before each query: more than a backend counting per minute may roll up in one answer.
        const r = rng(99);
        const m = new Model();
        const from = T0 - (T0 % MIN);
        const big = 10_000;
        const rows = {
          eventCounts: { events: big, receipts: 0, mismatches: 0 },
          eventBuckets: { events: big, receipts: 0, mismatches: 0 },
          receiptCounts: { events: 0, receipts: big, mismatches: 0 },
          receiptBuckets: { events: 0, receipts: big, mismatches: 0 },
          mismatchCounts: { events: 0, receipts: 0, mismatches: big },
          mismatchBuckets: { events: 0, receipts: 0, mismatches: big },
          topMismatchUsers: { events: 0, receipts: 0, mismatches: big },
        };
        for (const which of CHECKS) {
          addRows(r, m, from, rows[which]);
          // From before every row, so every row counts, then anywhere.
          check(r, m, from, which, 99, from - MIN - 1);
          check(r, m, from, which, 99);
        }
        store.prune(from + 30 * MIN);
        m.prune(from + 30 * MIN);
        compare(r, m, from, 2, 99);
      });
    });
  });
}
