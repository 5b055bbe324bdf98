/** What the SQLite role modules share: the open database and the store's bookkeeping of writes. */
import type Database from 'better-sqlite3';

export interface SqliteConnection {
  readonly db: Database.Database;
  /**
   * Call after every write: a WAL checkpoint becomes due, and an fsync covers the write (inside `transaction()` the
   * commit reports it; outside, the next microtask does).
   */
  wrote(): void;
  /** The last seq a reader may see: the durable head (an event is never shown before it is on disk). */
  visibleSeq(): number;
  /** The `meta` table: small named values (pruned_through_seq, first_started_at). */
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  /** Rows of `users` (tracked users), counted once and then kept by the writes that add rows. */
  countUsers(): number;
  /** Call after a write added rows to `users`. */
  usersAdded(rows: number): void;
}
