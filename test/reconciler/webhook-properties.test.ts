/**
 * Property tests: random true presence histories, rendered into webhooks the way OpenIM 3.8.x sends them
 * (test/helpers/presence-history.ts), delivered with reordering inside the settle window and replays, and fed
 * through the engine with a controlled clock. Webhooks alone must give a level-correct stream.
 */
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { PresenceEvent } from '../../src/domain.js';
import { EventBus } from '../../src/engine/event-bus.js';
import type { IngestItem } from '../../src/engine/presence-engine.js';
import { PresenceEngine } from '../../src/engine/presence-engine.js';
import { WEBHOOK_SCHEMAS } from '../../src/openim/webhook-schemas.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { HistoryAction, SentWebhook } from '../helpers/presence-history.js';
import { keyName, prng, renderHistory } from '../helpers/presence-history.js';

const SETTLE_MS = 3000;
const REORDER_WINDOW_MS = 1500;
/** Webhooks whose arrival falls in the same window share one commit, as group commit does. */
const COMMIT_WINDOW_MS = 5;
const PLATFORMS = [1, 2, 5] as const;
const T0 = 1_732_530_000_000;
const NUM_RUNS = 300;
const SEED = 20_241_125;

const actionArb: fc.Arbitrary<HistoryAction> = fc.record({
  gap: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 9000 })),
  user: fc.integer({ min: 0, max: 2 }),
  platform: fc.constantFrom(...PLATFORMS),
  gateway: fc.integer({ min: 0, max: 1 }),
  kind: fc.constantFrom('connect', 'connect', 'disconnect', 'disconnect', 'renew'),
  kick: fc.constantFrom(false, false, false, true),
  healDelayMs: fc.integer({ min: 200, max: 1000 }),
});

const scenarioArb = fc.record({
  actions: fc.array(actionArb, { minLength: 10, maxLength: 60, size: 'max' }),
  noiseSeed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  replayShare: fc.constantFrom(0, 0.1, 0.3),
  /** 0: no poller, an online+offline pair keeps the key online at once; otherwise the pair waits for a poll that never comes. */
  ambiguousHoldMs: fc.constantFrom(0, 20_000),
});

interface Arrival {
  sent: SentWebhook;
  at: number;
  replay: boolean;
}

/** Gives every webhook its arrival time; replays are the same bodies delivered again later. */
function deliver(sent: readonly SentWebhook[], noiseSeed: number, replayShare: number): Arrival[] {
  // Separate generators, so the same noise seed gives the same first deliveries with or without replays.
  const delay = prng(noiseSeed);
  const replay = prng(noiseSeed ^ 0x5bd1e995);
  const out: Arrival[] = [];
  for (const s of sent) {
    const at = s.sentAt + Math.floor(delay() * REORDER_WINDOW_MS);
    out.push({ sent: s, at, replay: false });
    if (replay() < replayShare) out.push({ sent: s, at: at + 1 + Math.floor(replay() * 10_000), replay: true });
  }
  return out.sort((a, b) => a.at - b.at);
}

function toItem(a: Arrival): IngestItem {
  const parsed = WEBHOOK_SCHEMAS[a.sent.command].parse(JSON.parse(a.sent.body));
  return { webhook: parsed, body: a.sent.body, receivedAt: a.at, remoteAddress: '127.0.0.1' };
}

interface Run {
  events: PresenceEvent[];
  engine: PresenceEngine;
  store: SqliteStore;
}

/** Feeds arrivals through a fresh engine, applying held offlines as the clock passes their due time. */
function play(arrivals: readonly Arrival[], end: number, ambiguousHoldMs: number, tally?: Map<string, number>): Run {
  let now = T0;
  const store = new SqliteStore({ path: ':memory:' });
  const opts = { settleMs: SETTLE_MS, graceMs: 10_000, lateWindowMs: 300_000, ambiguousHoldMs, mode: 'active' } as const;
  const engine = new PresenceEngine(store, new EventBus(), opts, pino({ level: 'silent' }), () => now);
  let i = 0;
  while (i < arrivals.length) {
    const window = Math.floor(arrivals[i]!.at / COMMIT_WINDOW_MS);
    const batch: Arrival[] = [];
    while (i < arrivals.length && Math.floor(arrivals[i]!.at / COMMIT_WINDOW_MS) === window) batch.push(arrivals[i++]!);
    now = batch[0]!.at;
    engine.settleDue(now);
    for (const effect of engine.ingest(batch.map(toItem))) tally?.set(effect, (tally.get(effect) ?? 0) + 1);
  }
  // Past every delivery, replay and hold.
  now = end + 100_000;
  engine.settleDue(now);
  const events = store.readEvents(0, 1_000_000);
  tally?.set('settled offline', (tally.get('settled offline') ?? 0) + events.filter((e) => e.type === 'presence.offline').length);
  return { events, engine, store };
}

/** Replays the event log from 0: the last event per key gives its state. */
function replayState(events: readonly PresenceEvent[]): Map<string, boolean> {
  const state = new Map<string, boolean>();
  for (const e of events) state.set(keyName(e.userID, e.platformID), e.type === 'presence.online');
  return state;
}

