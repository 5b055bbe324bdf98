import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EventSource, EventType, KeyState, Mismatch, MismatchKind, MismatchStatus, NewMismatch, NewPresenceEvent, PresenceEvent } from '../domain.js';
import { OprError } from '../errors.js';
import type { Incident, IncidentCause, IncidentFilter, IncidentKindCount, IncidentStatus, NewIncident } from '../incidents/incident.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { WalSync } from './wal-sync.js';
import { MIGRATIONS } from './migrations.js';
import type {
  EventFilter,
  MismatchFilter,
  NewReceipt,
  PollObservation,
  PollRun,
  PollRunSummary,
  PresenceRow,
  PruneResult,
  Receipt,
  Store,
  SubscriberCursor,
} from './store.js';

export interface SqliteStoreOptions {
  /** File path, or ':memory:' for tests. */
  path: string;
  /** Told once when an fsync fails (OPR_ERR_STORE_SYNC): from then on nothing more becomes durable. */
  onSyncFailure?: (err: OprError) => void;
  /** Told when WAL checkpoints fall back from their worker thread to the event loop (see wal-checkpointer.ts). */
  onCheckpointFailure?: (err: Error) => void;
}

type Row = Record<string, unknown>;

const num = (v: unknown): number => v as number;
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : (v as number));
const str = (v: unknown): string => v as string;

function rowToEvent(r: Row): PresenceEvent {
  return {
    seq: num(r.seq),
    type: str(r.type) as EventType,
    userID: str(r.user_id),
    platformID: num(r.platform_id),
    platform: str(r.platform),
    userOnline: r.user_online === 1,
    userVersion: num(r.user_version),
    source: str(r.source) as PresenceEvent['source'],
    occurredAt: numOrNull(r.occurred_at),
    occurredAfter: numOrNull(r.occurred_after),
    occurredBefore: numOrNull(r.occurred_before),
    recordedAt: num(r.recorded_at),
    mismatchID: numOrNull(r.mismatch_id),
  };
}

function rowToMismatch(r: Row): Mismatch {
  return {
    id: num(r.id),
    kind: str(r.kind) as MismatchKind,
    userID: str(r.user_id),
    platformID: numOrNull(r.platform_id),
    platform: str(r.platform),
    detectedAt: num(r.detected_at),
    occurredAfter: numOrNull(r.occurred_after),
    occurredBefore: numOrNull(r.occurred_before),
    eventSeq: numOrNull(r.event_seq),
    lateByMs: numOrNull(r.late_by_ms),
    lateAt: numOrNull(r.late_at),
    status: str(r.status) as Mismatch['status'],
    shadow: r.shadow === 1,
    evidence: JSON.parse(str(r.evidence)) as Mismatch['evidence'],
    note: str(r.note),
    updatedAt: num(r.updated_at),
  };
}

function rowToKey(r: Row): KeyState {
  return {
    userID: str(r.user_id),
    platformID: num(r.platform_id),
    online: r.online === 1,
    changedAt: num(r.changed_at),
    lastWebhookAt: numOrNull(r.last_webhook_at),
    lastOnlineWebhookAt: numOrNull(r.last_online_webhook_at),
    lastOnlineSeq: numOrNull(r.last_online_seq),
    lastVerifiedAt: numOrNull(r.last_verified_at),
    pendingOffline: r.pending_offline === null ? null : (JSON.parse(str(r.pending_offline)) as KeyState['pendingOffline']),
    correction: r.correction === null ? null : (JSON.parse(str(r.correction)) as KeyState['correction']),
  };
}

function rowToPollRun(r: Row): PollRun {
  return {
    id: num(r.id),
    kind: str(r.kind) as PollRun['kind'],
    startedAt: num(r.started_at),
    endedAt: numOrNull(r.ended_at),
    usersPolled: num(r.users_polled),
    requests: num(r.requests),
    errors: num(r.errors),
    disagreements: num(r.disagreements),
    confirmations: num(r.confirmations),
    corrections: num(r.corrections),
    overBudget: r.over_budget === 1,
    note: str(r.note),
  };
}

const MISMATCH_COLUMNS: Record<keyof Omit<Mismatch, 'id'>, string> = {
  kind: 'kind',
  userID: 'user_id',
  platformID: 'platform_id',
  platform: 'platform',
  detectedAt: 'detected_at',
  occurredAfter: 'occurred_after',
  occurredBefore: 'occurred_before',
  eventSeq: 'event_seq',
  lateByMs: 'late_by_ms',
  lateAt: 'late_at',
  status: 'status',
  shadow: 'shadow',
  evidence: 'evidence',
  note: 'note',
  updatedAt: 'updated_at',
};

function rowToIncident(r: Row): Incident {
  return {
    id: num(r.id),
    cause: str(r.cause) as IncidentCause,
    kind: str(r.kind) as MismatchKind,
    platformID: numOrNull(r.platform_id),
    platform: str(r.platform),
    firstAt: num(r.first_at),
    lastAt: num(r.last_at),
    mismatches: num(r.mismatches),
    status: str(r.status) as IncidentStatus,
    closedReason: r.closed_reason === null ? null : (str(r.closed_reason) as Incident['closedReason']),
    closedAt: numOrNull(r.closed_at),
    acknowledgedAt: numOrNull(r.acknowledged_at),
    note: str(r.note),
    updatedAt: num(r.updated_at),
  };
}

