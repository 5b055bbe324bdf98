/**
 * The event log in SQLite. `seq` is `INTEGER PRIMARY KEY AUTOINCREMENT`, so retention never makes SQLite hand out an
 * old value again. Readers stop at the durable head (`visibleSeq`).
 */
import type { NewPresenceEvent, PresenceEvent } from '../../domain.js';
import type { EventFilter, EventLog } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, numOrNull, rowToEvent, str } from './rows.js';

/** A filtered scan examines at most this many rows per call; the caller resumes from `scannedTo`. */
const MAX_SCANNED_ROWS = 50_000;

export function sqliteEventLog(conn: SqliteConnection): EventLog {
  const d = conn.db;
  const append = d.prepare(
    `INSERT INTO events (type, user_id, platform_id, platform, user_online, user_version, source, occurred_at, occurred_after, occurred_before, recorded_at, mismatch_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const read = d.prepare('SELECT * FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?');
  const forUser = d.prepare('SELECT * FROM events WHERE user_id = ? AND recorded_at >= ? ORDER BY seq LIMIT ?');
  const between = d.prepare('SELECT * FROM events WHERE recorded_at >= ? AND recorded_at < ? ORDER BY recorded_at, seq LIMIT ?');
  const oldest = d.prepare('SELECT * FROM events ORDER BY seq LIMIT 1');
  const lastRecordedBy = d.prepare('SELECT seq FROM events WHERE recorded_at <= ? ORDER BY recorded_at DESC, seq DESC LIMIT 1').pluck();
  const lastOfKeyAtOrBefore = d.prepare('SELECT * FROM events WHERE user_id = ? AND seq <= ? AND platform_id = ? ORDER BY seq DESC LIMIT 1');
  const firstOfKeyAfter = d.prepare('SELECT * FROM events WHERE user_id = ? AND seq > ? AND platform_id = ? ORDER BY seq LIMIT 1');

  const readEvents = (afterSeq: number, limit: number): PresenceEvent[] =>
    (read.all(afterSeq, conn.visibleSeq(), limit) as Row[]).map(rowToEvent);

  return {
    appendEvent(e: NewPresenceEvent): number {
      conn.wrote();
      const res = append.run(
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
    },
    readEvents,
    scanEvents(afterSeq: number, limit: number, filter: EventFilter): { events: PresenceEvent[]; scannedTo: number } {
      const users = filter.users && filter.users.length > 0 ? new Set(filter.users) : undefined;
      const types = filter.types && filter.types.length > 0 ? new Set<string>(filter.types) : undefined;
      if (!users && !types) {
        const events = readEvents(afterSeq, limit);
        return { events, scannedTo: events.length > 0 ? events[events.length - 1]!.seq : afterSeq };
      }
      const out: PresenceEvent[] = [];
      const through = conn.visibleSeq();
      let cursor = afterSeq;
      const chunk = Math.max(limit, 1000);
      for (let scanned = 0; out.length < limit && scanned < MAX_SCANNED_ROWS; ) {
        const rows = read.all(cursor, through, chunk) as Row[];
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
    },
    eventsForUser(userID: string, since: number, limit: number): PresenceEvent[] {
      return (forUser.all(userID, since, limit) as Row[]).map(rowToEvent);
    },
    eventsBetween(since: number, until: number, limit: number): PresenceEvent[] {
      return (between.all(since, until, limit) as Row[]).map(rowToEvent);
    },
    headSeq(): number {
      return conn.visibleSeq();
    },
    prunedThroughSeq(): number {
      const v = conn.getMeta('pruned_through_seq');
      return v === undefined ? 0 : Number(v);
    },
    oldestEvent(): PresenceEvent | undefined {
      const r = oldest.get() as Row | undefined;
      return r ? rowToEvent(r) : undefined;
    },
    lastSeqRecordedBy(time: number): number | null {
      return numOrNull(lastRecordedBy.get(time));
    },
    lastKeyEventAtOrBefore(userID: string, platformID: number, seq: number): PresenceEvent | undefined {
      const r = lastOfKeyAtOrBefore.get(userID, seq, platformID) as Row | undefined;
      return r ? rowToEvent(r) : undefined;
    },
    firstKeyEventAfter(userID: string, platformID: number, seq: number): PresenceEvent | undefined {
      const r = firstOfKeyAfter.get(userID, seq, platformID) as Row | undefined;
      return r ? rowToEvent(r) : undefined;
    },
  };
}
