/** Values the store contract writes: a receipt, an event, a mismatch, a key, a poll run and a cursor, each overridable. */
import type { KeyState, NewMismatch, NewPresenceEvent } from '../../../src/domain.js';
import { startedPollRun } from '../../../src/poller/poll-run.js';
import type { NewReceipt, PollRun, SubscriberCursor } from '../../../src/store/store.js';

export const T0 = 1_732_530_000_000;
export const MIN = 60_000;

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
    JSON.stringify({
      callbackCommand: r.command,
      operationID: r.operationID,
      platformID: r.platformID,
      platform: 'Web',
      userID: r.userID,
      seq: r.seq,
    }) + '\n';
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

export function keyState(over: Partial<KeyState> = {}): KeyState {
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

export function pollRun(over: Partial<Omit<PollRun, 'id'>> = {}): Omit<PollRun, 'id'> {
  return { ...startedPollRun('cycle', T0), ...over };
}

export function cursor(over: Partial<SubscriberCursor> = {}): SubscriberCursor {
  return {
    name: 'billing',
    cursor: 0,
    state: 'active',
    attempts: 0,
    nextAttemptAt: null,
    lastError: '',
    updatedAt: T0,
    ...over,
  };
}
