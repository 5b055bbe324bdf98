/**
 * The store: everything durable, as role interfaces (event log, presence state, receipts, mismatches, reports, poll
 * journal, tracked users, subscriber cursors, incidents, retention). Each consumer takes only the roles it uses;
 * `Store` is all of them, what a backend implements. Each role has its contract suite (test/store/contract/) that
 * every backend must pass. Methods are synchronous: the embedded backend is SQLite (better-sqlite3), whose calls block
 * briefly and are kept indexed and paged. Writes happen inside `transaction()` so that a receipt, the state change,
 * the event and the mismatch update commit together (the event log is its own outbox). Who may write which role is in
 * docs/architecture.md (writers).
 */
import type { EventSource, EventType, KeyState, Mismatch, MismatchKind, MismatchStatus, NewMismatch, NewPresenceEvent, PresenceEvent } from '../domain.js';
import type { Incident, IncidentFilter, IncidentKindCount, IncidentStatus, NewIncident } from '../incidents/incident.js';

export interface NewReceipt {
  receivedAt: number;
  command: string;
  userID: string;
  platformID: number;
  seq: number;
  operationID: string;
  /** Identifies a replay of the very same webhook (command, user, platform, seq, operationID). */
  dedupeKey: string;
  /** The raw body exactly as received. */
  body: string;
  remoteAddress: string;
}

export interface Receipt extends Omit<NewReceipt, 'remoteAddress'> {
  id: number;
  /** What the reconciler did with it: online, held, heartbeat, cancelled, late, stale, offline. */
  effect: string;
}

export interface EventFilter {
  users?: readonly string[];
  types?: readonly EventType[];
}

export interface MismatchFilter {
  kinds?: readonly MismatchKind[];
  statuses?: readonly MismatchStatus[];
  userID?: string;
  platformID?: number;
  since?: number;
  until?: number;
  /** Page: mismatches with id < beforeID (newest first). */
  beforeID?: number;
  /** Only the mismatches of this incident; null: only those in no incident. */
  incidentID?: number | null;
  limit: number;
}

export interface PollRun {
  id: number;
  kind: 'cycle' | 'confirm' | 'discovery';
  startedAt: number;
  endedAt: number | null;
  usersPolled: number;
  requests: number;
  errors: number;
  disagreements: number;
  confirmations: number;
  corrections: number;
  overBudget: boolean;
  note: string;
}

/** Poll runs of one kind added up over a period. */
export interface PollRunSummary {
  kind: PollRun['kind'];
  runs: number;
  /** Runs that recorded at least one error. */
  runsWithErrors: number;
  errors: number;
  usersPolled: number;
  requests: number;
  disagreements: number;
  confirmations: number;
  corrections: number;
  overBudget: number;
  /** Start of the latest run, or null. */
  lastStartedAt: number | null;
}

export interface PollObservation {
  userID: string;
  at: number;
  runID: number;
  /** platformID → connections, or null when the poll failed for this user. */
  platforms: Record<string, number> | null;
  purpose: 'disagreement' | 'confirm' | 'agree';
}

export interface PresenceRow {
  userID: string;
  platformID: number;
  online: boolean;
  changedAt: number;
  lastVerifiedAt: number | null;
  pendingOffline: boolean;
}

export interface SubscriberCursor {
  name: string;
  cursor: number;
  state: 'active' | 'retrying' | 'dead';
  attempts: number;
  nextAttemptAt: number | null;
  lastError: string;
  updatedAt: number;
}

export interface PruneStepResult extends PruneResult {
  /** Rows older than the horizon are left: call again. */
  more: boolean;
}

export interface PruneResult {
  receipts: number;
  events: number;
  mismatches: number;
  pollRuns: number;
  observations: number;
}

/** Transactions and durability: what every writer needs. */
export interface Transactions {
  /** Runs `fn` in one transaction. A commit is on disk only once `whenDurable` says so. */
  transaction<T>(fn: () => T): T;
  /**
   * Runs `ok` once everything committed so far is on disk (synchronously when it already is), `fail` with
   * OPR_ERR_STORE_SYNC when it cannot be. Callbacks run in the order they were registered.
   */
  whenDurable(ok: () => void, fail: (e: Error) => void): void;
  /** `whenDurable` as a promise. */
  durable(): Promise<void>;
  /** The head of the event log including commits not yet on disk (for a snapshot taken with its state). */
  committedSeq(): number;
}

/** Every webhook as received, with what was done with it. Written by the engine only. */
export interface ReceiptLog {
  /** Inserts a receipt; returns its id, or null when a receipt with the same dedupe key exists (a replay). */
  insertReceipt(r: NewReceipt): number | null;
  setReceiptEffect(id: number, effect: string): void;
  receiptsForUser(userID: string, since: number, limit: number): Receipt[];
  countReceipts(): number;
}

