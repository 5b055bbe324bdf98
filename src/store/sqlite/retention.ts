/**
 * Retention in SQLite: one transaction deletes events, receipts, reviewed mismatches, poll runs and observations
 * older than a time, and records the highest pruned seq (a cursor below it cannot be resumed).
 */
import type { PruneResult, Retention } from '../store.js';
import type { SqliteConnection } from './connection.js';

export function sqliteRetention(conn: SqliteConnection): Retention {
  const d = conn.db;
  const maxPrunedSeq = d.prepare('SELECT max(seq) FROM events WHERE recorded_at < ?').pluck();
  const events = d.prepare('DELETE FROM events WHERE seq <= ?');
  const receipts = d.prepare('DELETE FROM receipts WHERE received_at < ?');
  const mismatches = d.prepare("DELETE FROM mismatches WHERE detected_at < ? AND status != 'open'");
  const pollRuns = d.prepare('DELETE FROM poll_runs WHERE started_at < ?');
  const observations = d.prepare('DELETE FROM poll_observations WHERE at < ?');

  const pruneAll = d.transaction((olderThan: number): PruneResult => {
    const maxSeq = maxPrunedSeq.get(olderThan) as number | null;
    let prunedEvents = 0;
    if (maxSeq !== null) {
      prunedEvents = events.run(maxSeq).changes;
      if (maxSeq > Number(conn.getMeta('pruned_through_seq') ?? 0)) conn.setMeta('pruned_through_seq', String(maxSeq));
    }
    return {
      events: prunedEvents,
      receipts: receipts.run(olderThan).changes,
      mismatches: mismatches.run(olderThan).changes,
      pollRuns: pollRuns.run(olderThan).changes,
      observations: observations.run(olderThan).changes,
    };
  });

  return {
    prune(olderThan: number): PruneResult {
      conn.wrote();
      return pruneAll(olderThan);
    },
  };
}
