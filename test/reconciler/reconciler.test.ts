import { describe, expect, it } from 'vitest';
import type { KeyState } from '../../src/domain.js';
import type { OpenDisagreement, ReconcileOptions, WebhookObservation } from '../../src/reconciler/reconciler.js';
import {
  MAX_WEBHOOK_AGE_MS,
  applySettle,
  applyWebhook,
  correctedState,
  isMassDisagreement,
  judgeConfirm,
  judgePoll,
  newKeyState,
  occurredAtOf,
} from '../../src/reconciler/reconciler.js';

/** Without a poller: an online+offline pair keeps the key online at once. */
const OPTS: ReconcileOptions = { settleMs: 3000, graceMs: 10_000, lateWindowMs: 300_000, ambiguousHoldMs: 0 };
/** With a poller: an online+offline pair waits for a poll to decide. */
const POLLED: ReconcileOptions = { ...OPTS, ambiguousHoldMs: 65_000 };
const T0 = 1_732_530_000_000;

function webhook(kind: 'online' | 'offline', receivedAt: number, seq = receivedAt - 500, receiptID = 1): WebhookObservation {
  return { kind, userID: 'u1', platformID: 5, seq, receivedAt, receiptID };
}

/** A key whose published state is `online`, last changed at T0, with nothing pending. */
function key(over: Partial<KeyState> = {}): KeyState {
  return { ...newKeyState('u1', 5, T0), ...over };
}

function onlineKey(over: Partial<KeyState> = {}): KeyState {
  return key({ online: true, lastWebhookAt: T0, lastOnlineWebhookAt: T0, lastOnlineSeq: T0 - 500, ...over });
}

/** The state after an offline webhook received at `at` was held. */
function heldKey(at: number, seq = at - 500): KeyState {
  const d = applyWebhook(onlineKey(), webhook('offline', at, seq, 7), OPTS);
  if (d.effect !== 'held') throw new Error(`expected a held offline, got ${d.effect}`);
  return d.state;
}

describe('occurredAtOf', () => {
  it('uses the webhook seq when it is earlier than the receive time', () => {
    expect(occurredAtOf(T0 - 1200, T0)).toBe(T0 - 1200);
  });

  it('clamps a seq later than the receive time (a gateway clock ahead) to the receive time', () => {
    expect(occurredAtOf(T0 + 5000, T0)).toBe(T0);
  });

  it('uses the receive time when seq equals it', () => {
    expect(occurredAtOf(T0, T0)).toBe(T0);
  });

  it('keeps a seq exactly one hour old, and falls back to the receive time for anything older', () => {
    expect(occurredAtOf(T0 - MAX_WEBHOOK_AGE_MS, T0)).toBe(T0 - MAX_WEBHOOK_AGE_MS);
    expect(occurredAtOf(T0 - MAX_WEBHOOK_AGE_MS - 1, T0)).toBe(T0);
    expect(occurredAtOf(0, T0)).toBe(T0);
  });
});

describe('newKeyState', () => {
  it('is offline, first seen now, with nothing observed yet', () => {
    expect(newKeyState('u1', 5, T0)).toEqual({
      userID: 'u1',
      platformID: 5,
      online: false,
      changedAt: T0,
      lastWebhookAt: null,
      lastOnlineWebhookAt: null,
      lastOnlineSeq: null,
      lastVerifiedAt: null,
      pendingOffline: null,
      correction: null,
    });
  });
});