/** Per-key and per-user presence state. Written by the engine only. */
export interface PresenceStateStore {
  upsertKey(state: KeyState): void;
  loadKeys(): KeyState[];
  /**
   * Sets a user's version counter and user-level state; `at` is when the user was first seen, kept if it is tracked
   * already (written here, not read from a clock, so a replica replaying the write stores the same row).
   */
  setUserVersion(userID: string, version: number, online: boolean, at: number): void;
  loadUserVersions(): Map<string, number>;
  /** Presence rows ordered by (userID, platformID), after the given position. */
  presencePage(after: { userID: string; platformID: number } | null, limit: number, onlineOnly: boolean): PresenceRow[];
  presenceOfUser(userID: string): PresenceRow[];
  /** The user-level state and version counter of one user, or undefined for a user never seen. */
  userPresence(userID: string): { online: boolean; version: number } | undefined;
  /**
   * When the daemon first started on this store (epoch ms), recorded on the first call: `now` when the store holds
   * no event and no presence yet, 0 (long ago) for a store that already had data. Answers the recorded value after.
   */
  firstStartedAt(now: number): number;
  /** What `firstStartedAt(now)` answers, without recording anything (a replica that does not write). */
  peekFirstStartedAt(now: number): number;
}

/** The ordered, durable event log. Appended to by the engine only. */
export interface EventLog {
  appendEvent(e: NewPresenceEvent): number;
  /** Events after `afterSeq`, up to the durable head: an event is never shown before it is on disk. */
  readEvents(afterSeq: number, limit: number): PresenceEvent[];
  /**
   * Events after `afterSeq` matching the filter, up to the durable head, scanning a bounded number of rows;
   * `scannedTo` is the last seq examined, so a caller resumes from there even when nothing matched.
   */
  scanEvents(afterSeq: number, limit: number, filter: EventFilter): { events: PresenceEvent[]; scannedTo: number };
  /** Events of one user in a time range (timeline). */
  eventsForUser(userID: string, since: number, limit: number): PresenceEvent[];
  /** Events recorded in [since, until), oldest first, for "who was online at" and charts. */
  eventsBetween(since: number, until: number, limit: number): PresenceEvent[];
  /** The last seq on disk: the head every subscriber sees (see `committedSeq`). */
  headSeq(): number;
  /** The highest seq removed by retention (0 if none): a cursor below it cannot be resumed. */
  prunedThroughSeq(): number;
  /** The oldest retained event, or undefined when the log is empty. */
  oldestEvent(): PresenceEvent | undefined;
  /** The seq of the last event recorded at or before a time (by recordedAt, then seq), or null when none is retained. */
  lastSeqRecordedBy(time: number): number | null;
  /** The last retained event of one key with seq <= `seq` ("how the state at that point was known"). */
  lastKeyEventAtOrBefore(userID: string, platformID: number, seq: number): PresenceEvent | undefined;
  /** The first event of one key with seq > `seq` (its type tells the state before it). */
  firstKeyEventAfter(userID: string, platformID: number, seq: number): PresenceEvent | undefined;
}

/** Mismatch reports. Written by the engine only (detection, corrections, review). */
export interface MismatchStore {
  insertMismatch(m: NewMismatch): number;
  updateMismatch(id: number, patch: Partial<Omit<Mismatch, 'id'>>): void;
  getMismatch(id: number): Mismatch | undefined;
  listMismatches(filter: MismatchFilter): Mismatch[];
  /** Mismatches of one user detected since a time, oldest first (timeline). */
  mismatchesForUser(userID: string, since: number, limit: number): Mismatch[];
  /** Mismatches with a status detected since a time. */
  countMismatches(status: MismatchStatus, since: number): number;
}

/** Read-only aggregates for health, the report and the charts. */
export interface ReportQueries {
  /** Counts by kind and platform since a time. */
  mismatchCounts(since: number): { kind: MismatchKind; platformID: number | null; count: number }[];
  /**
   * Events since a time, counted by type, source and platform (webhook health); `initial_sync` corrections left out.
   * Webhook events count by the webhook's time (`occurredAt`, never later than its receipt), corrections by
   * `recordedAt`: every webhook transition counted has its receipt in `receiptCounts` of the same `since`.
   */
  eventCounts(since: number): { type: EventType; source: 'webhook' | 'poll'; platformID: number; count: number }[];
  /** Receipts since a time, counted by command and platform. */
  receiptCounts(since: number): { command: string; platformID: number; count: number }[];
  /** Late-webhook delays of mismatches that became late since a time. */
  lateDelays(since: number): { platformID: number | null; lateByMs: number }[];
  /** Users with the most mismatches detected since a time, most first (ties by userID). */
  topMismatchUsers(since: number, limit: number): { userID: string; count: number }[];
  /** Poll runs started since a time, summed per kind (reports). */
  pollRunSummary(since: number): PollRunSummary[];
  // charts: counts per time bucket; `bucket` is the bucket's index, (time - since) / bucketMs rounded down
  /** Events recorded in [since, until), counted per bucket and source. */
  eventBuckets(since: number, until: number, bucketMs: number): { bucket: number; source: EventSource; count: number }[];
  /** Receipts received in [since, until), counted per bucket. */
  receiptBuckets(since: number, until: number, bucketMs: number): { bucket: number; count: number }[];
  /** Mismatches detected in [since, until), counted per bucket and kind. */
  mismatchBuckets(since: number, until: number, bucketMs: number): { bucket: number; kind: MismatchKind; count: number }[];
}