const INCIDENT_COLUMNS: Record<keyof Omit<Incident, 'id'>, string> = {
  cause: 'cause',
  kind: 'kind',
  platformID: 'platform_id',
  platform: 'platform',
  firstAt: 'first_at',
  lastAt: 'last_at',
  mismatches: 'mismatches',
  status: 'status',
  closedReason: 'closed_reason',
  closedAt: 'closed_at',
  acknowledgedAt: 'acknowledged_at',
  note: 'note',
  updatedAt: 'updated_at',
};

const POLL_RUN_COLUMNS: Record<keyof Omit<PollRun, 'id'>, string> = {
  kind: 'kind',
  startedAt: 'started_at',
  endedAt: 'ended_at',
  usersPolled: 'users_polled',
  requests: 'requests',
  errors: 'errors',
  disagreements: 'disagreements',
  confirmations: 'confirmations',
  corrections: 'corrections',
  overBudget: 'over_budget',
  note: 'note',
};

function toSql(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (Array.isArray(v)) return JSON.stringify(v);
  return v;
}

/**
 * SQLite backend in WAL mode. Every commit is fsynced before any webhook is acknowledged or any event is shown, so a
 * `seq` once seen is never reissued, even after power loss. The fsync is pipelined (wal-sync.ts): commits use
 * `synchronous=NORMAL` and one background fsync of the WAL at a time covers every commit before it, which gives the
 * guarantee of `synchronous=FULL` without stopping the event loop; readers of the log stop at the durable head.
 * Checkpoints run on a worker thread (wal-checkpointer.ts).
 * `seq` is `INTEGER PRIMARY KEY AUTOINCREMENT`, so retention never makes SQLite hand out an old value again.
 */
export class SqliteStore implements Store {
  readonly location: string;
  private readonly db: Database.Database;
  private closed = false;
  private readonly s;
  private readonly checkpointer: WalCheckpointer | undefined;
  private readonly walSync: WalSync | undefined;
  /** A write happened that no commit has reported to WalSync yet. */
  private unsynced = false;

  constructor(options: SqliteStoreOptions) {
    this.location = options.path;
    try {
      if (options.path !== ':memory:') {
        mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
        closeSync(openSync(options.path, 'a', 0o600));
        chmodSync(options.path, 0o600);
      }
      this.db = new Database(options.path);
    } catch (e) {
      throw new OprError('OPR_ERR_STORE_OPEN', `cannot open database ${options.path}: ${(e as Error).message}`, { path: options.path }, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    // FULL for the migrations; file stores then commit with NORMAL and fsync the WAL off the event loop (WalSync).
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.s = this.prepare();
    if (options.path !== ':memory:') {
      this.checkpointer = new WalCheckpointer(this.db, options.path, { onFailure: options.onCheckpointFailure });
      this.db.pragma('synchronous = NORMAL');
      this.walSync = new WalSync(`${options.path}-wal`, this.committedSeq(), options.onSyncFailure);
    }
  }

  whenDurable(ok: () => void, fail: (e: Error) => void): void {
    if (this.walSync === undefined) {
      ok();
      return;
    }
    this.reportWrites();
    this.walSync.whenDurable(ok, fail);
  }

  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.whenDurable(resolve, reject));
  }

  committedSeq(): number {
    return this.s.headSeq.get() as number;
  }

  /** The last seq a reader may see. */
  private visibleSeq(): number {
    return this.walSync ? this.walSync.durableSeq : this.committedSeq();
  }

  /**
   * After a write (called by `transaction()` and by the writes outside it): a WAL checkpoint becomes due, and an
   * fsync covers it (reported once the synchronous write has returned).
   */
  private wrote(): void {
    this.checkpointer?.noteCommit();
    if (this.walSync === undefined || this.unsynced) return;
    this.unsynced = true;
    queueMicrotask(() => this.reportWrites());
  }

