/**
 * Presence snapshots for subscribers:
 * - `GET /v1/presence?after=&limit=&online=true` → `{ seq, items, next }`: every key's published state and the
 *   stream position `seq` it corresponds to. Each page is read synchronously in one tick (the engine commits
 *   synchronously on the same thread), so a page and its `seq` are consistent. Pages are walked with `next` (null
 *   on the last page). Applying the stream's events after the FIRST page's `seq` (each event sets its key to its
 *   type) to the union of the pages gives the current state: a key read on a later page either did not change since
 *   that seq or has events after it, and the last of those decides.
 * - `GET /v1/presence/:userID` → that user's platforms, `userOnline`, `userVersion` and `seq`.
 * - `GET /v1/presence?at=<ISO time | epoch ms | duration back>` → each key's state at that moment, from the event
 *   log: the key's last event at or before that position (`setBy`, how we knew), or, when retention removed it, the
 *   state implied by the key's next event or its current state. Before the retention horizon → 410.
 */
import type { FastifyInstance } from 'fastify';
import type { PresenceEventJson } from '../domain.js';
import { eventToJson } from '../domain.js';
import { ApiError } from '../errors.js';
import { platformName } from '../openim/platforms.js';
import type { PresenceRow } from '../store/store.js';
import type { ApiContext, ApiStore } from './api-context.js';
import { intParam } from './http-errors.js';
import { timeParam, userParam } from './ops-params.js';

const DEFAULT_PAGE = 1000;

export interface PresenceItem {
  userID: string;
  platformID: number;
  platform: string;
  online: boolean;
  /** When the published state last changed (ISO). */
  changedAt: string;
  /** The last poll that agreed with the published state (ISO), or null. */
  lastVerifiedAt: string | null;
  /** An offline webhook is being held (settle window); the stream still says online. */
  pendingOffline: boolean;
}

export interface PresencePage {
  /** The stream position this page corresponds to: resume the stream after the first page's seq. */
  seq: number;
  items: PresenceItem[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

export interface UserPresence {
  userID: string;
  seq: number;
  userOnline: boolean;
  /** Per-user event counter (the `userVersion` of the user's last event); 0 for a user without events. */
  userVersion: number;
  platforms: Omit<PresenceItem, 'userID'>[];
}

/** How the state of a key at a past moment is known. */
export type KnownFrom = 'event' | 'before-retention' | 'no-event';

export interface PresenceAtItem {
  userID: string;
  platformID: number;
  platform: string;
  online: boolean;
  /**
   * `event`: `setBy` is the key's last event at or before the moment; `before-retention`: that event was removed by
   * retention, and the state follows from the key's next event (`nextSeq`) or, with none, its current state;
   * `no-event`: the key had no event by then (never online).
   */
  knownFrom: KnownFrom;
  setBy?: PresenceEventJson;
  nextSeq?: number;
}

export interface PresenceAtPage {
  at: string;
  /** The last event recorded at or before `at`: the state is the stream replayed through this seq. */
  seq: number;
  items: PresenceAtItem[];
  next: string | null;
}

const iso = (t: number): string => new Date(t).toISOString();

function bad(message: string): ApiError {
  return new ApiError('OPR_ERR_BAD_REQUEST', 400, message);
}

export function encodeKeyCursor(row: { userID: string; platformID: number }): string {
  return Buffer.from(JSON.stringify([row.userID, row.platformID]), 'utf8').toString('base64url');
}

export function decodeKeyCursor(value: unknown): { userID: string; platformID: number } | null {
  if (value === undefined || value === '') return null;
  if (typeof value === 'string' && value.length <= 1400 && /^[A-Za-z0-9_-]+$/.test(value)) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
      if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && Number.isSafeInteger(parsed[1])) {
        return { userID: parsed[0], platformID: parsed[1] as number };
      }
    } catch {
      // reported below
    }
  }
  throw bad('after must be the `next` value of a previous /v1/presence page');
}

function boolParam(value: unknown, name: string): boolean {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw bad(`${name} must be true or false, got ${JSON.stringify(value).slice(0, 40)}`);
}

/** A presence row as the API answers it (snapshots, a user's presence, the timeline). */
export function presenceItem(r: PresenceRow): PresenceItem {
  return {
    userID: r.userID,
    platformID: r.platformID,
    platform: platformName(r.platformID),
    online: r.online,
    changedAt: iso(r.changedAt),
    lastVerifiedAt: r.lastVerifiedAt === null ? null : iso(r.lastVerifiedAt),
    pendingOffline: r.pendingOffline,
  };
}

/**
 * One snapshot page; synchronous, so the rows and `seq` belong to the same moment (`seq` includes commits not yet on
 * disk: the route answers only once they are).
 */
