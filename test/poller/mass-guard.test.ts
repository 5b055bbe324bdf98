import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/engine/event-bus.js';
import { PresenceEngine } from '../../src/engine/presence-engine.js';
import type { MassGuardOptions } from '../../src/poller/mass-guard.js';
import { MassGuard } from '../../src/poller/mass-guard.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const T0 = 1_732_530_000_000;
const OPTS: MassGuardOptions = { share: 0.2, minUsers: 5, holdMs: 60_000, mode: 'active' };
const users = (n: number): string[] => Array.from({ length: n }, (_, i) => `u${i}`);

describe('the mass-disagreement guard', () => {
  let store: SqliteStore;
  let engine: PresenceEngine;
  let bus: EventBus;
  let raised: { readOffline: number; believedOnline: number }[];

  const guardWith = (opts: Partial<MassGuardOptions> = {}): MassGuard => new MassGuard(engine, bus, pino({ level: 'silent' }), { ...OPTS, ...opts });

  beforeEach(() => {
    store = new SqliteStore({ path: ':memory:' });
    bus = new EventBus();
    raised = [];
    bus.on('guard:raised', (e) => raised.push(e));
    engine = new PresenceEngine(
      store,
      bus,
      { settleMs: 3000, graceMs: 10_000, lateWindowMs: 300_000, ambiguousHoldMs: 60_000, mode: 'active' },
      pino({ level: 'silent' }),
      () => T0,
    );
  });
  afterEach(() => store.close());

  it('stays down when the users read offline are no more than the floor, whatever their share', () => {
    const guard = guardWith();
    expect(guard.judgeCycle(T0, 6, users(5), 1)).toBe(false);
    expect(guard.current).toBeNull();
    expect(store.listMismatches({ limit: 10 })).toEqual([]);
  });

  it('stays down when the share read offline is not above the configured share', () => {
    const guard = guardWith();
    expect(guard.judgeCycle(T0, 100, users(20), 1)).toBe(false);
    expect(guard.current).toBeNull();
  });

  it('rises on a mass disagreement, records one open suspect_poll mismatch and tells the bus', () => {
    const guard = guardWith();
    expect(guard.judgeCycle(T0, 100, users(21), 7)).toBe(true);
    expect(guard.current).toMatchObject({ since: T0, readOffline: 21, believedOnline: 100, holdUntil: T0 + 60_000 });
    expect(raised).toEqual([{ readOffline: 21, believedOnline: 100 }]);
    const [m] = store.listMismatches({ limit: 10 });
    expect(m).toMatchObject({ id: guard.current!.mismatchID, kind: 'suspect_poll', status: 'open', platformID: null, shadow: false });
    expect(m!.evidence[0]).toMatchObject({ what: 'poll', ref: 7 });
    expect(m!.evidence[0]!.detail).toContain('21 of 100');
  });

  it('holds whole-user offlines until its hold ends, then lets a persisting disagreement be corrected', () => {
    const guard = guardWith();
    guard.judgeCycle(T0, 100, users(30), 1);
    expect(guard.holds(T0 + 59_999)).toBe(true);
    expect(guard.judgeCycle(T0 + 30_000, 100, users(30), 2)).toBe(true);
    expect(guard.holds(T0 + 60_000)).toBe(false);
    expect(guard.judgeCycle(T0 + 60_000, 100, users(30), 3)).toBe(false);
    // Still raised (the disagreement persists), so no second mismatch is recorded.
    expect(guard.current).not.toBeNull();
    expect(store.listMismatches({ limit: 10 })).toHaveLength(1);
    expect(raised).toHaveLength(1);
  });

  it('clears at the first cycle without a mass disagreement and resolves its mismatch through the engine with a note', () => {
    const guard = guardWith();
    guard.judgeCycle(T0, 100, users(30), 1);
    const id = guard.current!.mismatchID;
    expect(guard.judgeCycle(T0 + 20_000, 100, users(2), 2)).toBe(false);
    expect(guard.current).toBeNull();
    expect(guard.holds(T0 + 20_000)).toBe(false);
    const m = store.getMismatch(id)!;
    expect(m.status).toBe('resolved');
    expect(m.updatedAt).toBe(T0 + 20_000);
    expect(m.evidence.at(-1)).toMatchObject({ at: T0 + 20_000, what: 'note', detail: 'the disagreement cleared after 20 s' });
  });

  it('records its mismatch as shadow in shadow mode', () => {
    const guard = guardWith({ mode: 'shadow' });
    guard.judgeCycle(T0, 10, users(9), 1);
    expect(store.getMismatch(guard.current!.mismatchID)!.shadow).toBe(true);
  });

  it('rises again, with a new mismatch, after it cleared', () => {
    const guard = guardWith();
    guard.judgeCycle(T0, 100, users(30), 1);
    const first = guard.current!.mismatchID;
    guard.judgeCycle(T0 + 10_000, 100, [], 2);
    guard.judgeCycle(T0 + 20_000, 100, users(40), 3);
    expect(guard.current!.mismatchID).not.toBe(first);
    expect(guard.current!.since).toBe(T0 + 20_000);
    expect(raised).toHaveLength(2);
  });
});