/**
 * What each key's stream said, in order. Replays add commit points, so held offlines of different keys that fall
 * due together may be published in another order; per key nothing may change.
 */
function perKey(events: readonly PresenceEvent[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of events) {
    const k = keyName(e.userID, e.platformID);
    const list = out.get(k) ?? [];
    list.push(`${e.type} ${e.source} occurredAt=${e.occurredAt ?? ''}`);
    out.set(k, list);
  }
  return out;
}

describe('webhook-only histories rendered the way OpenIM 3.8.x sends them', () => {
  it('give a stream that alternates per key and whose replay equals the truth', () => {
    const tally = new Map<string, number>();
    fc.assert(
      fc.property(scenarioArb, ({ actions, noiseSeed, replayShare, ambiguousHoldMs }) => {
        const h = renderHistory(actions, T0, REORDER_WINDOW_MS, PLATFORMS);
        const run = play(deliver(h.sent, noiseSeed, replayShare), h.end, ambiguousHoldMs, tally);
        try {
          // Per key the stream alternates, starting with online.
          const last = new Map<string, string>();
          for (const e of run.events) {
            const k = keyName(e.userID, e.platformID);
            const expected = (last.get(k) ?? 'presence.offline') === 'presence.offline' ? 'presence.online' : 'presence.offline';
            expect(e.type, `event ${e.seq} of ${k}`).toBe(expected);
            last.set(k, e.type);
            expect(e.source).toBe('webhook');
            expect(e.occurredAt).not.toBeNull();
            expect(e.occurredAt!).toBeLessThanOrEqual(e.recordedAt);
          }
          // seq is 1..n without gaps.
          expect(run.events.map((e) => e.seq)).toEqual(run.events.map((_e, i) => i + 1));
          // Replaying the log from 0 gives the truth, and so does the engine's own state.
          const replayed = replayState(run.events);
          for (const [k, online] of h.truth) {
            expect(replayed.get(k) ?? false, `stream state of ${k}`).toBe(online);
            const [userID = '', platformID = ''] = k.split('|');
            expect(run.engine.key(userID, Number(platformID))?.online ?? false, `engine state of ${k}`).toBe(online);
            expect(run.engine.key(userID, Number(platformID))?.pendingOffline ?? null).toBeNull();
          }
          // User-level fields: userOnline follows the platforms, userVersion counts the user's events.
          const versions = new Map<string, number>();
          const onlinePlatforms = new Map<string, Set<number>>();
          for (const e of run.events) {
            const v = (versions.get(e.userID) ?? 0) + 1;
            versions.set(e.userID, v);
            expect(e.userVersion).toBe(v);
            const set = onlinePlatforms.get(e.userID) ?? new Set<number>();
            if (e.type === 'presence.online') set.add(e.platformID);
            else set.delete(e.platformID);
            onlinePlatforms.set(e.userID, set);
            expect(e.userOnline).toBe(set.size > 0);
          }
        } finally {
          run.store.close();
        }
      }),
      { numRuns: NUM_RUNS, seed: SEED },
    );
    // The histories reach every webhook rule, so the property is not vacuous.
    for (const effect of ['online', 'heartbeat', 'held', 'cancelled', 'duplicate', 'settled offline']) {
      expect(tally.get(effect) ?? 0, effect).toBeGreaterThan(NUM_RUNS / 10);
    }
  });

  it('are idempotent: replayed bodies change nothing, during the run or afterwards', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 1, max: 2 ** 31 - 1 }), ({ actions, noiseSeed, ambiguousHoldMs }, replaySeed) => {
        const h = renderHistory(actions, T0, REORDER_WINDOW_MS, PLATFORMS);
        const plain = play(deliver(h.sent, noiseSeed, 0), h.end, ambiguousHoldMs);
        const replayed = play(deliver(h.sent, noiseSeed, 0.5), h.end, ambiguousHoldMs);
        try {
          expect(perKey(replayed.events)).toEqual(perKey(plain.events));
          expect(replayed.store.headSeq()).toBe(plain.store.headSeq());
          expect(replayed.store.countReceipts()).toBe(plain.store.countReceipts());

          // Afterwards: any subset of the same bodies again, at later times.
          const rnd = prng(replaySeed);
          const subset = h.sent.filter(() => rnd() < 0.5);
          const head = plain.store.headSeq();
          const keysBefore = plain.store.loadKeys();
          const receiptsBefore = plain.store.countReceipts();
          const later = h.end + 200_000;
          const results = plain.engine.ingest(subset.map((s, i) => toItem({ sent: s, at: later + i, replay: true })));
          plain.engine.settleDue(later + subset.length + SETTLE_MS + 1);
          expect(results.every((r) => r === 'duplicate')).toBe(true);
          expect(plain.store.headSeq()).toBe(head);
          expect(plain.store.countReceipts()).toBe(receiptsBefore);
          expect(plain.store.loadKeys()).toEqual(keysBefore);
        } finally {
          plain.store.close();
          replayed.store.close();
        }
      }),
      { numRuns: NUM_RUNS, seed: SEED + 1 },
    );
  });
});