export function presencePage(store: ApiStore, after: { userID: string; platformID: number } | null, limit: number, onlineOnly: boolean): PresencePage {
  const rows = store.presencePage(after, limit + 1, onlineOnly);
  const seq = store.committedSeq();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { seq, items: page.map(presenceItem), next: rows.length > limit && last ? encodeKeyCursor(last) : null };
}

export function userPresence(store: ApiStore, userID: string): UserPresence {
  const rows = store.presenceOfUser(userID);
  const user = store.userPresence(userID);
  const seq = store.committedSeq();
  return {
    userID,
    seq,
    userOnline: user?.online ?? rows.some((r) => r.online),
    userVersion: user?.version ?? 0,
    platforms: rows.map((r) => {
      const { userID: _u, ...rest } = presenceItem(r);
      return rest;
    }),
  };
}

/** The stream position at a time: the last event recorded by then. Throws 410 when retention hides it. */
export function seqAt(store: ApiStore, at: number, now: number, retentionMs: number): number {
  const pruned = store.prunedThroughSeq();
  const seq = store.lastSeqRecordedBy(at);
  if (seq !== null) return seq;
  if (pruned === 0) return 0;
  const oldest = store.oldestEvent();
  // Nothing retained at or before `at`. With an empty log, every pruned event is older than the retention window.
  if (oldest === undefined && at >= now - retentionMs) return pruned;
  throw new ApiError(
    'OPR_ERR_CURSOR_EXPIRED',
    410,
    `at ${iso(at)} is before the retention horizon: ${
      oldest ? `the oldest event kept is #${oldest.seq}, recorded ${iso(oldest.recordedAt)}` : 'no event is kept from that time'
    }; ask about a later moment or take the current snapshot with GET /v1/presence`,
    { oldestSeq: oldest?.seq ?? pruned + 1, ...(oldest ? { oldestAt: iso(oldest.recordedAt) } : {}), snapshot: '/v1/presence' },
  );
}

/** Each key of one page with its state at stream position `seq`. */
export function presenceAtPage(
  store: ApiStore,
  at: number,
  seq: number,
  after: { userID: string; platformID: number } | null,
  limit: number,
  onlineOnly: boolean,
): PresenceAtPage {
  const pruned = store.prunedThroughSeq();
  const rows = store.presencePage(after, limit + 1, false);
  const page = rows.slice(0, limit);
  const items: PresenceAtItem[] = [];
  for (const r of page) {
    const base = { userID: r.userID, platformID: r.platformID, platform: platformName(r.platformID) };
    let item: PresenceAtItem;
    const setBy = store.lastKeyEventAtOrBefore(r.userID, r.platformID, seq);
    if (setBy) {
      item = { ...base, online: setBy.type === 'presence.online', knownFrom: 'event', setBy: eventToJson(setBy) };
    } else {
      const next = seq >= pruned ? store.firstKeyEventAfter(r.userID, r.platformID, seq) : undefined;
      if (pruned === 0) item = { ...base, online: false, knownFrom: 'no-event', ...(next ? { nextSeq: next.seq } : {}) };
      else if (next) item = { ...base, online: next.type === 'presence.offline', knownFrom: 'before-retention', nextSeq: next.seq };
      else item = { ...base, online: r.online, knownFrom: 'before-retention' };
    }
    if (!onlineOnly || item.online) items.push(item);
  }
  const last = page[page.length - 1];
  return { at: iso(at), seq, items, next: rows.length > limit && last ? encodeKeyCursor(last) : null };
}

export function registerPresenceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;
  const maxPage = ctx.config.api.maxPageSize;
  const retentionMs = ctx.config.store.retentionDays * 86_400_000;

  // Each answer is read in one synchronous step and sent once everything it reflects is on disk.
  app.get('/v1/presence', async (req): Promise<PresencePage | PresenceAtPage> => {
    const q = req.query as Record<string, unknown>;
    const after = decodeKeyCursor(q.after);
    const limit = intParam(q.limit, 'limit', Math.min(DEFAULT_PAGE, maxPage), 1, maxPage);
    const onlineOnly = boolParam(q.online, 'online');
    const now = ctx.now();
    const at = timeParam(q.at, 'at', now, undefined);
    if (at !== undefined && at > now + 1000) throw bad(`at must not be in the future, got ${iso(at)} (now ${iso(now)})`);
    const page = at === undefined ? presencePage(store, after, limit, onlineOnly) : presenceAtPage(store, at, seqAt(store, at, now, retentionMs), after, limit, onlineOnly);
    await store.durable();
    return page;
  });

  app.get<{ Params: { userID: string } }>('/v1/presence/:userID', async (req): Promise<UserPresence> => {
    const user = userPresence(store, userParam(req.params.userID, 'userID'));
    await store.durable();
    return user;
  });
}
