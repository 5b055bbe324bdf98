/**
 * Retention in SQLite: deletes events, receipts, reviewed mismatches, poll runs and observations older than a time,
 * and records the highest pruned seq (a cursor below it cannot be resumed). `pruneStep` deletes at most a given
 * number of rows of each table in one transaction, so the retention service can spread a large backlog over many
 * short steps instead of blocking the event loop for seconds (the rollup triggers make each deleted row cost more).
 */
import type { PruneResult, PruneStepResult, Retention } from '../store.js';
import type { SqliteConnection } from './connection.js';

export function sqliteRetention(conn: SqliteConnection): Retention {
  const d = conn.db;
  const maxPrunedSeq = d.prepare('SELECT max(seq) FROM events WHERE recorded_at < ?').pluck();
  const nthOldestSeq = d.prepare('SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET ?').pluck();
  const events = d.prepare('DELETE FROM events WHERE seq <= ?');
  const receipts = d.prepare('DELETE FROM receipts WHERE id IN (SELECT id FROM receipts WHERE received_at < ? ORDER BY received_at LIMIT ?)');
  const mismatches = d.prepare(
    "DELETE FROM mismatches WHERE id IN (SELECT id FROM mismatches WHERE detected_at < ? AND status != 'open' ORDER BY detected_at LIMIT ?)",
  );
  const pollRuns = d.prepare('DELETE FROM poll_runs WHERE id IN (SELECT id FROM poll_runs WHERE started_at < ? ORDER BY started_at LIMIT ?)');
  const observations = d.prepare('DELETE FROM poll_observations WHERE id IN (SELECT id FROM poll_observations WHERE at < ? ORDER BY at LIMIT ?)');

  const step = d.transaction((olderThan: number, maxRows: number): PruneStepResult => {
    let prunedEvents = 0;
    let eventsLeft = false;
    const maxSeq = maxPrunedSeq.get(olderThan) as number | null;
    if (maxSeq !== null) {
      // The oldest `maxRows` events at most: up to the maxRows-th oldest seq, when that is below the horizon.
      const nth = nthOldestSeq.get(maxRows - 1) as number | undefined;
      const through = nth !== undefined && nth < maxSeq ? nth : maxSeq;
      eventsLeft = through < maxSeq;
      prunedEvents = events.run(through).changes;
      if (through > Number(conn.getMeta('pruned_through_seq') ?? 0)) conn.setMeta('pruned_through_seq', String(through));
    }
    const result: PruneResult = {
      events: prunedEvents,
      receipts: receipts.run(olderThan, maxRows).changes,
      mismatches: mismatches.run(olderThan, maxRows).changes,
      pollRuns: pollRuns.run(olderThan, maxRows).changes,
      observations: observations.run(olderThan, maxRows).changes,
    };
    const more = eventsLeft || result.receipts === maxRows || result.mismatches === maxRows || result.pollRuns === maxRows || result.observations === maxRows;
    return { ...result, more };
  });

  const pruneStep = (olderThan: number, maxRows: number): PruneStepResult => {
    conn.wrote();
    return step(olderThan, Math.max(1, Math.floor(maxRows)));
  };

  return {
    pruneStep,
    prune(olderThan: number): PruneResult {
      const total: PruneResult = { events: 0, receipts: 0, mismatches: 0, pollRuns: 0, observations: 0 };
      for (;;) {
        const r = pruneStep(olderThan, Number.MAX_SAFE_INTEGER);
        total.events += r.events;
        total.receipts += r.receipts;
        total.mismatches += r.mismatches;
        total.pollRuns += r.pollRuns;
        total.observations += r.observations;
        if (!r.more) return total;
      }
    },
  };
}