describe('applyWebhook', () => {
  describe('when an online webhook arrives for a key never seen', () => {
    it('takes the key online now, with occurredAt from the webhook seq', () => {
      const d = applyWebhook(undefined, webhook('online', T0 + 1000, T0 + 400), OPTS);
      expect(d.effect).toBe('online');
      if (d.effect !== 'online') return;
      expect(d.occurredAt).toBe(T0 + 400);
      expect(d.state).toMatchObject({
        userID: 'u1',
        platformID: 5,
        online: true,
        changedAt: T0 + 1000,
        lastWebhookAt: T0 + 1000,
        lastOnlineWebhookAt: T0 + 1000,
        lastOnlineSeq: T0 + 400,
        pendingOffline: null,
      });
    });

    it('clamps occurredAt to the receive time when the gateway clock is ahead', () => {
      const d = applyWebhook(undefined, webhook('online', T0, T0 + 60_000), OPTS);
      expect(d).toMatchObject({ effect: 'online', occurredAt: T0 });
    });
  });

  describe('when an online webhook arrives for a key that is offline', () => {
    it('takes the key online and keeps what was known about the key', () => {
      const prev = key({ lastVerifiedAt: T0 - 10 });
      const d = applyWebhook(prev, webhook('online', T0 + 50_000), OPTS);
      expect(d.effect).toBe('online');
      expect(d.state).toMatchObject({ online: true, changedAt: T0 + 50_000, lastVerifiedAt: T0 - 10 });
    });
  });

  describe('when an online webhook arrives for a key already online', () => {
    it('records a duplicate (same seq) as a heartbeat and emits nothing', () => {
      const prev = onlineKey();
      const d = applyWebhook(prev, webhook('online', T0 + 200, prev.lastOnlineSeq!), OPTS);
      expect(d.effect).toBe('heartbeat');
      expect(d.state).toMatchObject({ online: true, changedAt: T0, lastOnlineWebhookAt: T0 + 200 });
    });

    it('records a renewal (a later seq, 10-20 min on) as a heartbeat that refreshes the renewal time', () => {
      const at = T0 + 15 * 60_000;
      const d = applyWebhook(onlineKey(), webhook('online', at, at - 300), OPTS);
      expect(d.effect).toBe('heartbeat');
      expect(d.state).toMatchObject({ online: true, changedAt: T0, lastWebhookAt: at, lastOnlineWebhookAt: at, lastOnlineSeq: at - 300 });
    });
  });

  describe('when an offline webhook arrives for a key that is online', () => {
    it('holds it for the settle window without changing the published state', () => {
      const at = T0 + 60_000;
      const d = applyWebhook(onlineKey(), webhook('offline', at, at - 800, 42), OPTS);
      expect(d.effect).toBe('held');
      expect(d.state.online).toBe(true);
      expect(d.state.changedAt).toBe(T0);
      expect(d.state.pendingOffline).toEqual({ dueAt: at + OPTS.settleMs, receivedAt: at, seq: at - 800, receiptID: 42 });
      expect(d.state.lastWebhookAt).toBe(at);
      expect(d.state.lastOnlineWebhookAt).toBe(T0);
    });
  });

  describe('when an offline webhook arrives for a key that is offline or never seen', () => {
    it('records a heartbeat and holds nothing', () => {
      for (const prev of [undefined, key()]) {
        const d = applyWebhook(prev, webhook('offline', T0 + 1000), OPTS);
        expect(d.effect).toBe('heartbeat');
        expect(d.state).toMatchObject({ online: false, pendingOffline: null, lastWebhookAt: T0 + 1000 });
      }
    });
  });

  describe('when a second offline arrives while one is held', () => {
    it('records a heartbeat and keeps the first due time', () => {
      const held = heldKey(T0 + 60_000);
      const d = applyWebhook(held, webhook('offline', T0 + 61_000), OPTS);
      expect(d.effect).toBe('heartbeat');
      expect(d.state.pendingOffline).toEqual(held.pendingOffline);
    });
  });

  describe('when an offline webhook is followed by an online for the same key within the settle window', () => {
    it.each([
      ['an older seq', -2000],
      ['the same seq', 0],
      ['a newer seq', 1500],
    ])('cancels the offline whatever its seq (%s) and emits nothing', (_name, delta) => {
      const at = T0 + 60_000;
      const held = heldKey(at, at - 500);
      const d = applyWebhook(held, webhook('online', at + 1000, at - 500 + delta), OPTS);
      expect(d.effect).toBe('cancelled');
      expect(d.state).toMatchObject({ online: true, pendingOffline: null, changedAt: T0 });
    });
  });

  describe('when online(p) then offline(p) from one batch arrive in that order (one of two connections closed)', () => {
    it('cancels the offline: the key stays online and nothing is held', () => {
      const at = T0 + 60_000;
      const first = applyWebhook(onlineKey(), webhook('online', at, at - 700), OPTS);
      expect(first.effect).toBe('heartbeat');
      const second = applyWebhook(first.state, webhook('offline', at + 3, at - 700), OPTS);
      expect(second.effect).toBe('cancelled');
      expect(second.state).toMatchObject({ online: true, pendingOffline: null });
    });

    it('also pairs them when the key was offline before the online', () => {
      const at = T0 + 60_000;
      const first = applyWebhook(key(), webhook('online', at, at - 700), OPTS);
      expect(first.effect).toBe('online');
      const second = applyWebhook(first.state, webhook('offline', at + 3, at - 700), OPTS);
      expect(second.effect).toBe('cancelled');
      expect(second.state.online).toBe(true);
    });

    it('still pairs them when an older online of the key arrives between the two (the workers reorder)', () => {
      const at = T0 + 60_000;
      const pairOnline = applyWebhook(onlineKey(), webhook('online', at, at - 700), OPTS);
      const older = applyWebhook(pairOnline.state, webhook('online', at + 2, at - 1500), OPTS);
      expect(older.effect).toBe('heartbeat');
      const offline = applyWebhook(older.state, webhook('offline', at + 4, at - 700), OPTS);
      expect(offline.effect).toBe('cancelled');
      expect(offline.state).toMatchObject({ online: true, pendingOffline: null });
    });

    it('forgets the seq of an online older than the settle window', () => {
      const at = T0 + 60_000;
      const first = applyWebhook(onlineKey({ lastOnlineSeq: at + 10_000 }), webhook('online', at, at - 700), OPTS);
      expect(first.state.lastOnlineSeq).toBe(at - 700);
    });

    it('holds an offline whose seq is later than the last online (a real disconnect after a renewal)', () => {
      const at = T0 + 60_000;
      const first = applyWebhook(onlineKey(), webhook('online', at, at - 700), OPTS);
      const second = applyWebhook(first.state, webhook('offline', at + 500, at + 100), OPTS);
      expect(second.effect).toBe('held');
    });

    it('holds an offline with the same seq that arrives after the settle window', () => {
      const at = T0 + 60_000;
      const first = applyWebhook(onlineKey(), webhook('online', at, at - 700), OPTS);
      const second = applyWebhook(first.state, webhook('offline', at + OPTS.settleMs + 1, at - 700), OPTS);
      expect(second.effect).toBe('held');
    });
  });
});

