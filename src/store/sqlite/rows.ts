/** Row conversion shared by the SQLite modules: column values in, domain values out. */
import type Database from 'better-sqlite3';
import type { EventType, Mismatch, MismatchKind, PresenceEvent } from '../../domain.js';

export type Row = Record<string, unknown>;

export const num = (v: unknown): number => v as number;
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : (v as number));
export const str = (v: unknown): string => v as string;

/** A domain value as SQLite stores it: booleans as 0/1, arrays (evidence) as JSON. */
function toSql(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (Array.isArray(v)) return JSON.stringify(v);
  return v;
}

/**
 * Updates the given fields of one row by id; `columns` maps each field to its column. Fields set to undefined are
 * left as they are.
 */
export function updateRow<T extends object>(db: Database.Database, table: string, columns: Record<keyof T, string>, id: number, patch: Partial<T>): void {
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return;
  const sets = entries.map(([k]) => `${columns[k as keyof T]} = ?`).join(', ');
  db.prepare(`UPDATE ${table} SET ${sets} WHERE id = ?`).run(...entries.map(([, v]) => toSql(v)), id);
}

export function rowToEvent(r: Row): PresenceEvent {
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

export function rowToMismatch(r: Row): Mismatch {
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

/** Builds the WHERE clause of a filtered list: conditions joined with AND, their arguments in order. */
export function whereBuilder() {
  const conditions: string[] = [];
  const args: unknown[] = [];
  return {
    /** `column IN (…)` when `values` has any. */
    anyOf(column: string, values: readonly unknown[] | undefined): void {
      if (!values || values.length === 0) return;
      conditions.push(`${column} IN (${values.map(() => '?').join(',')})`);
      args.push(...values);
    },
    /** A condition with one `?`, when `value` is defined. */
    compare(condition: string, value: unknown): void {
      if (value === undefined) return;
      conditions.push(condition);
      args.push(value);
    },
    /** A condition without arguments. */
    always(condition: string): void {
      conditions.push(condition);
    },
    build(): { sql: string; args: unknown[] } {
      return { sql: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', args };
    },
  };
}
