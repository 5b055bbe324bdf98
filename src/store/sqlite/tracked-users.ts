/** Tracked users in SQLite (the `users` table, shared with the per-user version counter of presence.ts). */
import type { TrackedUsers } from '../store.js';
import type { SqliteConnection } from './connection.js';

export function sqliteTrackedUsers(conn: SqliteConnection): TrackedUsers {
  const d = conn.db;
  const track = d.prepare('INSERT INTO users (user_id, source, first_seen) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING');
  const after = d.prepare('SELECT user_id FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?').pluck();
  const countAmong = d.prepare('SELECT count(*) FROM users WHERE user_id IN (SELECT value FROM json_each(?))').pluck();
  const trackAll = d.transaction((userIDs: readonly string[], source: string, now: number) => {
    let added = 0;
    for (const id of userIDs) added += track.run(id, source, now).changes;
    conn.usersAdded(added);
    return added;
  });

  return {
    trackUsers(userIDs: readonly string[], source: 'config' | 'webhook' | 'discovery', now: number): number {
      conn.wrote();
      return trackAll(userIDs, source, now);
    },
    trackedUsersAfter(afterUserID: string, limit: number): string[] {
      return after.all(afterUserID, limit) as string[];
    },
    countTrackedUsers(): number {
      return conn.countUsers();
    },
    countTrackedAmong(userIDs: readonly string[]): number {
      return userIDs.length === 0 ? 0 : (countAmong.get(JSON.stringify(userIDs)) as number);
    },
  };
}