describe('when a poller can decide an online+offline pair (ambiguousHoldMs > 0)', () => {
  const at = T0 + 60_000;
  /** online(p) then offline(p) with the same seq: one of two connections closed, or one opened and closed. */
  const ambiguous = (): KeyState => {
    const first = applyWebhook(onlineKey(), webhook('online', at, at - 700), POLLED);
    const second = applyWebhook(first.state, webhook('offline', at + 3, at - 700, 11), POLLED);
    expect(second.effect).toBe('held');
    return second.state;
  };

  it('holds the offline of the pair, marked ambiguous, for the hold time', () => {
    expect(ambiguous().pendingOffline).toEqual({ dueAt: at + 3 + POLLED.ambiguousHoldMs, receivedAt: at + 3, seq: at - 700, receiptID: 11, ambiguous: true });
    expect(ambiguous().online).toBe(true);
  });

  it('lets the hold expire with the key still online when no poll decided', () => {
    const s = ambiguous();
    const d = applySettle(s, s.pendingOffline!.dueAt);
    expect(d).toMatchObject({ effect: 'expired', receiptID: 11, state: { online: true, pendingOffline: null } });
  });

  it('applies the offline at once when a poll confirms it (force)', () => {
    const d = applySettle(ambiguous(), at + 5000, true);
    expect(d).toMatchObject({ effect: 'offline', occurredAt: at - 700, state: { online: false, pendingOffline: null } });
  });

  it('is cancelled by a later online of the key', () => {
    const d = applyWebhook(ambiguous(), webhook('online', at + 2000, at + 1500), POLLED);
    expect(d).toMatchObject({ effect: 'cancelled', state: { online: true, pendingOffline: null } });
  });

  it('keeps the first hold when another pair of the same kind follows', () => {
    const s = ambiguous();
    const again = applyWebhook(s, webhook('offline', at + 10, at - 700, 12), POLLED);
    expect(again.effect).toBe('heartbeat');
    expect(again.state.pendingOffline).toEqual(s.pendingOffline);
  });

  describe('when a real offline (newer than every online in the window) arrives while the pair waits', () => {
    it('replaces the ambiguous hold with an ordinary one, so the key goes offline after the settle window', () => {
      const later = at + 4000;
      const d = applyWebhook(ambiguous(), webhook('offline', later, later - 100, 13), POLLED);
      expect(d.effect).toBe('held');
      expect(d.state.pendingOffline).toEqual({ dueAt: later + POLLED.settleMs, receivedAt: later, seq: later - 100, receiptID: 13 });
      expect(applySettle(d.state, later + POLLED.settleMs)).toMatchObject({ effect: 'offline', receiptID: 13, state: { online: false } });
    });
  });

  describe('judgePoll of a key whose ambiguous offline is held', () => {
    it('applies the offline when a poll sent after it reads the whole user offline', () => {
      expect(judgePoll(ambiguous(), false, at + 1000, POLLED, false)).toEqual({ verdict: 'apply-held-offline' });
    });

    it('waits when the user is online on another platform (the live view shows one gateway only)', () => {
      expect(judgePoll(ambiguous(), false, at + 1000, POLLED, true)).toEqual({ verdict: 'race' });
    });

    it('waits when the poll was sent before the offline arrived', () => {
      expect(judgePoll(ambiguous(), false, at, POLLED, false)).toEqual({ verdict: 'race' });
    });

    it('drops the offline when the poll reads the key online', () => {
      expect(judgePoll(ambiguous(), true, at + 1000, POLLED)).toMatchObject({ verdict: 'cancel-held-offline', state: { pendingOffline: null } });
    });
  });
});

