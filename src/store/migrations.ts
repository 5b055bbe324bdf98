/** Schema migrations, applied in order by `PRAGMA user_version`. Never edit a released step; append a new one. */
export const MIGRATIONS: readonly string[] = [
  /* 1 */ `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

  CREATE TABLE receipts (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    command TEXT NOT NULL,
    user_id TEXT NOT NULL,
    platform_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    operation_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    body TEXT NOT NULL,
    effect TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX receipts_dedupe ON receipts (dedupe_key);
  CREATE INDEX receipts_user ON receipts (user_id, received_at);
  CREATE INDEX receipts_time ON receipts (received_at);

  CREATE TABLE presence (
    user_id TEXT NOT NULL,
    platform_id INTEGER NOT NULL,
    online INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    last_webhook_at INTEGER,
    last_online_webhook_at INTEGER,
    last_online_seq INTEGER,
    last_verified_at INTEGER,
    pending_offline TEXT,
    correction TEXT,
    PRIMARY KEY (user_id, platform_id)
  ) WITHOUT ROWID;
  CREATE INDEX presence_online ON presence (online, user_id, platform_id);

  CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    first_seen INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    platform_id INTEGER NOT NULL,
    platform TEXT NOT NULL,
    user_online INTEGER NOT NULL,
    user_version INTEGER NOT NULL,
    source TEXT NOT NULL,
    occurred_at INTEGER,
    occurred_after INTEGER,
    occurred_before INTEGER,
    recorded_at INTEGER NOT NULL,
    mismatch_id INTEGER
  );
  CREATE INDEX events_user ON events (user_id, seq);
  CREATE INDEX events_time ON events (recorded_at);

  CREATE TABLE mismatches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    platform_id INTEGER,
    platform TEXT NOT NULL,
    detected_at INTEGER NOT NULL,
    occurred_after INTEGER,
    occurred_before INTEGER,
    event_seq INTEGER,
    late_by_ms INTEGER,
    late_at INTEGER,
    status TEXT NOT NULL,
    shadow INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    note TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX mismatches_time ON mismatches (detected_at);
  CREATE INDEX mismatches_kind ON mismatches (kind, detected_at);
  CREATE INDEX mismatches_user ON mismatches (user_id, detected_at);
  CREATE INDEX mismatches_status ON mismatches (status, id);
  CREATE INDEX mismatches_late ON mismatches (late_at) WHERE late_at IS NOT NULL;

  CREATE TABLE poll_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    users_polled INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    disagreements INTEGER NOT NULL,
    confirmations INTEGER NOT NULL,
    corrections INTEGER NOT NULL,
    over_budget INTEGER NOT NULL,
    note TEXT NOT NULL
  );
  CREATE INDEX poll_runs_time ON poll_runs (started_at);
  CREATE INDEX poll_runs_kind ON poll_runs (kind, id);

  CREATE TABLE poll_observations (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    platforms TEXT,
    purpose TEXT NOT NULL
  );
  CREATE INDEX poll_observations_user ON poll_observations (user_id, at);
  CREATE INDEX poll_observations_time ON poll_observations (at);

  CREATE TABLE subscribers (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER,
    last_error TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  /* 2: incidents group mismatches; open mismatches point at theirs */ `
  CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cause TEXT NOT NULL,
    kind TEXT NOT NULL,
    platform_id INTEGER,
    platform TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    mismatches INTEGER NOT NULL,
    status TEXT NOT NULL,
    closed_reason TEXT,
    closed_at INTEGER,
    acknowledged_at INTEGER,
    note TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX incidents_status ON incidents (status, id);
  CREATE INDEX incidents_last ON incidents (last_at);
  CREATE INDEX incidents_closed ON incidents (closed_at) WHERE closed_at IS NOT NULL;

  ALTER TABLE mismatches ADD COLUMN incident_id INTEGER;
  CREATE INDEX mismatches_incident ON mismatches (incident_id, id) WHERE incident_id IS NOT NULL;
  CREATE INDEX mismatches_open_time ON mismatches (status, detected_at);
  `,
  /*
   * 3: per-minute counts for the report, webhook health and the charts (docs/architecture.md, durability: every
   * statement indexed and paged). Rows are rolled up after they are written, from the last rolled-up seq/id kept in
   * rollup_marks (src/store/sqlite/rollups.ts), so the webhook path writes nothing more; deletes (retention) and
   * changes of a mismatch's kind, platform or time of rows already rolled up are applied to the counts by triggers.
   * A minute is floor(epoch ms / 60000), an hour floor(epoch ms / 3600000). event_minutes counts events by recorded_at (charts); event_count_minutes by
   * the time webhook health counts them at (the webhook's time for webhook events, never after recorded_at), for the
   * events that are no correction of a mismatch (those are counted from events_corrections), with the latest
   * recorded_at of the minute's rows (where its remainder is found).
   */ `
  CREATE TABLE rollup_marks (name TEXT PRIMARY KEY, through INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO rollup_marks (name, through) VALUES ('events', 0), ('receipts', 0), ('mismatches', 0);

  CREATE TABLE event_minutes (
    minute INTEGER NOT NULL,
    source TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (minute, source)
  ) WITHOUT ROWID;
  CREATE TABLE event_count_minutes (
    minute INTEGER NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    platform_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    last_recorded_at INTEGER NOT NULL,
    PRIMARY KEY (minute, type, source, platform_id)
  ) WITHOUT ROWID;
  CREATE TABLE receipt_minutes (
    minute INTEGER NOT NULL,
    command TEXT NOT NULL,
    platform_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (minute, command, platform_id)
  ) WITHOUT ROWID;
  CREATE TABLE mismatch_minutes (
    minute INTEGER NOT NULL,
    kind TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (minute, kind)
  ) WITHOUT ROWID;
  -- By hour (floor(ms / 3600000)) and platform, for the report's counts. platform_id may be NULL in mismatches:
  -- has_platform = 0 stands for it (platform_id 0 then).
  CREATE TABLE mismatch_hours (
    hour INTEGER NOT NULL,
    kind TEXT NOT NULL,
    has_platform INTEGER NOT NULL,
    platform_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, has_platform, platform_id)
  ) WITHOUT ROWID;
  CREATE INDEX events_corrections ON events (recorded_at) WHERE mismatch_id IS NOT NULL;

  CREATE TRIGGER events_rollup_delete AFTER DELETE ON events
  WHEN old.seq <= (SELECT through FROM rollup_marks WHERE name = 'events')
  BEGIN
    UPDATE event_minutes SET n = n - 1 WHERE minute = old.recorded_at / 60000 AND source = old.source;
    DELETE FROM event_minutes WHERE minute = old.recorded_at / 60000 AND source = old.source AND n <= 0;
    UPDATE event_count_minutes SET n = n - 1
      WHERE old.mismatch_id IS NULL
        AND minute = (CASE WHEN old.source = 'webhook' THEN min(old.recorded_at, coalesce(old.occurred_at, old.recorded_at)) ELSE old.recorded_at END) / 60000
        AND type = old.type AND source = old.source AND platform_id = old.platform_id;
    DELETE FROM event_count_minutes
      WHERE old.mismatch_id IS NULL
        AND minute = (CASE WHEN old.source = 'webhook' THEN min(old.recorded_at, coalesce(old.occurred_at, old.recorded_at)) ELSE old.recorded_at END) / 60000
        AND type = old.type AND source = old.source AND platform_id = old.platform_id AND n <= 0;
  END;

  -- receipts.id has no AUTOINCREMENT: once the highest rows are deleted their ids come back, so the mark is lowered
  -- to the highest id left (every row at or below it was rolled up).
  CREATE TRIGGER receipts_rollup_delete AFTER DELETE ON receipts
  BEGIN
    UPDATE receipt_minutes SET n = n - 1
      WHERE old.id <= (SELECT through FROM rollup_marks WHERE name = 'receipts')
        AND minute = old.received_at / 60000 AND command = old.command AND platform_id = old.platform_id;
    DELETE FROM receipt_minutes WHERE minute = old.received_at / 60000 AND command = old.command AND platform_id = old.platform_id AND n <= 0;
    UPDATE rollup_marks SET through = (SELECT coalesce(max(id), 0) FROM receipts)
      WHERE name = 'receipts' AND old.id >= through AND through > (SELECT coalesce(max(id), 0) FROM receipts);
  END;

  CREATE TRIGGER mismatches_rollup_delete AFTER DELETE ON mismatches
  WHEN old.id <= (SELECT through FROM rollup_marks WHERE name = 'mismatches')
  BEGIN
    UPDATE mismatch_minutes SET n = n - 1 WHERE minute = old.detected_at / 60000 AND kind = old.kind;
    DELETE FROM mismatch_minutes WHERE minute = old.detected_at / 60000 AND kind = old.kind AND n <= 0;
    UPDATE mismatch_hours SET n = n - 1
      WHERE hour = old.detected_at / 3600000 AND kind = old.kind AND has_platform = (old.platform_id IS NOT NULL) AND platform_id = coalesce(old.platform_id, 0);
    DELETE FROM mismatch_hours
      WHERE hour = old.detected_at / 3600000 AND kind = old.kind AND has_platform = (old.platform_id IS NOT NULL) AND platform_id = coalesce(old.platform_id, 0) AND n <= 0;
  END;

  CREATE TRIGGER mismatches_rollup_update AFTER UPDATE OF kind, platform_id, detected_at ON mismatches
  WHEN old.id <= (SELECT through FROM rollup_marks WHERE name = 'mismatches')
    AND (old.kind IS NOT new.kind OR old.platform_id IS NOT new.platform_id OR old.detected_at / 60000 IS NOT new.detected_at / 60000)
  BEGIN
    UPDATE mismatch_minutes SET n = n - 1 WHERE minute = old.detected_at / 60000 AND kind = old.kind;
    DELETE FROM mismatch_minutes WHERE minute = old.detected_at / 60000 AND kind = old.kind AND n <= 0;
    INSERT INTO mismatch_minutes (minute, kind, n) VALUES (new.detected_at / 60000, new.kind, 1)
      ON CONFLICT (minute, kind) DO UPDATE SET n = n + 1;
    UPDATE mismatch_hours SET n = n - 1
      WHERE hour = old.detected_at / 3600000 AND kind = old.kind AND has_platform = (old.platform_id IS NOT NULL) AND platform_id = coalesce(old.platform_id, 0);
    DELETE FROM mismatch_hours
      WHERE hour = old.detected_at / 3600000 AND kind = old.kind AND has_platform = (old.platform_id IS NOT NULL) AND platform_id = coalesce(old.platform_id, 0) AND n <= 0;
    INSERT INTO mismatch_hours (hour, kind, has_platform, platform_id, n)
      VALUES (new.detected_at / 3600000, new.kind, new.platform_id IS NOT NULL, coalesce(new.platform_id, 0), 1)
      ON CONFLICT (hour, kind, has_platform, platform_id) DO UPDATE SET n = n + 1;
  END;

  -- The operators' mismatch list filtered by kind and platform, newest first (GET /v1/mismatches?kind=&platform=).
  CREATE INDEX mismatches_kind_platform ON mismatches (kind, platform_id, id);
  `,
  /*
   * 4: cheaper webhook writes. Receipts are deduplicated through a UNIQUE index on (seq, dedupe_key) instead of a plain
   * index on dedupe_key: the dedupe key holds the seq, so a replay still has the same pair, and seq (the gateway's
   * clock) keeps new entries at the right edge of the index instead of one random leaf page per webhook; the insert
   * itself detects the replay (ON CONFLICT DO NOTHING). The online-keys index holds online keys only (offline keys
   * were never read through it), so a change of state touches one entry instead of moving it between two places.
   */ `
  CREATE UNIQUE INDEX receipts_seq_dedupe ON receipts (seq, dedupe_key);
  DROP INDEX receipts_dedupe;
  CREATE INDEX presence_online_keys ON presence (user_id, platform_id) WHERE online = 1;
  DROP INDEX presence_online;
  `,
  /*
   * 5: mismatches per user (all retained, rolled up with the rest of migration 3), most first, for the report's users
   * with the most mismatches (src/store/sqlite/reports.ts: a user's count in a period is at most its count here).
   */ `
  CREATE TABLE mismatch_users (user_id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX mismatch_users_top ON mismatch_users (n DESC, user_id);
  INSERT INTO mismatch_users (user_id, n)
    SELECT user_id, count(*) FROM mismatches WHERE id <= (SELECT through FROM rollup_marks WHERE name = 'mismatches') GROUP BY user_id;

  CREATE TRIGGER mismatches_users_delete AFTER DELETE ON mismatches
  WHEN old.id <= (SELECT through FROM rollup_marks WHERE name = 'mismatches')
  BEGIN
    UPDATE mismatch_users SET n = n - 1 WHERE user_id = old.user_id;
    DELETE FROM mismatch_users WHERE user_id = old.user_id AND n <= 0;
  END;

  CREATE TRIGGER mismatches_users_update AFTER UPDATE OF user_id ON mismatches
  WHEN old.id <= (SELECT through FROM rollup_marks WHERE name = 'mismatches') AND old.user_id IS NOT new.user_id
  BEGIN
    UPDATE mismatch_users SET n = n - 1 WHERE user_id = old.user_id;
    DELETE FROM mismatch_users WHERE user_id = old.user_id AND n <= 0;
    INSERT INTO mismatch_users (user_id, n) VALUES (new.user_id, 1) ON CONFLICT (user_id) DO UPDATE SET n = n + 1;
  END;
  `,
];