  /** Reports writes made outside `transaction()` to WalSync (inside one, the commit reports them). */
  private reportWrites(): void {
    if (!this.unsynced || this.closed) return;
    this.unsynced = false;
    this.walSync?.committed(this.committedSeq());
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      this.db.close();
      throw new OprError(
        'OPR_ERR_STORE_VERSION',
        `database ${this.location} has schema version ${current}, this daemon knows up to ${MIGRATIONS.length}; upgrade the daemon`,
        { version: current },
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private prepare() {
    const d = this.db;
    return {
      receiptExists: d.prepare('SELECT 1 FROM receipts WHERE dedupe_key = ? LIMIT 1').pluck(),
      insertReceipt: d.prepare(
        'INSERT INTO receipts (received_at, command, user_id, platform_id, seq, operation_id, dedupe_key, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      setReceiptEffect: d.prepare('UPDATE receipts SET effect = ? WHERE id = ?'),
      receiptsForUser: d.prepare('SELECT * FROM receipts WHERE user_id = ? AND received_at >= ? ORDER BY received_at, id LIMIT ?'),
      countReceipts: d.prepare('SELECT count(*) FROM receipts').pluck(),
      upsertKey: d.prepare(
        `INSERT INTO presence (user_id, platform_id, online, changed_at, last_webhook_at, last_online_webhook_at, last_online_seq, last_verified_at, pending_offline, correction)
         VALUES (@userID, @platformID, @online, @changedAt, @lastWebhookAt, @lastOnlineWebhookAt, @lastOnlineSeq, @lastVerifiedAt, @pendingOffline, @correction)
         ON CONFLICT (user_id, platform_id) DO UPDATE SET online = excluded.online, changed_at = excluded.changed_at,
           last_webhook_at = excluded.last_webhook_at, last_online_webhook_at = excluded.last_online_webhook_at, last_online_seq = excluded.last_online_seq,
           last_verified_at = excluded.last_verified_at, pending_offline = excluded.pending_offline, correction = excluded.correction`,
      ),
      loadKeys: d.prepare('SELECT * FROM presence'),
      setUserVersion: d.prepare(
        `INSERT INTO users (user_id, version, online, source, first_seen) VALUES (?, ?, ?, 'webhook', ?)
         ON CONFLICT (user_id) DO UPDATE SET version = excluded.version, online = excluded.online`,
      ),
      loadUserVersions: d.prepare('SELECT user_id, version FROM users WHERE version > 0').raw(),
      presencePageAll: d.prepare(
        'SELECT user_id, platform_id, online, changed_at, last_verified_at, pending_offline FROM presence WHERE (user_id, platform_id) > (?, ?) ORDER BY user_id, platform_id LIMIT ?',
      ),
      presencePageOnline: d.prepare(
        'SELECT user_id, platform_id, online, changed_at, last_verified_at, pending_offline FROM presence WHERE online = 1 AND (user_id, platform_id) > (?, ?) ORDER BY user_id, platform_id LIMIT ?',
      ),
      presenceOfUser: d.prepare(
        'SELECT user_id, platform_id, online, changed_at, last_verified_at, pending_offline FROM presence WHERE user_id = ? ORDER BY platform_id',
      ),
      appendEvent: d.prepare(
        `INSERT INTO events (type, user_id, platform_id, platform, user_online, user_version, source, occurred_at, occurred_after, occurred_before, recorded_at, mismatch_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      readEvents: d.prepare('SELECT * FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
      eventsForUser: d.prepare('SELECT * FROM events WHERE user_id = ? AND recorded_at >= ? ORDER BY seq LIMIT ?'),
      eventsBetween: d.prepare('SELECT * FROM events WHERE recorded_at >= ? AND recorded_at < ? ORDER BY recorded_at, seq LIMIT ?'),
      oldestEvent: d.prepare('SELECT * FROM events ORDER BY seq LIMIT 1'),
      lastSeqRecordedBy: d.prepare('SELECT seq FROM events WHERE recorded_at <= ? ORDER BY recorded_at DESC, seq DESC LIMIT 1').pluck(),
      lastKeyEventAtOrBefore: d.prepare('SELECT * FROM events WHERE user_id = ? AND seq <= ? AND platform_id = ? ORDER BY seq DESC LIMIT 1'),
      firstKeyEventAfter: d.prepare('SELECT * FROM events WHERE user_id = ? AND seq > ? AND platform_id = ? ORDER BY seq LIMIT 1'),
      userPresence: d.prepare('SELECT online, version FROM users WHERE user_id = ?'),
      headSeq: d.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck(),
      getMeta: d.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: d.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      insertMismatch: d.prepare(
        `INSERT INTO mismatches (kind, user_id, platform_id, platform, detected_at, occurred_after, occurred_before, event_seq, late_by_ms, late_at, status, shadow, evidence, note, updated_at)
         VALUES (@kind, @userID, @platformID, @platform, @detectedAt, @occurredAfter, @occurredBefore, @eventSeq, @lateByMs, @lateAt, @status, @shadow, @evidence, @note, @updatedAt)`,
      ),
      getMismatch: d.prepare('SELECT * FROM mismatches WHERE id = ?'),
      mismatchCounts: d.prepare('SELECT kind, platform_id, count(*) AS n FROM mismatches WHERE detected_at >= ? GROUP BY kind, platform_id'),
      // Corrections that learned a user online at first start (initial_sync) say nothing about webhooks: left out.
      // Webhook events count at the webhook's time (occurred_at, never later than its receipt), not when a held
      // offline took effect, so a window never holds a webhook transition whose receipt it does not hold too.
      // occurred_at <= recorded_at, so the recorded_at bound (indexed) keeps every row the second bound accepts.
      eventCounts: d.prepare(
        `SELECT type, source, platform_id, count(*) AS n FROM events e WHERE recorded_at >= @since
         AND (source <> 'webhook' OR coalesce(occurred_at, recorded_at) >= @since)
         AND NOT (source = 'poll' AND EXISTS (SELECT 1 FROM mismatches m WHERE m.id = e.mismatch_id AND m.kind = 'initial_sync'))
         GROUP BY type, source, platform_id`,
      ),
      receiptCounts: d.prepare('SELECT command, platform_id, count(*) AS n FROM receipts WHERE received_at >= ? GROUP BY command, platform_id'),
      lateDelays: d.prepare("SELECT platform_id, late_by_ms FROM mismatches WHERE kind = 'late_webhook' AND late_at >= ? LIMIT 100000"),
      topMismatchUsers: d.prepare(
        'SELECT user_id, count(*) AS n FROM mismatches WHERE detected_at >= ? GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?',
      ),
      mismatchesForUser: d.prepare('SELECT * FROM mismatches WHERE user_id = ? AND detected_at >= ? ORDER BY detected_at, id LIMIT ?'),
      eventBuckets: d.prepare(
        `SELECT CAST((recorded_at - @since) / @bucketMs AS INTEGER) AS b, source, count(*) AS n FROM events
         WHERE recorded_at >= @since AND recorded_at < @until GROUP BY b, source`,
      ),
      receiptBuckets: d.prepare(
        `SELECT CAST((received_at - @since) / @bucketMs AS INTEGER) AS b, count(*) AS n FROM receipts
         WHERE received_at >= @since AND received_at < @until GROUP BY b`,
      ),
      mismatchBuckets: d.prepare(
        `SELECT CAST((detected_at - @since) / @bucketMs AS INTEGER) AS b, kind, count(*) AS n FROM mismatches
         WHERE detected_at >= @since AND detected_at < @until GROUP BY b, kind`,
      ),
      pollRunSummary: d.prepare(
        `SELECT kind, count(*) AS runs, sum(errors > 0) AS runs_with_errors, sum(errors) AS errors, sum(users_polled) AS users_polled,
           sum(requests) AS requests, sum(disagreements) AS disagreements, sum(confirmations) AS confirmations, sum(corrections) AS corrections,
           sum(over_budget) AS over_budget, max(started_at) AS last_started_at
         FROM poll_runs WHERE started_at >= ? GROUP BY kind ORDER BY kind`,
      ),
      insertPollRun: d.prepare(
        `INSERT INTO poll_runs (kind, started_at, ended_at, users_polled, requests, errors, disagreements, confirmations, corrections, over_budget, note)
         VALUES (@kind, @startedAt, @endedAt, @usersPolled, @requests, @errors, @disagreements, @confirmations, @corrections, @overBudget, @note)`,
      ),
      recentPollRuns: d.prepare('SELECT * FROM poll_runs ORDER BY id DESC LIMIT ?'),
      recentPollRunsKind: d.prepare('SELECT * FROM poll_runs WHERE kind = ? ORDER BY id DESC LIMIT ?'),
      insertObservation: d.prepare('INSERT INTO poll_observations (user_id, at, run_id, platforms, purpose) VALUES (?, ?, ?, ?, ?)'),
      observationsForUser: d.prepare('SELECT * FROM poll_observations WHERE user_id = ? AND at >= ? ORDER BY at, id LIMIT ?'),
      trackUser: d.prepare('INSERT INTO users (user_id, source, first_seen) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING'),
      trackedAfter: d.prepare('SELECT user_id FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?').pluck(),
      countTracked: d.prepare('SELECT count(*) FROM users').pluck(),
      countTrackedAmong: d.prepare('SELECT count(*) FROM users WHERE user_id IN (SELECT value FROM json_each(?))').pluck(),
      getSubscriber: d.prepare('SELECT * FROM subscribers WHERE name = ?'),
      putSubscriber: d.prepare(
        `INSERT INTO subscribers (name, cursor, state, attempts, next_attempt_at, last_error, updated_at) VALUES (@name, @cursor, @state, @attempts, @nextAttemptAt, @lastError, @updatedAt)
         ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, state = excluded.state, attempts = excluded.attempts,
           next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error, updated_at = excluded.updated_at`,
      ),
      listSubscribers: d.prepare('SELECT * FROM subscribers ORDER BY name'),
      maxPrunedSeq: d.prepare('SELECT max(seq) FROM events WHERE recorded_at < ?').pluck(),
      pruneEvents: d.prepare('DELETE FROM events WHERE seq <= ?'),
      pruneReceipts: d.prepare('DELETE FROM receipts WHERE received_at < ?'),
      pruneMismatches: d.prepare("DELETE FROM mismatches WHERE detected_at < ? AND status != 'open'"),
      insertIncident: d.prepare(
        `INSERT INTO incidents (cause, kind, platform_id, platform, first_at, last_at, mismatches, status, closed_reason, closed_at, acknowledged_at, note, updated_at)
         VALUES (@cause, @kind, @platformID, @platform, @firstAt, @lastAt, @mismatches, @status, @closedReason, @closedAt, @acknowledgedAt, @note, @updatedAt)`,
      ),
      getIncident: d.prepare('SELECT * FROM incidents WHERE id = ?'),
      incidentStatusCounts: d.prepare('SELECT status, count(*) AS n FROM incidents GROUP BY status'),
      assignMismatch: d.prepare('UPDATE mismatches SET incident_id = ? WHERE id = ? AND incident_id IS NULL'),
      mismatchDetectedAt: d.prepare('SELECT detected_at FROM mismatches WHERE id = ?').pluck(),
      bumpIncident: d.prepare('UPDATE incidents SET mismatches = mismatches + ?, last_at = max(last_at, ?), updated_at = ? WHERE id = ?'),
      incidentKeys: d.prepare(
        `SELECT user_id, platform_id, max(detected_at) AS detected_at FROM mismatches
         WHERE incident_id = ? AND platform_id IS NOT NULL AND kind IN ('missed_online', 'missed_offline', 'late_webhook', 'initial_sync')
         GROUP BY user_id, platform_id`,
      ),
      setIncidentMismatchStatus: d.prepare(
        `UPDATE mismatches SET status = @to, updated_at = @at, note = CASE WHEN note = '' THEN @note ELSE note || '; ' || @note END
         WHERE incident_id = @incidentID AND status IN (SELECT value FROM json_each(@from))`,
      ),
      expireMismatches: d.prepare(
        `UPDATE mismatches SET status = 'resolved', updated_at = @at, note = CASE WHEN note = '' THEN @note ELSE note || '; ' || @note END
         WHERE status IN ('open', 'acknowledged') AND detected_at < @before`,
      ),
      expireIncidents: d.prepare(
        `UPDATE incidents SET status = 'closed', closed_reason = 'expired', closed_at = @at, updated_at = @at
         WHERE status IN ('open', 'acknowledged') AND last_at < @before`,
      ),
      pruneIncidents: d.prepare("DELETE FROM incidents WHERE status = 'closed' AND closed_at < ?"),
      countMismatches: d.prepare('SELECT count(*) FROM mismatches WHERE status = ? AND detected_at >= ?').pluck(),
      prunePollRuns: d.prepare('DELETE FROM poll_runs WHERE started_at < ?'),
      pruneObservations: d.prepare('DELETE FROM poll_observations WHERE at < ?'),
    };
  }

  transaction<T>(fn: () => T): T {
    const result = this.db.transaction(fn)();
    this.checkpointer?.noteCommit();
    this.unsynced = false;
    this.walSync?.committed(this.committedSeq());
    return result;
  }

  insertReceipt(r: NewReceipt): number | null {
    this.wrote();
    if (this.s.receiptExists.get(r.dedupeKey) !== undefined) return null;
    const res = this.s.insertReceipt.run(r.receivedAt, r.command, r.userID, r.platformID, r.seq, r.operationID, r.dedupeKey, r.body);
    return Number(res.lastInsertRowid);
  }

  setReceiptEffect(id: number, effect: string): void {
    this.wrote();
    this.s.setReceiptEffect.run(effect, id);
  }

  receiptsForUser(userID: string, since: number, limit: number): Receipt[] {
    return (this.s.receiptsForUser.all(userID, since, limit) as Row[]).map((r) => ({
      id: num(r.id),
      receivedAt: num(r.received_at),
      command: str(r.command),
      userID: str(r.user_id),
      platformID: num(r.platform_id),
      seq: num(r.seq),
      operationID: str(r.operation_id),
      dedupeKey: str(r.dedupe_key),
      body: str(r.body),
      effect: str(r.effect),
    }));
  }

  countReceipts(): number {
    return this.s.countReceipts.get() as number;
  }

  upsertKey(k: KeyState): void {
    this.wrote();
    this.s.upsertKey.run({
      userID: k.userID,
      platformID: k.platformID,
      online: k.online ? 1 : 0,
      changedAt: k.changedAt,
      lastWebhookAt: k.lastWebhookAt,
      lastOnlineWebhookAt: k.lastOnlineWebhookAt,
      lastOnlineSeq: k.lastOnlineSeq,
      lastVerifiedAt: k.lastVerifiedAt,
      pendingOffline: k.pendingOffline === null ? null : JSON.stringify(k.pendingOffline),
      correction: k.correction === null ? null : JSON.stringify(k.correction),
    });
  }

  loadKeys(): KeyState[] {
    return (this.s.loadKeys.all() as Row[]).map(rowToKey);
  }

  setUserVersion(userID: string, version: number, online: boolean): void {
    this.wrote();
    this.s.setUserVersion.run(userID, version, online ? 1 : 0, Date.now());
  }

  loadUserVersions(): Map<string, number> {
    return new Map(this.s.loadUserVersions.all() as [string, number][]);
  }

  presencePage(after: { userID: string; platformID: number } | null, limit: number, onlineOnly: boolean): PresenceRow[] {
    const stmt = onlineOnly ? this.s.presencePageOnline : this.s.presencePageAll;
    return (stmt.all(after?.userID ?? '', after?.platformID ?? -1, limit) as Row[]).map(toPresenceRow);
  }

  presenceOfUser(userID: string): PresenceRow[] {
    return (this.s.presenceOfUser.all(userID) as Row[]).map(toPresenceRow);
  }

  appendEvent(e: NewPresenceEvent): number {
    this.wrote();
    const res = this.s.appendEvent.run(
      e.type,
      e.userID,
      e.platformID,
      e.platform,
      e.userOnline ? 1 : 0,
      e.userVersion,
      e.source,
      e.occurredAt,
      e.occurredAfter,
      e.occurredBefore,
      e.recordedAt,
      e.mismatchID,
    );
    return Number(res.lastInsertRowid);
  }

  readEvents(afterSeq: number, limit: number): PresenceEvent[] {
    return (this.s.readEvents.all(afterSeq, this.visibleSeq(), limit) as Row[]).map(rowToEvent);
  }

  scanEvents(afterSeq: number, limit: number, filter: EventFilter): { events: PresenceEvent[]; scannedTo: number } {
    const users = filter.users && filter.users.length > 0 ? new Set(filter.users) : undefined;
    const types = filter.types && filter.types.length > 0 ? new Set<string>(filter.types) : undefined;
    if (!users && !types) {
      const events = this.readEvents(afterSeq, limit);
      return { events, scannedTo: events.length > 0 ? events[events.length - 1]!.seq : afterSeq };
    }
    const out: PresenceEvent[] = [];
    const through = this.visibleSeq();
    let cursor = afterSeq;
    const chunk = Math.max(limit, 1000);
    for (let scanned = 0; out.length < limit && scanned < 50_000; ) {
      const rows = this.s.readEvents.all(cursor, through, chunk) as Row[];
      if (rows.length === 0) break;
      for (const r of rows) {
        cursor = num(r.seq);
        if ((users && !users.has(str(r.user_id))) || (types && !types.has(str(r.type)))) continue;
        out.push(rowToEvent(r));
        if (out.length >= limit) break;
      }
      scanned += rows.length;
    }
    return { events: out, scannedTo: cursor };
  }

  eventsForUser(userID: string, since: number, limit: number): PresenceEvent[] {
    return (this.s.eventsForUser.all(userID, since, limit) as Row[]).map(rowToEvent);
  }

  eventsBetween(since: number, until: number, limit: number): PresenceEvent[] {
    return (this.s.eventsBetween.all(since, until, limit) as Row[]).map(rowToEvent);
  }

  headSeq(): number {
    return this.visibleSeq();
  }

  prunedThroughSeq(): number {
    const v = this.s.getMeta.get('pruned_through_seq') as string | undefined;
    return v === undefined ? 0 : Number(v);
  }

  firstStartedAt(now: number): number {
    const v = this.s.getMeta.get('first_started_at') as string | undefined;
    if (v !== undefined) return Number(v);
    const used = this.db.prepare('SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM presence)').pluck().get() === 1;
    const empty = !used && this.prunedThroughSeq() === 0;
    const at = empty ? now : 0;
    this.s.setMeta.run('first_started_at', String(at));
    return at;
  }

  oldestEvent(): PresenceEvent | undefined {
    const r = this.s.oldestEvent.get() as Row | undefined;
    return r ? rowToEvent(r) : undefined;
  }

  lastSeqRecordedBy(time: number): number | null {
    return numOrNull(this.s.lastSeqRecordedBy.get(time));
  }

  lastKeyEventAtOrBefore(userID: string, platformID: number, seq: number): PresenceEvent | undefined {
    const r = this.s.lastKeyEventAtOrBefore.get(userID, seq, platformID) as Row | undefined;
    return r ? rowToEvent(r) : undefined;
  }

  firstKeyEventAfter(userID: string, platformID: number, seq: number): PresenceEvent | undefined {
    const r = this.s.firstKeyEventAfter.get(userID, seq, platformID) as Row | undefined;
    return r ? rowToEvent(r) : undefined;
  }

  userPresence(userID: string): { online: boolean; version: number } | undefined {
    const r = this.s.userPresence.get(userID) as Row | undefined;
    return r ? { online: r.online === 1, version: num(r.version) } : undefined;
  }

  insertMismatch(m: NewMismatch): number {
    this.wrote();
    const res = this.s.insertMismatch.run({
      ...m,
      shadow: m.shadow ? 1 : 0,
      evidence: JSON.stringify(m.evidence),
    });
    return Number(res.lastInsertRowid);
  }

  updateMismatch(id: number, patch: Partial<Omit<Mismatch, 'id'>>): void {
    this.wrote();
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    const sets = entries.map(([k]) => `${MISMATCH_COLUMNS[k as keyof typeof MISMATCH_COLUMNS]} = ?`).join(', ');
    this.db.prepare(`UPDATE mismatches SET ${sets} WHERE id = ?`).run(...entries.map(([, v]) => toSql(v)), id);
  }

  getMismatch(id: number): Mismatch | undefined {
    const r = this.s.getMismatch.get(id) as Row | undefined;
    return r ? rowToMismatch(r) : undefined;
  }

  listMismatches(f: MismatchFilter): Mismatch[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.kinds && f.kinds.length > 0) {
      where.push(`kind IN (${f.kinds.map(() => '?').join(',')})`);
      args.push(...f.kinds);
    }
    if (f.statuses && f.statuses.length > 0) {
      where.push(`status IN (${f.statuses.map(() => '?').join(',')})`);
      args.push(...f.statuses);
    }
    if (f.userID !== undefined) {
      where.push('user_id = ?');
      args.push(f.userID);
    }
    if (f.platformID !== undefined) {
      where.push('platform_id = ?');
      args.push(f.platformID);
    }
    if (f.since !== undefined) {
      where.push('detected_at >= ?');
      args.push(f.since);
    }
    if (f.until !== undefined) {
      where.push('detected_at < ?');
      args.push(f.until);
    }
    if (f.beforeID !== undefined) {
      where.push('id < ?');
      args.push(f.beforeID);
    }
    if (f.incidentID === null) {
      where.push('incident_id IS NULL');
    } else if (f.incidentID !== undefined) {
      where.push('incident_id = ?');
      args.push(f.incidentID);
    }
    const sql = `SELECT * FROM mismatches ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, f.limit) as Row[]).map(rowToMismatch);
  }

  mismatchCounts(since: number): { kind: MismatchKind; platformID: number | null; count: number }[] {
    return (this.s.mismatchCounts.all(since) as Row[]).map((r) => ({
      kind: str(r.kind) as MismatchKind,
      platformID: numOrNull(r.platform_id),
      count: num(r.n),
    }));
  }

  eventCounts(since: number): { type: EventType; source: 'webhook' | 'poll'; platformID: number; count: number }[] {
    return (this.s.eventCounts.all({ since }) as Row[]).map((r) => ({
      type: str(r.type) as EventType,
      source: str(r.source) as 'webhook' | 'poll',
      platformID: num(r.platform_id),
      count: num(r.n),
    }));
  }

  receiptCounts(since: number): { command: string; platformID: number; count: number }[] {
    return (this.s.receiptCounts.all(since) as Row[]).map((r) => ({ command: str(r.command), platformID: num(r.platform_id), count: num(r.n) }));
  }

  lateDelays(since: number): { platformID: number | null; lateByMs: number }[] {
    return (this.s.lateDelays.all(since) as Row[]).map((r) => ({ platformID: numOrNull(r.platform_id), lateByMs: num(r.late_by_ms) }));
  }

  topMismatchUsers(since: number, limit: number): { userID: string; count: number }[] {
    return (this.s.topMismatchUsers.all(since, limit) as Row[]).map((r) => ({ userID: str(r.user_id), count: num(r.n) }));
  }

  mismatchesForUser(userID: string, since: number, limit: number): Mismatch[] {
    return (this.s.mismatchesForUser.all(userID, since, limit) as Row[]).map(rowToMismatch);
  }

  eventBuckets(since: number, until: number, bucketMs: number): { bucket: number; source: EventSource; count: number }[] {
    return (this.s.eventBuckets.all({ since, until, bucketMs }) as Row[]).map((r) => ({
      bucket: num(r.b),
      source: str(r.source) as EventSource,
      count: num(r.n),
    }));
  }

  receiptBuckets(since: number, until: number, bucketMs: number): { bucket: number; count: number }[] {
    return (this.s.receiptBuckets.all({ since, until, bucketMs }) as Row[]).map((r) => ({ bucket: num(r.b), count: num(r.n) }));
  }

  mismatchBuckets(since: number, until: number, bucketMs: number): { bucket: number; kind: MismatchKind; count: number }[] {
    return (this.s.mismatchBuckets.all({ since, until, bucketMs }) as Row[]).map((r) => ({
      bucket: num(r.b),
      kind: str(r.kind) as MismatchKind,
      count: num(r.n),
    }));
  }

  pollRunSummary(since: number): PollRunSummary[] {
    return (this.s.pollRunSummary.all(since) as Row[]).map((r) => ({
      kind: str(r.kind) as PollRun['kind'],
      runs: num(r.runs),
      runsWithErrors: num(r.runs_with_errors),
      errors: num(r.errors),
      usersPolled: num(r.users_polled),
      requests: num(r.requests),
      disagreements: num(r.disagreements),
      confirmations: num(r.confirmations),
      corrections: num(r.corrections),
      overBudget: num(r.over_budget),
      lastStartedAt: numOrNull(r.last_started_at),
    }));
  }

  insertPollRun(run: Omit<PollRun, 'id'>): number {
    this.wrote();
    return Number(this.s.insertPollRun.run({ ...run, overBudget: run.overBudget ? 1 : 0 }).lastInsertRowid);
  }

  updatePollRun(id: number, patch: Partial<Omit<PollRun, 'id'>>): void {
    this.wrote();
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    const sets = entries.map(([k]) => `${POLL_RUN_COLUMNS[k as keyof typeof POLL_RUN_COLUMNS]} = ?`).join(', ');
    this.db.prepare(`UPDATE poll_runs SET ${sets} WHERE id = ?`).run(...entries.map(([, v]) => toSql(v)), id);
  }

  recentPollRuns(limit: number, kind?: PollRun['kind']): PollRun[] {
    const rows = kind === undefined ? this.s.recentPollRuns.all(limit) : this.s.recentPollRunsKind.all(kind, limit);
    return (rows as Row[]).map(rowToPollRun);
  }

  insertPollObservation(o: PollObservation): void {
    this.wrote();
    this.s.insertObservation.run(o.userID, o.at, o.runID, o.platforms === null ? null : JSON.stringify(o.platforms), o.purpose);
  }

  observationsForUser(userID: string, since: number, limit: number): PollObservation[] {
    return (this.s.observationsForUser.all(userID, since, limit) as Row[]).map((r) => ({
      userID: str(r.user_id),
      at: num(r.at),
      runID: num(r.run_id),
      platforms: r.platforms === null ? null : (JSON.parse(str(r.platforms)) as Record<string, number>),
      purpose: str(r.purpose) as PollObservation['purpose'],
    }));
  }

  trackUsers(userIDs: readonly string[], source: 'config' | 'webhook' | 'discovery', now: number): number {
    this.wrote();
    let added = 0;
    this.db.transaction(() => {
      for (const id of userIDs) added += this.s.trackUser.run(id, source, now).changes;
    })();
    return added;
  }

  trackedUsersAfter(afterUserID: string, limit: number): string[] {
    return this.s.trackedAfter.all(afterUserID, limit) as string[];
  }

  countTrackedUsers(): number {
    return this.s.countTracked.get() as number;
  }

  countTrackedAmong(userIDs: readonly string[]): number {
    return userIDs.length === 0 ? 0 : (this.s.countTrackedAmong.get(JSON.stringify(userIDs)) as number);
  }

  getSubscriberCursor(name: string): SubscriberCursor | undefined {
    const r = this.s.getSubscriber.get(name) as Row | undefined;
    return r ? rowToSubscriber(r) : undefined;
  }

  putSubscriberCursor(c: SubscriberCursor): void {
    this.wrote();
    this.s.putSubscriber.run(c);
  }

  listSubscriberCursors(): SubscriberCursor[] {
    return (this.s.listSubscribers.all() as Row[]).map(rowToSubscriber);
  }

  insertIncident(i: NewIncident): number {
    this.wrote();
    return Number(this.s.insertIncident.run(i).lastInsertRowid);
  }

  updateIncident(id: number, patch: Partial<Omit<Incident, 'id'>>): void {
    this.wrote();
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    const sets = entries.map(([k]) => `${INCIDENT_COLUMNS[k as keyof typeof INCIDENT_COLUMNS]} = ?`).join(', ');
    this.db.prepare(`UPDATE incidents SET ${sets} WHERE id = ?`).run(...entries.map(([, v]) => toSql(v)), id);
  }

  getIncident(id: number): Incident | undefined {
    const r = this.s.getIncident.get(id) as Row | undefined;
    return r ? rowToIncident(r) : undefined;
  }

  listIncidents(f: IncidentFilter): Incident[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.statuses && f.statuses.length > 0) {
      where.push(`status IN (${f.statuses.map(() => '?').join(',')})`);
      args.push(...f.statuses);
    }
    if (f.since !== undefined) {
      where.push('last_at >= ?');
      args.push(f.since);
    }
    if (f.beforeID !== undefined) {
      where.push('id < ?');
      args.push(f.beforeID);
    }
    const sql = `SELECT * FROM incidents ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, f.limit) as Row[]).map(rowToIncident);
  }

  incidentStatusCounts(): { status: IncidentStatus; count: number }[] {
    return (this.s.incidentStatusCounts.all() as Row[]).map((r) => ({ status: str(r.status) as IncidentStatus, count: num(r.n) }));
  }

  assignMismatches(incidentID: number, mismatchIDs: readonly number[], at: number): number {
    this.wrote();
    return this.db.transaction(() => {
      let assigned = 0;
      let last = 0;
      for (const id of mismatchIDs) {
        if (this.s.assignMismatch.run(incidentID, id).changes === 0) continue;
        assigned++;
        last = Math.max(last, num(this.s.mismatchDetectedAt.get(id)));
      }
      if (assigned > 0) this.s.bumpIncident.run(assigned, last, at, incidentID);
      return assigned;
    })();
  }

  incidentKindCounts(incidentIDs: readonly number[]): IncidentKindCount[] {
    if (incidentIDs.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT incident_id, kind, count(*) AS n, count(DISTINCT user_id) AS users FROM mismatches
         WHERE incident_id IN (SELECT value FROM json_each(?)) GROUP BY incident_id, kind ORDER BY incident_id, kind`,
      )
      .all(JSON.stringify(incidentIDs)) as Row[];
    return rows.map((r) => ({ incidentID: num(r.incident_id), kind: str(r.kind) as MismatchKind, count: num(r.n), users: num(r.users) }));
  }

  incidentKeys(incidentID: number): { userID: string; platformID: number; detectedAt: number }[] {
    return (this.s.incidentKeys.all(incidentID) as Row[]).map((r) => ({ userID: str(r.user_id), platformID: num(r.platform_id), detectedAt: num(r.detected_at) }));
  }

  setIncidentMismatchStatus(incidentID: number, from: readonly MismatchStatus[], to: MismatchStatus, note: string, at: number): number {
    this.wrote();
    return this.s.setIncidentMismatchStatus.run({ incidentID, from: JSON.stringify(from), to, note, at }).changes;
  }

  expireUnreviewed(detectedBefore: number, at: number, note: string): { mismatches: number; incidents: number } {
    this.wrote();
    return this.db.transaction(() => ({
      mismatches: this.s.expireMismatches.run({ before: detectedBefore, at, note }).changes,
      incidents: this.s.expireIncidents.run({ before: detectedBefore, at }).changes,
    }))();
  }

  pruneIncidents(closedBefore: number): number {
    this.wrote();
    return this.s.pruneIncidents.run(closedBefore).changes;
  }

  countMismatches(status: MismatchStatus, since: number): number {
    return num(this.s.countMismatches.get(status, since));
  }

  prune(olderThan: number): PruneResult {
    this.wrote();
    return this.db.transaction(() => {
      const maxSeq = this.s.maxPrunedSeq.get(olderThan) as number | null;
      let events = 0;
      if (maxSeq !== null) {
        events = this.s.pruneEvents.run(maxSeq).changes;
        if (maxSeq > this.prunedThroughSeq()) this.s.setMeta.run('pruned_through_seq', String(maxSeq));
      }
      return {
        events,
        receipts: this.s.pruneReceipts.run(olderThan).changes,
        mismatches: this.s.pruneMismatches.run(olderThan).changes,
        pollRuns: this.s.prunePollRuns.run(olderThan).changes,
        observations: this.s.pruneObservations.run(olderThan).changes,
      };
    })();
  }

  close(): void {
    if (this.closed) return;
    // Writes not yet reported are made durable by WalSync's close like the rest.
    this.reportWrites();
    this.closed = true;
    this.walSync?.close();
    this.checkpointer?.close();
    this.db.close();
  }
}

function toPresenceRow(r: Row): PresenceRow {
  return {
    userID: str(r.user_id),
    platformID: num(r.platform_id),
    online: r.online === 1,
    changedAt: num(r.changed_at),
    lastVerifiedAt: numOrNull(r.last_verified_at),
    pendingOffline: r.pending_offline !== null,
  };
}

function rowToSubscriber(r: Row): SubscriberCursor {
  return {
    name: str(r.name),
    cursor: num(r.cursor),
    state: str(r.state) as SubscriberCursor['state'],
    attempts: num(r.attempts),
    nextAttemptAt: numOrNull(r.next_attempt_at),
    lastError: str(r.last_error),
    updatedAt: num(r.updated_at),
  };
}
