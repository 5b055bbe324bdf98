import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Mismatch, NewMismatch } from '../../src/domain.js';
import { EventBus } from '../../src/engine/event-bus.js';
import { IncidentService } from '../../src/incidents/incident-service.js';
import type { IncidentServiceOptions } from '../../src/incidents/incident-service.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const T0 = 1_764_000_000_000;
const MIN = 60_000;
const DAY = 86_400_000;
const OPTIONS: IncidentServiceOptions = {
  gapMs: 5 * MIN,
  maxSpanMs: 60 * MIN,
  guardHoldMs: MIN,
  guardFollowMs: 30_000,
  retentionMs: 30 * DAY,
  openMaxAgeMs: 14 * DAY,
  checkEveryMs: 1000,
};

describe('the incident service', () => {
  let store: SqliteStore;
  let bus: EventBus;
  let now: number;
  /** The engine's view of keys: when each was last verified by a poll. */
  let keys: Map<string, { lastVerifiedAt: number | null; changedAt: number }>;
  let service: IncidentService;

  /** A mismatch of user `userID` as the engine would record it now, not yet stored. */
  function mismatchOf(userID: string): NewMismatch {
    return {
      kind: 'missed_offline',
      userID,
      platformID: 2,
      platform: 'Android',
      detectedAt: now,
      occurredAfter: null,
      occurredBefore: now - 5000,
      eventSeq: null,
      lateByMs: null,
      lateAt: null,
      status: 'open',
      shadow: false,
      evidence: [],
      note: '',
      updatedAt: now,
    };
  }

  function record(over: Partial<NewMismatch> & { userID: string }): Mismatch {
    const m: NewMismatch = { ...mismatchOf(over.userID), ...over };
    const saved = store.getMismatch(store.insertMismatch(m))!;
    bus.emit('mismatch:recorded', saved);
    keys.set(`${m.userID}|${m.platformID}`, { lastVerifiedAt: now - 5000, changedAt: now });
    return saved;
  }

  beforeEach(() => {
    store = new SqliteStore({ path: ':memory:' });
    bus = new EventBus();
    now = T0;
    keys = new Map();
    service = new IncidentService(store, bus, { key: (u, p) => keys.get(`${u}|${p}`) }, pino({ level: 'silent' }), OPTIONS, () => now);
  });

  afterEach(() => {
    service.close();
    store.close();
  });

  it('groups a gateway crash: the suspect poll and the offline corrections after its hold make one incident', () => {
    const guard = record({ userID: 'u1', kind: 'suspect_poll', platformID: null, platform: '' });
    now += MIN + 5000;
    for (let i = 0; i < 40; i++) record({ userID: `crashed-${i}`, platformID: i % 2 === 0 ? 2 : 1, platform: i % 2 === 0 ? 'Android' : 'IOS' });
    service.flush();
    const list = store.listIncidents({ limit: 10 });
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ cause: 'mass_disagreement', mismatches: 41, firstAt: T0, lastAt: now });
    expect(store.listMismatches({ incidentID: list[0]!.id, limit: 100 }).map((m) => m.id)).toContain(guard.id);
  });

  it('keeps one incident per run of one kind on one platform, and a new one after a quiet gap', () => {
    record({ userID: 'a', kind: 'missed_online' });
    now += MIN;
    record({ userID: 'b', kind: 'missed_online' });
    record({ userID: 'c', kind: 'missed_online', platformID: 1, platform: 'IOS' });
    record({ userID: 'd', kind: 'transient', status: 'resolved' });
    service.flush();
    expect(store.listIncidents({ limit: 10 }).map((i) => [i.platform, i.mismatches])).toEqual([
      ['IOS', 1],
      ['Android', 2],
    ]);
    now += OPTIONS.gapMs + 1;
    record({ userID: 'e', kind: 'missed_online' });
    service.flush();
    expect(store.listIncidents({ limit: 10 })).toHaveLength(3);
  });

  it('closes a quiet incident once a later poll verified every key, resolving its mismatches', () => {
    record({ userID: 'a' });
    record({ userID: 'b' });
    service.flush();
    const [inc] = store.listIncidents({ limit: 1 });
    now += OPTIONS.gapMs + 2000;
    service.tick();
    // Nothing verified after the corrections yet.
    expect(store.getIncident(inc!.id)).toMatchObject({ status: 'open' });
    keys.set('a|2', { lastVerifiedAt: now, changedAt: T0 });
    now += 2000;
    service.tick();
    expect(store.getIncident(inc!.id)).toMatchObject({ status: 'open' });
    keys.set('b|2', { lastVerifiedAt: now, changedAt: T0 });
    now += 2000;
    service.tick();
    expect(store.getIncident(inc!.id)).toMatchObject({ status: 'closed', closedReason: 'verified', closedAt: now });
    expect(store.countMismatches('open', 0)).toBe(0);
    expect(store.listMismatches({ incidentID: inc!.id, limit: 10 }).map((m) => m.status)).toEqual(['resolved', 'resolved']);
  });

  it('keeps a guard incident open while its suspect poll is open', () => {
    const guard = record({ userID: 'u1', kind: 'suspect_poll', platformID: null, platform: '' });
    service.flush();
    const [inc] = store.listIncidents({ limit: 1 });
    now += 10 * MIN;
    service.tick();
    expect(store.getIncident(inc!.id)).toMatchObject({ status: 'open' });
    store.updateMismatch(guard.id, { status: 'resolved', updatedAt: now });
    now += 2000;
    service.tick();
    expect(store.getIncident(inc!.id)).toMatchObject({ status: 'closed', closedReason: 'verified' });
  });

  it('acknowledges an incident with its open mismatches, and those that join it later', () => {
    record({ userID: 'a' });
    service.flush();
    const [inc] = store.listIncidents({ limit: 1 });
    expect(service.acknowledge(inc!.id, 'known: queue too small')).toMatchObject({ status: 'acknowledged', acknowledgedAt: now, note: 'known: queue too small' });
    now += MIN;
    record({ userID: 'b' });
    service.flush();
    expect(store.listMismatches({ incidentID: inc!.id, limit: 10 }).map((m) => m.status)).toEqual(['acknowledged', 'acknowledged']);
    expect(service.acknowledge(999, undefined)).toBeUndefined();
  });

  it('expires what stayed unreviewed past store.openMismatchMaxAgeDays and prunes closed incidents past their retention', () => {
    record({ userID: 'a' });
    service.flush();
    const [inc] = store.listIncidents({ limit: 1 });
    now += OPTIONS.openMaxAgeMs + MIN;
    service.tick();
    expect(store.getIncident(inc!.id)).toMatchObject({ status: 'closed' });
    expect(store.countMismatches('open', 0)).toBe(0);
    now += OPTIONS.retentionMs + DAY;
    service.tick();
    expect(store.getIncident(inc!.id)).toBeUndefined();
  });

  it('groups at start the mismatches a crash left out of any incident', () => {
    service.close();
    // Recorded, committed, then the process died before the grouping was written.
    for (const u of ['a', 'b']) store.insertMismatch({ ...mismatchOf(u), detectedAt: now - 2 * MIN });
    store.insertMismatch({ ...mismatchOf('old'), detectedAt: now - 2 * OPTIONS.maxSpanMs });
    service = new IncidentService(store, bus, { key: (u, p) => keys.get(`${u}|${p}`) }, pino({ level: 'silent' }), OPTIONS, () => now);
    expect(store.listIncidents({ limit: 10 }).map((i) => i.mismatches)).toEqual([2]);
    expect(store.listMismatches({ incidentID: null, limit: 10 }).map((m) => m.userID)).toEqual(['old']);
  });

  it('picks up active incidents again after a restart', () => {
    record({ userID: 'a' });
    service.close();
    service = new IncidentService(store, bus, { key: (u, p) => keys.get(`${u}|${p}`) }, pino({ level: 'silent' }), OPTIONS, () => now);
    now += MIN;
    record({ userID: 'b' });
    service.flush();
    expect(store.listIncidents({ limit: 10 }).map((i) => i.mismatches)).toEqual([2]);
  });
});
