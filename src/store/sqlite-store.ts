import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { OprError } from '../errors.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { WalSync } from './wal-sync.js';
import { MIGRATIONS } from './migrations.js';
import type { SqliteConnection } from './sqlite/connection.js';
import { sqliteEventLog } from './sqlite/events.js';
import { sqliteIncidents } from './sqlite/incidents.js';
import { sqliteMismatches } from './sqlite/mismatches.js';
import { sqlitePollJournal } from './sqlite/poll-journal.js';
import { sqlitePresence } from './sqlite/presence.js';
import { sqliteReceipts } from './sqlite/receipts.js';
import { sqliteReports } from './sqlite/reports.js';
import { sqliteRetention } from './sqlite/retention.js';
import { sqliteSubscriberCursors } from './sqlite/subscriber-cursors.js';
import { sqliteTrackedUsers } from './sqlite/tracked-users.js';
import type { Store } from './store.js';

export interface SqliteStoreOptions {
  /** File path, or ':memory:' for tests. */
  path: string;
  /** Told once when an fsync fails (OPR_ERR_STORE_SYNC): from then on nothing more becomes durable. */
  onSyncFailure?: (err: OprError) => void;
  /** Told when WAL checkpoints fall back from their worker thread to the event loop (see wal-checkpointer.ts). */
  onCheckpointFailure?: (err: Error) => void;
  /**
   * A further bound on what readers of the log see (beyond the durable head): with the Redis backend, the seqs the
   * shared log already holds (src/cluster/replicated-store.ts).
   */
  visibleLimit?: () => number;
}

/**
 * SQLite backend in WAL mode. Every commit is fsynced before any webhook is acknowledged or any event is shown, so a
 * `seq` once seen is never reissued, even after power loss. The fsync is pipelined (wal-sync.ts): commits use
 * `synchronous=NORMAL` and one background fsync of the WAL at a time covers every commit before it, which gives the
 * guarantee of `synchronous=FULL` without stopping the event loop; readers of the log stop at the durable head.
 * Checkpoints run on a worker thread (wal-checkpointer.ts).
 *
 * This class owns the connection, the migrations and durability; each role of `Store` is implemented next to its SQL
 * in one module under ./sqlite/ and mixed in by the constructor (the interface of the same name declares them).
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type -- the roles are assigned in the constructor
export interface SqliteStore extends Store {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class SqliteStore {
  readonly location: string;
  private readonly db: Database.Database;
  private closed = false;
  private readonly headSeqQuery: Database.Statement;
  private readonly checkpointer: WalCheckpointer | undefined;
  private readonly walSync: WalSync | undefined;
  /** A write happened that no commit has reported to WalSync yet. */
  private unsynced = false;
  /** Rows of `users`, maintained by the writes that add them; counted again after a rollback. */
  private usersCount: number | undefined;

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
    this.headSeqQuery = this.db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck();
    const getMeta = this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
    const setMeta = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    const countUsers = this.db.prepare('SELECT count(*) FROM users').pluck();
    this.getMeta = (key) => getMeta.get(key) as string | undefined;
    this.setMeta = (key, value) => {
      this.wrote();
      setMeta.run(key, value);
    };
    const conn: SqliteConnection = {
      db: this.db,
      wrote: () => this.wrote(),
      visibleSeq: () => {
        const durable = this.walSync ? this.walSync.durableSeq : this.committedSeq();
        return options.visibleLimit ? Math.min(durable, options.visibleLimit()) : durable;
      },
      getMeta: this.getMeta,
      setMeta: this.setMeta,
      countUsers: () => (this.usersCount ??= countUsers.get() as number),
      usersAdded: (rows) => {
        if (this.usersCount !== undefined) this.usersCount += rows;
      },
    };
    Object.assign(
      this,
      sqliteReceipts(conn),
      sqlitePresence(conn),
      sqliteEventLog(conn),
      sqliteMismatches(conn),
      sqliteReports(conn),
      sqlitePollJournal(conn),
      sqliteTrackedUsers(conn),
      sqliteSubscriberCursors(conn),
      sqliteIncidents(conn),
      sqliteRetention(conn),
    );
    if (options.path !== ':memory:') {
      this.checkpointer = new WalCheckpointer(this.db, options.path, { onFailure: options.onCheckpointFailure });
      this.db.pragma('synchronous = NORMAL');
      this.walSync = new WalSync(`${options.path}-wal`, this.committedSeq(), options.onSyncFailure);
    }
  }

  /** A named value of the `meta` table (replication marks; not part of `Store`). */
  readonly getMeta: (key: string) => string | undefined;
  /** Sets a named value of the `meta` table (inside a transaction, it commits with it). */
  readonly setMeta: (key: string, value: string) => void;

  /**
   * Copies the database to `file` with SQLite's online backup, a few pages per turn of the event loop; writes made
   * meanwhile are in the copy (not part of `Store`: the Redis backend's snapshots).
   */
  async backupTo(file: string): Promise<void> {
    await this.db.backup(file);
  }

  transaction<T>(fn: () => T): T {
    let result: T;
    try {
      result = this.db.transaction(fn)();
    } catch (e) {
      this.usersCount = undefined;
      throw e;
    }
    this.checkpointer?.noteCommit();
    this.unsynced = false;
    this.walSync?.committed(this.committedSeq());
    return result;
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
    return this.headSeqQuery.get() as number;
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