describe('applySettle', () => {
  it('does nothing before the settle window ends', () => {
    const held = heldKey(T0 + 60_000);
    expect(applySettle(held, T0 + 60_000 + OPTS.settleMs - 1)).toEqual({ effect: 'none' });
  });

  it('does nothing for a key with no held offline', () => {
    expect(applySettle(onlineKey(), T0 + 10 * 60_000)).toEqual({ effect: 'none' });
  });

  it('takes the key offline when the window ends, with occurredAt from the offline webhook seq', () => {
    const at = T0 + 60_000;
    const held = heldKey(at, at - 900);
    const due = at + OPTS.settleMs;
    const d = applySettle(held, due);
    expect(d.effect).toBe('offline');
    if (d.effect !== 'offline') return;
    expect(d.occurredAt).toBe(at - 900);
    expect(d.receiptID).toBe(7);
    expect(d.state).toMatchObject({ online: false, pendingOffline: null, changedAt: due });
  });

  it('clamps occurredAt to when the offline was received', () => {
    const at = T0 + 60_000;
    const d = applySettle(heldKey(at, at + 30_000), at + 10_000);
    expect(d).toMatchObject({ effect: 'offline', occurredAt: at });
  });
});

describe('after a correction', () => {
  const correctedAt = T0 + 100_000;
  const firstSeen = T0 + 90_000;
  const corrected = (to: boolean): KeyState => correctedState(onlineKey({ online: !to }), 'u1', 5, to, firstSeen, correctedAt, correctedAt - 50, 99);

  describe('correctedState', () => {
    it('publishes the new state, clears any held offline and remembers the correction', () => {
      const s = correctedState(heldKey(T0 + 80_000), 'u1', 5, false, firstSeen, correctedAt, correctedAt - 50, 99);
      expect(s).toMatchObject({
        online: false,
        changedAt: correctedAt,
        pendingOffline: null,
        lastVerifiedAt: correctedAt - 50,
        correction: { to: false, at: correctedAt, occurredBefore: firstSeen, mismatchID: 99 },
      });
    });

    it('starts from a fresh key when the key was never seen', () => {
      const s = correctedState(undefined, 'u9', 2, true, firstSeen, correctedAt, correctedAt - 50, 3);
      expect(s).toMatchObject({ userID: 'u9', platformID: 2, online: true, lastWebhookAt: null });
    });
  });

  describe('when the webhook the correction stood in for arrives late', () => {
    it('marks it late by the time since the poll that first saw the change, and emits nothing', () => {
      const d = applyWebhook(corrected(false), webhook('offline', correctedAt + 40_000), OPTS);
      expect(d).toMatchObject({ effect: 'late', mismatchID: 99, lateByMs: correctedAt + 40_000 - firstSeen });
      expect(d.state).toMatchObject({ online: false, pendingOffline: null, correction: null });
    });

    it('does the same for a corrected online', () => {
      const d = applyWebhook(corrected(true), webhook('online', correctedAt + 5000), OPTS);
      expect(d).toMatchObject({ effect: 'late', mismatchID: 99, lateByMs: correctedAt + 5000 - firstSeen });
      expect(d.state.online).toBe(true);
    });

    it('never reports a negative delay', () => {
      const s = correctedState(onlineKey(), 'u1', 5, false, correctedAt + 1000, correctedAt, correctedAt, 99);
      const d = applyWebhook(s, webhook('offline', correctedAt + 10), OPTS);
      expect(d).toMatchObject({ effect: 'late', lateByMs: 0 });
    });

    it('treats a confirming webhook after the late window as an ordinary one', () => {
      const d = applyWebhook(corrected(false), webhook('offline', correctedAt + OPTS.lateWindowMs + 1), OPTS);
      expect(d.effect).toBe('heartbeat');
      expect(d.state.correction).toBeNull();
    });
  });

  describe('when a webhook built before the correcting poll describes the superseded state', () => {
    it('is stale: no event, and the corrected state stands', () => {
      const d = applyWebhook(corrected(false), webhook('online', correctedAt + 2000, firstSeen - 1), OPTS);
      expect(d.effect).toBe('stale');
      expect(d.state).toMatchObject({ online: false, correction: null });
    });

    it('does not hold a stale offline against a corrected online', () => {
      const d = applyWebhook(corrected(true), webhook('offline', correctedAt + 2000, firstSeen - 10_000), OPTS);
      expect(d.effect).toBe('stale');
      expect(d.state).toMatchObject({ online: true, pendingOffline: null });
    });
  });

  describe('when a newer change arrives after a correction', () => {
    it('applies it normally (a reconnect after a corrected offline goes online)', () => {
      const d = applyWebhook(corrected(false), webhook('online', correctedAt + 2000, correctedAt + 1000), OPTS);
      expect(d.effect).toBe('online');
      expect(d.state.correction).toBeNull();
    });
  });
});

