import { describe, expect, it } from 'vitest';
import type { Mismatch } from '../../src/domain.js';
import type { ActiveIncident, GroupingOptions } from '../../src/incidents/incident-grouping.js';
import { closable, groupMismatch, stillActive } from '../../src/incidents/incident-grouping.js';

const T0 = 1_764_000_000_000;
const MIN = 60_000;
const O: GroupingOptions = { gapMs: 5 * MIN, maxSpanMs: 60 * MIN, guardHoldMs: 60_000, guardFollowMs: 30_000 };

let nextID = 1;
function m(over: Partial<Mismatch> = {}): Mismatch {
  return {
    id: nextID++,
    kind: 'missed_online',
    userID: 'u1',
    platformID: 2,
    platform: 'Android',
    detectedAt: T0,
    occurredAfter: null,
    occurredBefore: T0 - 5000,
    eventSeq: null,
    lateByMs: null,
    lateAt: null,
    status: 'open',
    shadow: false,
    evidence: [],
    note: '',
    updatedAt: T0,
    ...over,
  };
}

function active(over: Partial<ActiveIncident> = {}): ActiveIncident {
  return { id: 7, cause: 'webhook_loss', kind: 'missed_online', platformID: 2, firstAt: T0 - MIN, lastAt: T0 - MIN, ...over };
}

describe('grouping a mismatch into an incident', () => {
  it('opens a webhook_loss incident on its platform when nothing is active', () => {
    const a = groupMismatch(m(), [], O);
    expect(a).toMatchObject({ open: { cause: 'webhook_loss', kind: 'missed_online', platformID: 2, platform: 'Android', firstAt: T0, lastAt: T0, status: 'open' } });
  });

  it('joins a run of the same kind on the same platform within the gap', () => {
    expect(groupMismatch(m(), [active()], O)).toEqual({ join: 7 });
  });

  it('does not join a run of another kind, another platform, or one quiet for longer than the gap', () => {
    expect(groupMismatch(m(), [active({ kind: 'missed_offline' })], O)).toHaveProperty('open');
    expect(groupMismatch(m(), [active({ platformID: 1 })], O)).toHaveProperty('open');
    expect(groupMismatch(m(), [active({ lastAt: T0 - O.gapMs - 1 })], O)).toHaveProperty('open');
  });

  it('starts a new incident when a run would span more than maxSpanMs', () => {
    expect(groupMismatch(m(), [active({ firstAt: T0 - O.maxSpanMs - 1, lastAt: T0 - 1000 })], O)).toHaveProperty('open');
  });

  it('opens a mass_disagreement incident for a suspect_poll, spanning platforms', () => {
    const a = groupMismatch(m({ kind: 'suspect_poll', platformID: null, platform: '' }), [active()], O);
    expect(a).toMatchObject({ open: { cause: 'mass_disagreement', kind: 'suspect_poll', platformID: null } });
  });

  it('puts the offline corrections that follow the guard hold into the guard incident', () => {
    const guard = active({ id: 9, cause: 'mass_disagreement', kind: 'suspect_poll', platformID: null, firstAt: T0, lastAt: T0 });
    const run = active({ kind: 'missed_offline', lastAt: T0 });
    expect(groupMismatch(m({ kind: 'missed_offline', detectedAt: T0 + 61_000 }), [run, guard], O)).toEqual({ join: 9 });
    // During the hold: a platform of a user still online elsewhere, an ordinary run.
    expect(groupMismatch(m({ kind: 'missed_offline', detectedAt: T0 + 59_999 }), [run, guard], O)).toEqual({ join: 7 });
    // Too long after the hold: an ordinary run again.
    expect(groupMismatch(m({ kind: 'missed_offline', detectedAt: T0 + 60_000 + 30_001 }), [run, guard], O)).toEqual({ join: 7 });
    // Online corrections never follow a guard.
    expect(groupMismatch(m({ kind: 'missed_online', detectedAt: T0 + 61_000 }), [guard], O)).toHaveProperty('open');
  });

  it('keeps initial_sync apart from lost webhooks', () => {
    expect(groupMismatch(m({ kind: 'initial_sync' }), [active()], O)).toMatchObject({ open: { cause: 'initial_sync' } });
  });

  it('leaves transient and late_webhook mismatches out', () => {
    expect(groupMismatch(m({ kind: 'transient' }), [active()], O)).toBeNull();
    expect(groupMismatch(m({ kind: 'late_webhook' }), [active()], O)).toBeNull();
  });
});

describe('when an incident stops taking mismatches and may close', () => {
  it('a run is active until quiet for the gap; a guard until its hold and follow-up end', () => {
    const run = active({ lastAt: T0 });
    expect(stillActive(run, T0 + O.gapMs, O)).toBe(true);
    expect(stillActive(run, T0 + O.gapMs + 1, O)).toBe(false);
    const guard = active({ cause: 'mass_disagreement', firstAt: T0, lastAt: T0 });
    expect(stillActive(guard, T0 + 90_000, O)).toBe(true);
    expect(stillActive(guard, T0 + 90_001, O)).toBe(false);
  });

  it('closes only when quiet and every corrected key was verified later', () => {
    const run = active({ lastAt: T0 });
    expect(closable(run, T0 + O.gapMs + 1, 0, O)).toBe(true);
    expect(closable(run, T0 + O.gapMs + 1, 3, O)).toBe(false);
    expect(closable(run, T0 + 1000, 0, O)).toBe(false);
  });
});
