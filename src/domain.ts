/** Shared vocabulary of the presence stream (docs/architecture.md, presence model and event stream contract). Closed sets are `as const` arrays. */

export const EVENT_TYPES = ['presence.online', 'presence.offline'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EVENT_SOURCES = ['webhook', 'poll'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export const MISMATCH_KINDS = ['missed_online', 'missed_offline', 'late_webhook', 'transient', 'suspect_poll', 'initial_sync'] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];

export const MISMATCH_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type MismatchStatus = (typeof MISMATCH_STATUSES)[number];

/** One event of the reconciled stream, as stored and as served (times are epoch milliseconds in storage). */
export interface PresenceEvent {
  seq: number;
  type: EventType;
  userID: string;
  platformID: number;
  platform: string;
  /** The user-level state after this event: online while any platform is online. */
  userOnline: boolean;
  /** Per-user counter, +1 for every event of the user. */
  userVersion: number;
  source: EventSource;
  /** Webhook events: the webhook's `seq` (gateway clock) clamped to the receive time. */
  occurredAt: number | null;
  /** Corrections: the last observation that agreed with the old state. */
  occurredAfter: number | null;
  /** Corrections: the first poll that saw the new state. */
  occurredBefore: number | null;
  recordedAt: number;
  /** Corrections: the mismatch record that explains them. */
  mismatchID: number | null;
}

export type NewPresenceEvent = Omit<PresenceEvent, 'seq'>;

/** The JSON form served to subscribers (ISO-8601 times, absent fields omitted). */
export interface PresenceEventJson {
  seq: number;
  type: EventType;
  userID: string;
  platformID: number;
  platform: string;
  userOnline: boolean;
  userVersion: number;
  source: EventSource;
  occurredAt?: string;
  occurredAfter?: string;
  occurredBefore?: string;
  recordedAt: string;
  mismatchID?: number;
}

export function eventToJson(e: PresenceEvent): PresenceEventJson {
  const out: PresenceEventJson = {
    seq: e.seq,
    type: e.type,
    userID: e.userID,
    platformID: e.platformID,
    platform: e.platform,
    userOnline: e.userOnline,
    userVersion: e.userVersion,
    source: e.source,
    recordedAt: new Date(e.recordedAt).toISOString(),
  };
  if (e.occurredAt !== null) out.occurredAt = new Date(e.occurredAt).toISOString();
  if (e.occurredAfter !== null) out.occurredAfter = new Date(e.occurredAfter).toISOString();
  if (e.occurredBefore !== null) out.occurredBefore = new Date(e.occurredBefore).toISOString();
  if (e.mismatchID !== null) out.mismatchID = e.mismatchID;
  return out;
}

/** Evidence kept with a mismatch: what was seen, where, when. */
export interface EvidenceItem {
  at: number;
  what: 'receipt' | 'poll' | 'event' | 'note';
  /** e.g. receipt id, poll run id, event seq */
  ref?: number;
  detail: string;
}

export interface Mismatch {
  id: number;
  kind: MismatchKind;
  userID: string;
  platformID: number | null;
  platform: string;
  detectedAt: number;
  occurredAfter: number | null;
  occurredBefore: number | null;
  eventSeq: number | null;
  lateByMs: number | null;
  lateAt: number | null;
  status: MismatchStatus;
  shadow: boolean;
  evidence: EvidenceItem[];
  note: string;
  updatedAt: number;
}

export type NewMismatch = Omit<Mismatch, 'id'>;

/** The reconciler's view of one (userID, platformID) key. */
export interface KeyState {
  userID: string;
  platformID: number;
  /** Published state (what the stream last said). */
  online: boolean;
  /** When the published state last changed (recordedAt of its event), or first seen. */
  changedAt: number;
  /** Receive time of the last webhook for this key (any command). */
  lastWebhookAt: number | null;
  /** Receive time of the last online webhook (renewal heartbeat). */
  lastOnlineWebhookAt: number | null;
  /** The `seq` of that online webhook (gateway clock), to pair it with an offline from the same batch. */
  lastOnlineSeq: number | null;
  /** Last poll that agreed with the published state. */
  lastVerifiedAt: number | null;
  /**
   * A held offline webhook (settle window). `ambiguous`: it followed an online for the same key from the same
   * batch (same seq), which OpenIM sends both when one of two connections closes and when a connection opens and
   * closes within one flush; the live view decides which.
   */
  pendingOffline: { dueAt: number; receivedAt: number; seq: number; receiptID: number; ambiguous?: boolean } | null;
  /** The last correction of this key, until a webhook for it arrives (late-webhook detection). */
  correction: { to: boolean; at: number; occurredBefore: number; mismatchID: number } | null;
}

export function keyOf(userID: string, platformID: number): string {
  return `${platformID}:${userID}`;
}
