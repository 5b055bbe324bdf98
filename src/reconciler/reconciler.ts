/**
 * The reconciler: pure functions of (key state, observation, options) → (new key state, decision).
 * No I/O, no clock: callers pass the times. Rules are those of docs/architecture.md (reconciliation rules); the numbers in comments refer to them.
 */
import type { KeyState } from '../domain.js';

export interface ReconcileOptions {
  /** Rule 2: how long an offline webhook is held before it takes effect. */
  settleMs: number;
  /** Rule 4: a poll disagreeing within this long of a webhook for the key is a race. */
  graceMs: number;
  /** Rule 5: a webhook confirming a correction within this long after it is late; later ones are renewals. */
  lateWindowMs: number;
  /**
   * Hold an ambiguous online+offline pair (same seq, online first) until a poll decides, at most this long; 0 keeps
   * the key online at once (when there is no poller to ask).
   */
  ambiguousHoldMs: number;
}

export interface WebhookObservation {
  kind: 'online' | 'offline';
  userID: string;
  platformID: number;
  /** The webhook's `seq`: the gateway's wall clock in ms. */
  seq: number;
  receivedAt: number;
  receiptID: number;
}

export type WebhookDecision =
  /** The key goes online now (rule 1). */
  | { effect: 'online'; state: KeyState; occurredAt: number }
  /** Duplicate or renewal of the current state (rule 1). */
  | { effect: 'heartbeat'; state: KeyState }
  /** An offline held for the settle window (rule 2). */
  | { effect: 'held'; state: KeyState }
  /** An online that cancelled a held offline for the same key (rule 2). */
  | { effect: 'cancelled'; state: KeyState }
  /** The webhook confirms a correction already made (rule 5): no event, the mismatch becomes late. */
  | { effect: 'late'; state: KeyState; mismatchID: number; lateByMs: number }
  /** A webhook describing a change older than a correction that already superseded it: no event. */
  | { effect: 'stale'; state: KeyState };

/** A gateway clock this far behind the receive time is not plausible (webhooks are sent within seconds). */
export const MAX_WEBHOOK_AGE_MS = 3_600_000;

/**
 * The webhook's own time: its gateway clock, never later than when we received it. A `seq` over an hour older
 * than the receipt cannot be a real send time (a wrong clock): the receive time is used instead.
 */
export function occurredAtOf(seq: number, receivedAt: number): number {
  return seq < receivedAt && seq >= receivedAt - MAX_WEBHOOK_AGE_MS ? seq : receivedAt;
}

export function newKeyState(userID: string, platformID: number, now: number): KeyState {
  return {
    userID,
    platformID,
    online: false,
    changedAt: now,
    lastWebhookAt: null,
    lastOnlineWebhookAt: null,
    lastOnlineSeq: null,
    lastVerifiedAt: null,
    pendingOffline: null,
    correction: null,
  };
}

