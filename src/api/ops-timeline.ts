/**
 * One user's history on one time axis (`GET /v1/users/:userID/timeline`): webhook receipts, poll observations,
 * stream events and mismatches, merged oldest first.
 */
import type { Mismatch, PresenceEvent } from '../domain.js';
import { eventToJson } from '../domain.js';
import { platformName } from '../openim/platforms.js';
import type { PollObservation, PresenceRow, Receipt } from '../store/store.js';
import type { ApiStore } from './api-context.js';
import { mismatchToJson } from './mismatch-json.js';
import type { PresenceItem } from './presence-routes.js';
import { presenceItem } from './presence-routes.js';

export const TIMELINE_KINDS = ['webhook', 'poll', 'mismatch', 'event'] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

export interface TimelineItem {
  at: string;
  kind: TimelineKind;
  summary: string;
  details: Record<string, unknown>;
}

export interface Timeline {
  userID: string;
  since: string;
  /** The user's current published presence per platform. */
  presence: Omit<PresenceItem, 'userID'>[];
  items: TimelineItem[];
  /**
   * True when a source had more than `limit` entries: the items are complete only up to `completeUntil`; ask again
   * with `since` set to it for the rest.
   */
  truncated: boolean;
  completeUntil: string | null;
}

const iso = (t: number): string => new Date(t).toISOString();

const COMMAND_WORD: Record<string, string> = {
  callbackAfterUserOnlineCommand: 'online',
  callbackAfterUserOfflineCommand: 'offline',
  callbackAfterUserKickOffCommand: 'kick-off',
};

const EFFECT_TEXT: Record<string, string> = {
  online: 'the key went online',
  heartbeat: 'no change (duplicate or renewal)',
  held: 'held for the settle window',
  offline: 'held offline took effect',
  cancelled: 'cancelled against the opposite webhook: no change',
  late: 'confirmed a correction already made (late webhook)',
  stale: 'older than a correction: ignored',
  '': 'pending',
};

function platformLabel(platformID: number | null, platform?: string): string {
  if (platformID === null) return 'all platforms';
  const name = platform !== undefined && platform !== '' ? platform : platformName(platformID);
  return name === '' ? `platform ${platformID}` : name;
}

function receiptItem(r: Receipt): { t: number; order: number; id: number; item: TimelineItem } {
  const word = COMMAND_WORD[r.command] ?? r.command;
  return {
    t: r.receivedAt,
    order: 0,
    id: r.id,
    item: {
      at: iso(r.receivedAt),
      kind: 'webhook',
      summary: `${word} webhook for ${platformLabel(r.platformID)}: ${EFFECT_TEXT[r.effect] ?? r.effect}`,
      details: {
        receiptID: r.id,
        command: r.command,
        platformID: r.platformID,
        platform: platformName(r.platformID),
        seq: r.seq,
        operationID: r.operationID,
        effect: r.effect,
      },
    },
  };
}

function observationItem(o: PollObservation, index: number): { t: number; order: number; id: number; item: TimelineItem } {
  const purpose = o.purpose === 'confirm' ? 'confirm poll' : 'poll';
  let reading: string;
  if (o.platforms === null) reading = 'failed for this user (no decision)';
  else {
    const parts = Object.entries(o.platforms)
      .map(([id, n]) => `${platformLabel(Number(id))}${n > 1 ? ` ×${n}` : ''}`)
      .sort();
    reading = parts.length === 0 ? 'offline' : `online on ${parts.join(', ')}`;
  }
  const agreement = o.purpose === 'disagreement' ? ' (disagrees with the stream)' : o.purpose === 'agree' ? ' (agrees)' : '';
  return {
    t: o.at,
    order: 1,
    id: index,
    item: {
      at: iso(o.at),
      kind: 'poll',
      summary: `${purpose} read ${reading}${agreement}`,
      details: { runID: o.runID, purpose: o.purpose, platforms: o.platforms },
    },
  };
}

function mismatchItem(m: Mismatch): { t: number; order: number; id: number; item: TimelineItem } {
  const late = m.lateByMs !== null ? `, webhook ${Math.round(m.lateByMs / 1000)} s late` : '';
  return {
    t: m.detectedAt,
    order: 2,
    id: m.id,
    item: {
      at: iso(m.detectedAt),
      kind: 'mismatch',
      summary: `mismatch #${m.id} ${m.kind} on ${platformLabel(m.platformID, m.platform)} (${m.status}${late}${m.shadow ? ', shadow' : ''})`,
      details: mismatchToJson(m) as unknown as Record<string, unknown>,
    },
  };
}

function eventItem(e: PresenceEvent): { t: number; order: number; id: number; item: TimelineItem } {
  const how = e.source === 'poll' ? `correction${e.mismatchID !== null ? ` for mismatch #${e.mismatchID}` : ''}` : 'from webhook';
  return {
    t: e.recordedAt,
    order: 3,
    id: e.seq,
    item: {
      at: iso(e.recordedAt),
      kind: 'event',
      summary: `#${e.seq} ${e.type} ${platformLabel(e.platformID, e.platform)} ${how}; user ${e.userOnline ? 'online' : 'offline'}`,
      details: eventToJson(e) as unknown as Record<string, unknown>,
    },
  };
}

function presenceJson(r: PresenceRow): Omit<PresenceItem, 'userID'> {
  const { userID: _userID, ...rest } = presenceItem(r);
  return rest;
}

/** Reads every source from `since` (up to `limit` entries each) and merges them oldest first. */
export function buildTimeline(store: ApiStore, userID: string, since: number, limit: number): Timeline {
  const receipts = store.receiptsForUser(userID, since, limit);
  const observations = store.observationsForUser(userID, since, limit);
  const mismatches = store.mismatchesForUser(userID, since, limit);
  const events = store.eventsForUser(userID, since, limit);

  // A full source may have more entries after its last one: the merge is complete only up to the earliest such end.
  let cutoff = Infinity;
  const noteFull = (length: number, lastAt: number | undefined): void => {
    if (length >= limit && lastAt !== undefined) cutoff = Math.min(cutoff, lastAt);
  };
  noteFull(receipts.length, receipts.at(-1)?.receivedAt);
  noteFull(observations.length, observations.at(-1)?.at);
  noteFull(mismatches.length, mismatches.at(-1)?.detectedAt);
  noteFull(events.length, events.reduce<number | undefined>((m, e) => (m === undefined || e.recordedAt > m ? e.recordedAt : m), undefined));

  const all = [
    ...receipts.map(receiptItem),
    ...observations.map(observationItem),
    ...mismatches.map(mismatchItem),
    ...events.map(eventItem),
  ]
    .filter((x) => x.t <= cutoff)
    .sort((a, b) => a.t - b.t || a.order - b.order || a.id - b.id);

  return {
    userID,
    since: iso(since),
    presence: store.presenceOfUser(userID).map(presenceJson),
    items: all.map((x) => x.item),
    truncated: cutoff !== Infinity,
    completeUntil: cutoff === Infinity ? null : iso(cutoff),
  };
}