/** Poll runs and what each poll saw. Written by the poller only (its own journal). */
export interface PollJournal {
  insertPollRun(run: Omit<PollRun, 'id'>): number;
  updatePollRun(id: number, patch: Partial<Omit<PollRun, 'id'>>): void;
  recentPollRuns(limit: number, kind?: PollRun['kind']): PollRun[];
  insertPollObservation(o: PollObservation): void;
  observationsForUser(userID: string, since: number, limit: number): PollObservation[];
}

/** The users the poller rotates through (configured, discovered, or first seen in a webhook). */
export interface TrackedUsers {
  trackUsers(userIDs: readonly string[], source: 'config' | 'webhook' | 'discovery', now: number): number;
  /** Tracked users after the given userID in userID order (rotation for the poller). */
  trackedUsersAfter(afterUserID: string, limit: number): string[];
  countTrackedUsers(): number;
  /** How many of these userIDs are tracked (e.g. poll.excludeUsers that discovery found: tracked, never polled). */
  countTrackedAmong(userIDs: readonly string[]): number;
}

/** Push delivery cursors. Written by the push dispatcher only. */
export interface SubscriberCursors {
  getSubscriberCursor(name: string): SubscriberCursor | undefined;
  putSubscriberCursor(c: SubscriberCursor): void;
  listSubscriberCursors(): SubscriberCursor[];
}

/** Incidents (src/incidents): mismatches grouped by kind, cause and time. Written by the incident service only. */
export interface IncidentStore {
  insertIncident(i: NewIncident): number;
  updateIncident(id: number, patch: Partial<Omit<Incident, 'id'>>): void;
  getIncident(id: number): Incident | undefined;
  /** Newest first. */
  listIncidents(filter: IncidentFilter): Incident[];
  /** Incidents counted by status (all retained). */
  incidentStatusCounts(): { status: IncidentStatus; count: number }[];
  /**
   * Assigns mismatches (not yet in an incident) to one: adds them to its count and moves its `lastAt` to the latest
   * of their detection times. Returns how many were assigned.
   */
  assignMismatches(incidentID: number, mismatchIDs: readonly number[], at: number): number;
  /** The mismatches of the given incidents counted by kind, with distinct users. */
  incidentKindCounts(incidentIDs: readonly number[]): IncidentKindCount[];
  /**
   * The keys (user, platform) an incident's corrections changed, each with its latest detection time: a poll that
   * verified the key after that time agreed with the correction (the engine knows when keys were verified).
   */
  incidentKeys(incidentID: number): { userID: string; platformID: number; detectedAt: number }[];
  /** Sets the status of an incident's mismatches that have one of `from`; returns how many changed. */
  setIncidentMismatchStatus(incidentID: number, from: readonly MismatchStatus[], to: MismatchStatus, note: string, at: number): number;
  /**
   * Retention of what operators never reviewed: resolves open and acknowledged mismatches detected before
   * `detectedBefore` (noting why) and closes open or acknowledged incidents whose latest mismatch is older, as expired.
   */
  expireUnreviewed(detectedBefore: number, at: number, note: string): { mismatches: number; incidents: number };
  /** Deletes closed incidents closed before a time; returns how many. */
  pruneIncidents(closedBefore: number): number;
}

/** Retention of the log and the journals. Run by the retention service only. */
export interface Retention {
  /** Deletes everything retention removes that is older than `olderThan`, in one call. */
  prune(olderThan: number): PruneResult;
  /**
   * One short step of `prune`: at most `maxRows` rows of each table, oldest first, in one transaction. `more` says
   * whether rows older than `olderThan` are left.
   */
  pruneStep(olderThan: number, maxRows: number): PruneStepResult;
}

/** Every role: what a backend implements and the composition root opens. */
export interface Store
  extends Transactions,
    ReceiptLog,
    PresenceStateStore,
    EventLog,
    MismatchStore,
    ReportQueries,
    PollJournal,
    TrackedUsers,
    SubscriberCursors,
    IncidentStore,
    Retention {
  /** Path of the backing file, if any (for health and the doctor). */
  readonly location: string;
  close(): void;
}
