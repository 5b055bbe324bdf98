/** Incidents in SQLite, and the incident side of mismatches (assignment, bulk status, expiry). */
import type { MismatchKind, MismatchStatus } from '../../domain.js';
import type { Incident, IncidentCause, IncidentFilter, IncidentKindCount, IncidentStatus, NewIncident } from '../../incidents/incident.js';
import type { IncidentStore } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, numOrNull, str, updateRow, whereBuilder } from './rows.js';

const COLUMNS: Record<keyof Omit<Incident, 'id'>, string> = {
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

export function sqliteIncidents(conn: SqliteConnection): IncidentStore {
  const d = conn.db;
  const insert = d.prepare(
    `INSERT INTO incidents (cause, kind, platform_id, platform, first_at, last_at, mismatches, status, closed_reason, closed_at, acknowledged_at, note, updated_at)
     VALUES (@cause, @kind, @platformID, @platform, @firstAt, @lastAt, @mismatches, @status, @closedReason, @closedAt, @acknowledgedAt, @note, @updatedAt)`,
  );
  const get = d.prepare('SELECT * FROM incidents WHERE id = ?');
  const statusCounts = d.prepare('SELECT status, count(*) AS n FROM incidents GROUP BY status');
  const assign = d.prepare('UPDATE mismatches SET incident_id = ? WHERE id = ? AND incident_id IS NULL');
  const detectedAt = d.prepare('SELECT detected_at FROM mismatches WHERE id = ?').pluck();
  const bump = d.prepare('UPDATE incidents SET mismatches = mismatches + ?, last_at = max(last_at, ?), updated_at = ? WHERE id = ?');
  const kindCounts = d.prepare(
    `SELECT incident_id, kind, count(*) AS n, count(DISTINCT user_id) AS users FROM mismatches
     WHERE incident_id IN (SELECT value FROM json_each(?)) GROUP BY incident_id, kind ORDER BY incident_id, kind`,
  );
  const keys = d.prepare(
    `SELECT user_id, platform_id, max(detected_at) AS detected_at FROM mismatches
     WHERE incident_id = ? AND platform_id IS NOT NULL AND kind IN ('missed_online', 'missed_offline', 'late_webhook', 'initial_sync')
     GROUP BY user_id, platform_id`,
  );
  const setMismatchStatus = d.prepare(
    `UPDATE mismatches SET status = @to, updated_at = @at, note = CASE WHEN note = '' THEN @note ELSE note || '; ' || @note END
     WHERE incident_id = @incidentID AND status IN (SELECT value FROM json_each(@from))`,
  );
  const expireMismatches = d.prepare(
    `UPDATE mismatches SET status = 'resolved', updated_at = @at, note = CASE WHEN note = '' THEN @note ELSE note || '; ' || @note END
     WHERE status IN ('open', 'acknowledged') AND detected_at < @before`,
  );
  const expireIncidents = d.prepare(
    `UPDATE incidents SET status = 'closed', closed_reason = 'expired', closed_at = @at, updated_at = @at
     WHERE status IN ('open', 'acknowledged') AND last_at < @before`,
  );
  const prune = d.prepare("DELETE FROM incidents WHERE status = 'closed' AND closed_at < ?");

  const assignAll = d.transaction((incidentID: number, mismatchIDs: readonly number[], at: number): number => {
    let assigned = 0;
    let last = 0;
    for (const id of mismatchIDs) {
      if (assign.run(incidentID, id).changes === 0) continue;
      assigned++;
      last = Math.max(last, num(detectedAt.get(id)));
    }
    if (assigned > 0) bump.run(assigned, last, at, incidentID);
    return assigned;
  });
  const expireAll = d.transaction((before: number, at: number, note: string) => ({
    mismatches: expireMismatches.run({ before, at, note }).changes,
    incidents: expireIncidents.run({ before, at }).changes,
  }));

  return {
    insertIncident(i: NewIncident): number {
      conn.wrote();
      return Number(insert.run(i).lastInsertRowid);
    },
    updateIncident(id: number, patch: Partial<Omit<Incident, 'id'>>): void {
      conn.wrote();
      updateRow(d, 'incidents', COLUMNS, id, patch);
    },
    getIncident(id: number): Incident | undefined {
      const r = get.get(id) as Row | undefined;
      return r ? rowToIncident(r) : undefined;
    },
    listIncidents(f: IncidentFilter): Incident[] {
      const builder = whereBuilder();
      builder.anyOf('status', f.statuses);
      builder.compare('last_at >= ?', f.since);
      builder.compare('id < ?', f.beforeID);
      const where = builder.build();
      return (d.prepare(`SELECT * FROM incidents ${where.sql} ORDER BY id DESC LIMIT ?`).all(...where.args, f.limit) as Row[]).map(rowToIncident);
    },
    incidentStatusCounts(): { status: IncidentStatus; count: number }[] {
      return (statusCounts.all() as Row[]).map((r) => ({ status: str(r.status) as IncidentStatus, count: num(r.n) }));
    },
    assignMismatches(incidentID: number, mismatchIDs: readonly number[], at: number): number {
      conn.wrote();
      return assignAll(incidentID, mismatchIDs, at);
    },
    incidentKindCounts(incidentIDs: readonly number[]): IncidentKindCount[] {
      if (incidentIDs.length === 0) return [];
      return (kindCounts.all(JSON.stringify(incidentIDs)) as Row[]).map((r) => ({
        incidentID: num(r.incident_id),
        kind: str(r.kind) as MismatchKind,
        count: num(r.n),
        users: num(r.users),
      }));
    },
    incidentKeys(incidentID: number): { userID: string; platformID: number; detectedAt: number }[] {
      return (keys.all(incidentID) as Row[]).map((r) => ({ userID: str(r.user_id), platformID: num(r.platform_id), detectedAt: num(r.detected_at) }));
    },
    setIncidentMismatchStatus(incidentID: number, from: readonly MismatchStatus[], to: MismatchStatus, note: string, at: number): number {
      conn.wrote();
      return setMismatchStatus.run({ incidentID, from: JSON.stringify(from), to, note, at }).changes;
    },
    expireUnreviewed(detectedBefore: number, at: number, note: string): { mismatches: number; incidents: number } {
      conn.wrote();
      return expireAll(detectedBefore, at, note);
    },
    pruneIncidents(closedBefore: number): number {
      conn.wrote();
      return prune.run(closedBefore).changes;
    },
  };
}
