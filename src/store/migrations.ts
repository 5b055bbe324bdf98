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
];
