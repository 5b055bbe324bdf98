/** Mismatch reports in SQLite. */
import type { Mismatch, MismatchStatus, NewMismatch } from '../../domain.js';
import type { MismatchFilter, MismatchStore } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, rowToMismatch, updateRow, whereBuilder } from './rows.js';

const COLUMNS: Record<keyof Omit<Mismatch, 'id'>, string> = {
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

/** The WHERE clause and its arguments for a mismatch filter (the page bound `limit` is not part of it). */
function whereOf(f: MismatchFilter): { sql: string; args: unknown[] } {
  const where = whereBuilder();
  where.anyOf('kind', f.kinds);
  where.anyOf('status', f.statuses);
  where.compare('user_id = ?', f.userID);
  where.compare('platform_id = ?', f.platformID);
  where.compare('detected_at >= ?', f.since);
  where.compare('detected_at < ?', f.until);
  where.compare('id < ?', f.beforeID);
  if (f.incidentID === null) where.always('incident_id IS NULL');
  else where.compare('incident_id = ?', f.incidentID);
  return where.build();
}

export function sqliteMismatches(conn: SqliteConnection): MismatchStore {
  const d = conn.db;
  const insert = d.prepare(
    `INSERT INTO mismatches (kind, user_id, platform_id, platform, detected_at, occurred_after, occurred_before, event_seq, late_by_ms, late_at, status, shadow, evidence, note, updated_at)
     VALUES (@kind, @userID, @platformID, @platform, @detectedAt, @occurredAfter, @occurredBefore, @eventSeq, @lateByMs, @lateAt, @status, @shadow, @evidence, @note, @updatedAt)`,
  );
  const get = d.prepare('SELECT * FROM mismatches WHERE id = ?');
  const forUser = d.prepare('SELECT * FROM mismatches WHERE user_id = ? AND detected_at >= ? ORDER BY detected_at, id LIMIT ?');
  const countWithStatus = d.prepare('SELECT count(*) FROM mismatches WHERE status = ? AND detected_at >= ?').pluck();

  return {
    insertMismatch(m: NewMismatch): number {
      conn.wrote();
      return Number(insert.run({ ...m, shadow: m.shadow ? 1 : 0, evidence: JSON.stringify(m.evidence) }).lastInsertRowid);
    },
    updateMismatch(id: number, patch: Partial<Omit<Mismatch, 'id'>>): void {
      conn.wrote();
      updateRow(d, 'mismatches', COLUMNS, id, patch);
    },
    getMismatch(id: number): Mismatch | undefined {
      const r = get.get(id) as Row | undefined;
      return r ? rowToMismatch(r) : undefined;
    },
    listMismatches(f: MismatchFilter): Mismatch[] {
      const where = whereOf(f);
      return (d.prepare(`SELECT * FROM mismatches ${where.sql} ORDER BY id DESC LIMIT ?`).all(...where.args, f.limit) as Row[]).map(rowToMismatch);
    },
    mismatchesForUser(userID: string, since: number, limit: number): Mismatch[] {
      return (forUser.all(userID, since, limit) as Row[]).map(rowToMismatch);
    },
    countMismatches(status: MismatchStatus, since: number): number {
      return num(countWithStatus.get(status, since));
    },
  };
}
