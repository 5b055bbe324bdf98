/** Presence state in SQLite: one row per key (user, platform) and one per user (version counter). */
import type { KeyState } from '../../domain.js';
import type { PresenceRow, PresenceStateStore } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, numOrNull, str } from './rows.js';

const ROW_COLUMNS = 'user_id, platform_id, online, changed_at, last_verified_at, pending_offline';

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

export function sqlitePresence(conn: SqliteConnection): PresenceStateStore {
  const d = conn.db;
  // Parameters are positional (named ones cost a property lookup each). A key whose `online` is unchanged (renewals,
  // held offlines, verifications) is updated without naming `online`, so SQLite leaves the online index alone: naming
  // the column in SET rewrites its index entry even when the value is the same. Otherwise (a new key or a change of
  // state) the full upsert runs.
  const update = d.prepare(
    `UPDATE presence SET changed_at = ?, last_webhook_at = ?, last_online_webhook_at = ?, last_online_seq = ?, last_verified_at = ?,
       pending_offline = ?, correction = ?
     WHERE user_id = ? AND platform_id = ? AND online = ?`,
  );
  const upsert = d.prepare(
    `INSERT INTO presence (user_id, platform_id, online, changed_at, last_webhook_at, last_online_webhook_at, last_online_seq, last_verified_at, pending_offline, correction)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (user_id, platform_id) DO UPDATE SET online = excluded.online, changed_at = excluded.changed_at,
       last_webhook_at = excluded.last_webhook_at, last_online_webhook_at = excluded.last_online_webhook_at, last_online_seq = excluded.last_online_seq,
       last_verified_at = excluded.last_verified_at, pending_offline = excluded.pending_offline, correction = excluded.correction`,
  );
  const loadKeys = d.prepare('SELECT * FROM presence');
  const updateVersion = d.prepare('UPDATE users SET version = ?, online = ? WHERE user_id = ?');
  const insertVersion = d.prepare(`INSERT INTO users (user_id, version, online, source, first_seen) VALUES (?, ?, ?, 'webhook', ?)`);
  const loadVersions = d.prepare('SELECT user_id, version FROM users WHERE version > 0').raw();
  const pageAll = d.prepare(`SELECT ${ROW_COLUMNS} FROM presence WHERE (user_id, platform_id) > (?, ?) ORDER BY user_id, platform_id LIMIT ?`);
  const pageOnline = d.prepare(
    `SELECT ${ROW_COLUMNS} FROM presence WHERE online = 1 AND (user_id, platform_id) > (?, ?) ORDER BY user_id, platform_id LIMIT ?`,
  );
  const ofUser = d.prepare(`SELECT ${ROW_COLUMNS} FROM presence WHERE user_id = ? ORDER BY platform_id`);
  const userPresence = d.prepare('SELECT online, version FROM users WHERE user_id = ?');
  const used = d.prepare('SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM presence)').pluck();
  const peekFirstStartedAt = (now: number): number => {
    const recorded = conn.getMeta('first_started_at');
    if (recorded !== undefined) return Number(recorded);
    return used.get() !== 1 && conn.getMeta('pruned_through_seq') === undefined ? now : 0;
  };

  return {
    upsertKey(k: KeyState): void {
      conn.wrote();
      const online = k.online ? 1 : 0;
      const pending = k.pendingOffline === null ? null : JSON.stringify(k.pendingOffline);
      const correction = k.correction === null ? null : JSON.stringify(k.correction);
      const changed = update.run(
        k.changedAt,
        k.lastWebhookAt,
        k.lastOnlineWebhookAt,
        k.lastOnlineSeq,
        k.lastVerifiedAt,
        pending,
        correction,
        k.userID,
        k.platformID,
        online,
      ).changes;
      if (changed > 0) return;
      upsert.run(
        k.userID,
        k.platformID,
        online,
        k.changedAt,
        k.lastWebhookAt,
        k.lastOnlineWebhookAt,
        k.lastOnlineSeq,
        k.lastVerifiedAt,
        pending,
        correction,
      );
    },
    loadKeys(): KeyState[] {
      return (loadKeys.all() as Row[]).map(rowToKey);
    },
    setUserVersion(userID: string, version: number, online: boolean, at: number): void {
      conn.wrote();
      if (updateVersion.run(version, online ? 1 : 0, userID).changes > 0) return;
      insertVersion.run(userID, version, online ? 1 : 0, at);
      conn.usersAdded(1);
    },
    loadUserVersions(): Map<string, number> {
      return new Map(loadVersions.all() as [string, number][]);
    },
    presencePage(after: { userID: string; platformID: number } | null, limit: number, onlineOnly: boolean): PresenceRow[] {
      const stmt = onlineOnly ? pageOnline : pageAll;
      return (stmt.all(after?.userID ?? '', after?.platformID ?? -1, limit) as Row[]).map(toPresenceRow);
    },
    presenceOfUser(userID: string): PresenceRow[] {
      return (ofUser.all(userID) as Row[]).map(toPresenceRow);
    },
    userPresence(userID: string): { online: boolean; version: number } | undefined {
      const r = userPresence.get(userID) as Row | undefined;
      return r ? { online: r.online === 1, version: num(r.version) } : undefined;
    },
    firstStartedAt(now: number): number {
      const at = peekFirstStartedAt(now);
      if (conn.getMeta('first_started_at') === undefined) conn.setMeta('first_started_at', String(at));
      return at;
    },
    peekFirstStartedAt,
  };
}