describe('judgePoll', () => {
  const pollAt = T0 + 120_000;

  describe('when the key was never seen', () => {
    it('does nothing if the poll reads it offline', () => {
      expect(judgePoll(undefined, false, pollAt, OPTS)).toEqual({ verdict: 'none' });
    });

    it('disagrees, with no earlier agreeing observation, if the poll reads it online', () => {
      expect(judgePoll(undefined, true, pollAt, OPTS)).toEqual({ verdict: 'disagree', observedOnline: true, lastAgreeAt: null });
    });
  });

  describe('when the poll agrees', () => {
    it('marks an online key verified at the poll time', () => {
      expect(judgePoll(onlineKey(), true, pollAt, OPTS)).toEqual({ verdict: 'agree', state: { ...onlineKey(), lastVerifiedAt: pollAt } });
    });

    it('marks an offline key verified at the poll time', () => {
      expect(judgePoll(key(), false, pollAt, OPTS)).toMatchObject({ verdict: 'agree', state: { online: false, lastVerifiedAt: pollAt } });
    });
  });

  describe('when the key has a held offline', () => {
    it('agrees with a poll that reads it offline and keeps the offline held', () => {
      const held = heldKey(pollAt - 1000);
      const v = judgePoll(held, false, pollAt, OPTS);
      expect(v).toMatchObject({ verdict: 'agree', state: { lastVerifiedAt: pollAt, pendingOffline: held.pendingOffline } });
    });

    it('drops the offline when a poll sent after it arrived still reads the key online', () => {
      const v = judgePoll(heldKey(pollAt - 1000), true, pollAt, OPTS);
      expect(v).toMatchObject({ verdict: 'cancel-held-offline', state: { online: true, pendingOffline: null, lastVerifiedAt: pollAt } });
    });

    it('waits when the poll was sent before the offline arrived (the live view may be older)', () => {
      expect(judgePoll(heldKey(pollAt + 200), true, pollAt, OPTS)).toEqual({ verdict: 'race' });
    });
  });

  describe('when the poll disagrees', () => {
    it('is a race if a webhook for the key arrived within the grace window before the poll', () => {
      const prev = onlineKey({ lastWebhookAt: pollAt - OPTS.graceMs });
      expect(judgePoll(prev, false, pollAt, OPTS)).toEqual({ verdict: 'race' });
    });

    it('is a race if a webhook for the key arrived after the poll was sent', () => {
      const prev = key({ lastWebhookAt: pollAt + 300 });
      expect(judgePoll(prev, true, pollAt, OPTS)).toEqual({ verdict: 'race' });
    });

    it('opens a disagreement when the last webhook is older than the grace window', () => {
      const prev = onlineKey({ lastWebhookAt: pollAt - OPTS.graceMs - 1, lastVerifiedAt: T0 + 30_000 });
      expect(judgePoll(prev, false, pollAt, OPTS)).toEqual({ verdict: 'disagree', observedOnline: false, lastAgreeAt: T0 + 30_000 });
    });

    it('bounds the change by the state change itself when no poll verified the key since', () => {
      const prev = onlineKey({ changedAt: T0 + 5000, lastVerifiedAt: T0 });
      expect(judgePoll(prev, false, pollAt, OPTS)).toMatchObject({ verdict: 'disagree', lastAgreeAt: T0 + 5000 });
    });

    it('opens a disagreement for an offline key the poll reads online', () => {
      const prev = key({ lastWebhookAt: null });
      expect(judgePoll(prev, true, pollAt, OPTS)).toEqual({ verdict: 'disagree', observedOnline: true, lastAgreeAt: T0 });
    });
  });
});

