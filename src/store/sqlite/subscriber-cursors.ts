/** Push subscribers' delivery cursors in SQLite. */
import type { SubscriberCursor, SubscriberCursors } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, numOrNull, str } from './rows.js';

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

export function sqliteSubscriberCursors(conn: SqliteConnection): SubscriberCursors {
  const d = conn.db;
  const get = d.prepare('SELECT * FROM subscribers WHERE name = ?');
  const put = d.prepare(
    `INSERT INTO subscribers (name, cursor, state, attempts, next_attempt_at, last_error, updated_at) VALUES (@name, @cursor, @state, @attempts, @nextAttemptAt, @lastError, @updatedAt)
     ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, state = excluded.state, attempts = excluded.attempts,
       next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error, updated_at = excluded.updated_at`,
  );
  const list = d.prepare('SELECT * FROM subscribers ORDER BY name');

  return {
    getSubscriberCursor(name: string): SubscriberCursor | undefined {
      const r = get.get(name) as Row | undefined;
      return r ? rowToSubscriber(r) : undefined;
    },
    putSubscriberCursor(c: SubscriberCursor): void {
      conn.wrote();
      put.run(c);
    },
    listSubscriberCursors(): SubscriberCursor[] {
      return (list.all() as Row[]).map(rowToSubscriber);
    },
  };
}