export function applyWebhook(prev: KeyState | undefined, wh: WebhookObservation, opts: ReconcileOptions): WebhookDecision {
  const base = prev ?? newKeyState(wh.userID, wh.platformID, wh.receivedAt);
  const occurredAt = occurredAtOf(wh.seq, wh.receivedAt);
  const isOnline = wh.kind === 'online';
  // The pairing below compares an offline with the newest online seen in the settle window. Onlines of one key
  // arrive in either order (two workers), so an older one arriving last must not hide a newer one.
  const onlineInWindow =
    base.lastOnlineWebhookAt !== null && base.lastOnlineSeq !== null && wh.receivedAt - base.lastOnlineWebhookAt <= opts.settleMs;
  const state: KeyState = {
    ...base,
    lastWebhookAt: wh.receivedAt,
    lastOnlineWebhookAt: isOnline ? wh.receivedAt : base.lastOnlineWebhookAt,
    lastOnlineSeq: isOnline ? (onlineInWindow ? Math.max(base.lastOnlineSeq!, wh.seq) : wh.seq) : base.lastOnlineSeq,
    correction: null,
  };

  // Rule 5: the first webhook after a correction, for the change the correction already published.
  const corr = base.correction;
  if (corr !== null) {
    if (corr.to === isOnline && base.online === isOnline && base.pendingOffline === null && wh.receivedAt - corr.at <= opts.lateWindowMs) {
      return { effect: 'late', state, mismatchID: corr.mismatchID, lateByMs: Math.max(0, wh.receivedAt - corr.occurredBefore) };
    }
    if (corr.to !== isOnline && occurredAt < corr.occurredBefore) {
      // Built before the poll that saw the corrected state: it describes the superseded state.
      return { effect: 'stale', state };
    }
  }

  if (isOnline) {
    if (base.pendingOffline !== null) return { effect: 'cancelled', state: { ...state, pendingOffline: null } };
    if (base.online) return { effect: 'heartbeat', state };
    return { effect: 'online', state: { ...state, online: true, changedAt: wh.receivedAt }, occurredAt };
  }
  // Offline (or kick-off).
  const held = base.pendingOffline;
  if (!base.online || (held !== null && held.ambiguous !== true)) return { effect: 'heartbeat', state };
  // docs/openim-contract.md, online+offline pairs: one of two connections on a platform closed, sent as online(p) then offline(p) from one batch
  // (same seq). Arriving in that order, the online came first: the pair leaves the key online.
  if (
    base.lastOnlineWebhookAt !== null &&
    base.lastOnlineSeq !== null &&
    wh.receivedAt - base.lastOnlineWebhookAt <= opts.settleMs &&
    base.lastOnlineSeq >= wh.seq
  ) {
    // Already waiting for a poll to decide an ambiguous pair: this one is the same kind.
    if (held !== null) return { effect: 'heartbeat', state };
    if (opts.ambiguousHoldMs <= 0) return { effect: 'cancelled', state };
    return {
      effect: 'held',
      state: {
        ...state,
        pendingOffline: { dueAt: wh.receivedAt + opts.ambiguousHoldMs, receivedAt: wh.receivedAt, seq: wh.seq, receiptID: wh.receiptID, ambiguous: true },
      },
    };
  }
  // An offline newer than every online in the window: a real close. It replaces an ambiguous pair still waiting for
  // a poll, which would otherwise expire and leave the key online.
  return {
    effect: 'held',
    state: {
      ...state,
      pendingOffline: { dueAt: wh.receivedAt + opts.settleMs, receivedAt: wh.receivedAt, seq: wh.seq, receiptID: wh.receiptID },
    },
  };
}

/**
 * Rule 2, after the window: a held offline that nothing cancelled takes effect. An ambiguous pair that no poll
 * decided in time leaves the key online (polling corrects it if it was wrong). `force` applies a held offline now
 * (a poll confirmed it).
 */
export function applySettle(
  prev: KeyState,
  now: number,
  force = false,
): { effect: 'offline'; state: KeyState; occurredAt: number; receiptID: number } | { effect: 'expired'; state: KeyState; receiptID: number } | { effect: 'none' } {
  const p = prev.pendingOffline;
  if (p === null || (!force && p.dueAt > now)) return { effect: 'none' };
  if (p.ambiguous === true && !force) return { effect: 'expired', state: { ...prev, pendingOffline: null }, receiptID: p.receiptID };
  return {
    effect: 'offline',
    state: { ...prev, online: false, pendingOffline: null, changedAt: now },
    occurredAt: occurredAtOf(p.seq, p.receivedAt),
    receiptID: p.receiptID,
  };
}

export type PollVerdict =
  /** Nothing known and nothing seen: nothing to do. */
  | { verdict: 'none' }
  /** Rule 3: the poll agrees with the published state. */
  | { verdict: 'agree'; state: KeyState }
  /** The live view, read after a held offline arrived, still shows the key online: the offline is dropped. */
  | { verdict: 'cancel-held-offline'; state: KeyState }
  /** The live view, read after an ambiguous held offline arrived, shows the user offline: the offline applies. */
  | { verdict: 'apply-held-offline' }
  /** Rule 4: a webhook for the key arrived within the grace window; wait. */
  | { verdict: 'race' }
  /** Rule 4: a disagreement to confirm with a targeted poll after the confirm delay. */
  | { verdict: 'disagree'; observedOnline: boolean; lastAgreeAt: number | null };

/**
 * Judges one key of one poll answer. `pollAt` is when the request was sent: the live view it returns is at
 * least that new.
 */