describe('judgeConfirm', () => {
  const firstSeenAt = T0 + 120_000;
  const confirmAt = firstSeenAt + 5000;
  const missedOffline: OpenDisagreement = { observedOnline: false, firstSeenAt, lastAgreeAt: T0 + 60_000 };
  const missedOnline: OpenDisagreement = { observedOnline: true, firstSeenAt, lastAgreeAt: null };

  describe('when the confirm poll still disagrees and no webhook arrived', () => {
    it('corrects, bounded by the last agreeing observation and the first disagreeing poll', () => {
      const prev = onlineKey({ lastWebhookAt: T0 });
      expect(judgeConfirm(prev, missedOffline, false, confirmAt, OPTS)).toEqual({
        verdict: 'correct',
        toOnline: false,
        occurredAfter: T0 + 60_000,
        occurredBefore: firstSeenAt,
      });
    });

    it('corrects a key never seen to online', () => {
      expect(judgeConfirm(undefined, missedOnline, true, confirmAt, OPTS)).toEqual({
        verdict: 'correct',
        toOnline: true,
        occurredAfter: null,
        occurredBefore: firstSeenAt,
      });
    });
  });

  describe('when a webhook for the key arrived since the disagreement', () => {
    it('is transient because of the webhook', () => {
      const prev = onlineKey({ lastWebhookAt: firstSeenAt + 1000 });
      expect(judgeConfirm(prev, missedOffline, false, confirmAt, OPTS)).toEqual({ verdict: 'transient', state: prev, reason: 'webhook' });
    });
  });

  describe('when the confirm poll agrees with the published state', () => {
    it('is transient and marks the key verified', () => {
      const prev = onlineKey();
      expect(judgeConfirm(prev, missedOffline, true, confirmAt, OPTS)).toEqual({
        verdict: 'transient',
        state: { ...prev, lastVerifiedAt: confirmAt },
        reason: 'agrees',
      });
    });

    it('treats a key whose offline is held as offline', () => {
      const held = heldKey(firstSeenAt - OPTS.graceMs - 5000);
      expect(judgeConfirm(held, missedOffline, false, confirmAt, OPTS)).toMatchObject({ verdict: 'transient', reason: 'agrees' });
    });

    it('is transient for a never-seen key that now reads offline', () => {
      expect(judgeConfirm(undefined, missedOnline, false, confirmAt, OPTS)).toEqual({ verdict: 'transient', state: undefined, reason: 'agrees' });
    });
  });
});

describe('isMassDisagreement', () => {
  const opts = { share: 0.2, minUsers: 50 };

  it('is false when no believed-online user was polled', () => {
    expect(isMassDisagreement(0, 0, opts)).toBe(false);
  });

  it('is true when both the share and the count are exceeded', () => {
    expect(isMassDisagreement(1000, 201, opts)).toBe(true);
    expect(isMassDisagreement(100, 51, opts)).toBe(true);
  });

  it('is false at exactly the share', () => {
    expect(isMassDisagreement(1000, 200, opts)).toBe(false);
  });

  it('is false at exactly the minimum number of users, however large the share', () => {
    expect(isMassDisagreement(60, 50, opts)).toBe(false);
    expect(isMassDisagreement(50, 50, { share: 0.2, minUsers: 49 })).toBe(true);
  });

  it('is false for a large count that is a small share', () => {
    expect(isMassDisagreement(100_000, 5000, opts)).toBe(false);
  });
});