export function judgePoll(
  prev: KeyState | undefined,
  observedOnline: boolean,
  pollAt: number,
  opts: ReconcileOptions,
  userOnlineElsewhere = false,
): PollVerdict {
  if (prev === undefined) {
    return observedOnline ? { verdict: 'disagree', observedOnline, lastAgreeAt: null } : { verdict: 'none' };
  }
  if (prev.pendingOffline !== null) {
    if (!observedOnline && prev.pendingOffline.ambiguous === true) {
      // The live view shows one gateway's connections only: a user online elsewhere proves nothing about this key.
      return pollAt > prev.pendingOffline.receivedAt && !userOnlineElsewhere ? { verdict: 'apply-held-offline' } : { verdict: 'race' };
    }
    // A key whose offline is being held agrees with a poll that reads it offline.
    if (!observedOnline) return { verdict: 'agree', state: { ...prev, lastVerifiedAt: pollAt } };
    if (pollAt > prev.pendingOffline.receivedAt) {
      return { verdict: 'cancel-held-offline', state: { ...prev, pendingOffline: null, lastVerifiedAt: pollAt } };
    }
    return { verdict: 'race' };
  }
  if (prev.online === observedOnline) return { verdict: 'agree', state: { ...prev, lastVerifiedAt: pollAt } };
  if (prev.lastWebhookAt !== null && prev.lastWebhookAt >= pollAt - opts.graceMs) return { verdict: 'race' };
  return { verdict: 'disagree', observedOnline, lastAgreeAt: Math.max(prev.lastVerifiedAt ?? 0, prev.changedAt) || null };
}

export interface OpenDisagreement {
  observedOnline: boolean;
  /** The poll that first saw the new state. */
  firstSeenAt: number;
  /** The last observation that agreed with the old state. */
  lastAgreeAt: number | null;
}

export type ConfirmVerdict =
  /** The disagreement went away (a webhook arrived, or the live view now agrees): a transient race. */
  | { verdict: 'transient'; state: KeyState | undefined; reason: 'webhook' | 'agrees' }
  /** Confirmed with no webhook in between: publish a correction (rule 4). */
  | { verdict: 'correct'; toOnline: boolean; occurredAfter: number | null; occurredBefore: number };

/** Judges the targeted re-poll of a disagreement. */
export function judgeConfirm(
  prev: KeyState | undefined,
  d: OpenDisagreement,
  observedOnline: boolean,
  pollAt: number,
  opts: ReconcileOptions,
): ConfirmVerdict {
  const published = prev !== undefined && prev.online && prev.pendingOffline === null;
  if (prev !== undefined && prev.lastWebhookAt !== null && prev.lastWebhookAt >= d.firstSeenAt - opts.graceMs) {
    return { verdict: 'transient', state: prev, reason: 'webhook' };
  }
  if (published === observedOnline || observedOnline !== d.observedOnline) {
    const state = prev && published === observedOnline ? { ...prev, lastVerifiedAt: pollAt } : prev;
    return { verdict: 'transient', state, reason: 'agrees' };
  }
  return { verdict: 'correct', toOnline: observedOnline, occurredAfter: d.lastAgreeAt, occurredBefore: d.firstSeenAt };
}

/** The state after a correction is published. */
export function correctedState(
  prev: KeyState | undefined,
  userID: string,
  platformID: number,
  toOnline: boolean,
  occurredBefore: number,
  now: number,
  pollAt: number,
  mismatchID: number,
): KeyState {
  const base = prev ?? newKeyState(userID, platformID, now);
  return {
    ...base,
    online: toOnline,
    changedAt: now,
    pendingOffline: null,
    lastVerifiedAt: pollAt,
    correction: { to: toOnline, at: now, occurredBefore, mismatchID },
  };
}

export interface MassGuardOptions {
  share: number;
  minUsers: number;
}

/**
 * Rule 6: one poll showing a large share of believed-online users offline, with no offline webhooks to match,
 * is suspected to be OpenIM's fault (a slow gateway whose error was swallowed), not real.
 */
export function isMassDisagreement(believedOnlinePolled: number, readOffline: number, opts: MassGuardOptions): boolean {
  if (believedOnlinePolled === 0) return false;
  return readOffline > opts.minUsers && readOffline / believedOnlinePolled > opts.share;
}
